// SPDX-License-Identifier: MIT
import { envBytes, execArgs, rawEnv, textIsExact } from "@qts/core/bytes";
import { die, dieUnable, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { envPlus } from "@qts/daemontools/lib/pathexecenv";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { getpwnam } from "@qts/sys/pwd";

export const usage = "envuidgid account child";

// envuidgid(8): GID then UID in the environment, uid unchanged.
export function main(argv: string[], env: Env): number {
  setProg("envuidgid");
  const account = argv[0];
  const child = argv.slice(1);
  if (account === undefined || child.length === 0) dieUsage(usage);
  const pw = getpwnam(account);
  if (!pw) die(EXIT_TEMP, "unknown account ", account);
  // Byte-exact (core/bytes.ts): the text itself when that is exact, else byte strings.
  const exact = textIsExact();
  const e = envPlus(exact ? env : rawEnv(env), [
    ["GID", String(pw.gid)],
    ["UID", String(pw.uid)],
  ]);
  const args = execArgs(argv).slice(1);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${child[0]}`, pathexec(args[0] as string | Buffer, args, exact ? e : envBytes(e)));
}
