// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { setsid } from "@qts/sys/setsid";

export const usage = "pgrphack child";

export function main(argv: string[], env: Env): number {
  setProg("pgrphack");
  if (argv.length === 0) dieUsage(usage);
  // Errors ignored, as the original: already a group leader is fine.
  try {
    setsid();
  } catch {}
  const args = execArgs(argv);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${argv[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
