// SPDX-License-Identifier: MIT
// ucspi-tcp's mconnect script: talk to an SMTP server from the terminal.
//   exec tcpclient -RHl0 -- "${1-0}" "${2-25}" mconnect-io
import { execEnv } from "@qts/core/bytes";
import { dieUnable, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { CLIENT_OPTS, ours } from "../lib/client.ts";

export const usage = "mconnect [ host [ port ] ]";

export function main(argv: string[], env: Env): number {
  setProg("mconnect");
  const tcpclient = ours("tcpclient");
  const args = [tcpclient, ...CLIENT_OPTS, argv[0] ?? "0", argv[1] ?? "25", ours("mconnect-io")];
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${tcpclient}`, pathexec(tcpclient, args, execEnv(env)));
}
