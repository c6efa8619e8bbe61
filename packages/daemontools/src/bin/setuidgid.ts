// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, dieUnable, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { getpwnam } from "@qts/sys/pwd";

export const usage = "setuidgid account child";

// setuidgid(8): only the account's primary gid, as prot_gid's setgroups(1, &gid).
export function main(argv: string[], env: Env): number {
  setProg("setuidgid");
  const account = argv[0];
  const child = argv.slice(1);
  if (account === undefined || child.length === 0) dieUsage(usage);
  const pw = getpwnam(account);
  if (!pw) die(EXIT_TEMP, "unknown account ", account);
  try {
    (process.setgroups as (g: number[]) => void)([pw.gid]);
    (process.setgid as (g: number) => void)(pw.gid);
  } catch (e) {
    dieUnable(EXIT_TEMP, "setgid", e);
  }
  try {
    (process.setuid as (u: number) => void)(pw.uid);
  } catch (e) {
    dieUnable(EXIT_TEMP, "setuid", e);
  }
  // The child gets the very bytes of its arguments and of the environment: core/bytes.ts.
  const args = execArgs(argv).slice(1);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${child[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
