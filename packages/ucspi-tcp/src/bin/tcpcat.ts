// SPDX-License-Identifier: MIT
// ucspi-tcp's tcpcat script: print what a TCP server sends.
//   exec tcpclient -RHl0 -- "${1-0}" "${2-17}" sh -c 'exec cat <&6'
import { execEnv } from "@qts/core/bytes";
import { dieUnable, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { CLIENT_OPTS, ours } from "../lib/client.ts";

export const usage = "tcpcat [ host [ port ] ]";

export function main(argv: string[], env: Env): number {
  setProg("tcpcat");
  const tcpclient = ours("tcpclient");
  const args = [tcpclient, ...CLIENT_OPTS, argv[0] ?? "0", argv[1] ?? "17", "sh", "-c", "exec cat <&6"];
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${tcpclient}`, pathexec(tcpclient, args, execEnv(env)));
}
