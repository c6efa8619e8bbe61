// SPDX-License-Identifier: MIT
// ucspi-tcp's finger@ script: ask a host's finger service (port 79) about a user.
//   echo "${2-}" | tcpclient -RHl0 -- "${1-0}" 79 sh -c 'addcr >&7; exec delcr <&6' | cat -v
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { ours, pipeline } from "../lib/client.ts";
import { catVFilter } from "../lib/crlf.ts";

export const usage = "finger@ [ host [ user ] ]";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("finger@");
  const script = '"$0" >&7\nexec "$1" <&6';
  return pipeline(
    [argv[0] ?? "0", "79", "sh", "-c", script, ours("addcr"), ours("delcr")],
    `${argv[1] ?? ""}\n`,
    catVFilter(),
    env,
  );
}
