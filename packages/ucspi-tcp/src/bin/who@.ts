// SPDX-License-Identifier: MIT
// ucspi-tcp's who@ script: print the users logged in on a host (its systat service, port 11).
//   tcpclient -RHl0 -- "${1-0}" 11 sh -c 'exec delcr <&6' | cat -v
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { ours, pipeline } from "../lib/client.ts";
import { catVFilter } from "../lib/crlf.ts";

export const usage = "who@ [ host ]";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("who@");
  return pipeline([argv[0] ?? "0", "11", "sh", "-c", 'exec "$0" <&6', ours("delcr")], undefined, catVFilter(), env);
}
