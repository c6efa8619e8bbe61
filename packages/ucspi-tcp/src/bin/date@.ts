// SPDX-License-Identifier: MIT
// ucspi-tcp's date@ script: print a host's date and time (its daytime service, port 13).
//   tcpclient -RHl0 -- "${1-0}" 13 sh -c 'exec delcr <&6' | cat -v
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { ours, pipeline } from "../lib/client.ts";
import { catVFilter } from "../lib/crlf.ts";

export const usage = "date@ [ host ]";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("date@");
  return pipeline([argv[0] ?? "0", "13", "sh", "-c", 'exec "$0" <&6', ours("delcr")], undefined, catVFilter(), env);
}
