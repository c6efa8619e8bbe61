// SPDX-License-Identifier: MIT
// argv0.c: run program with argument 0 set to realname.
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";

export const usage = "argv0 realname program [ arg ... ]";

export function main(argv: string[], env: Env): number {
  setProg("argv0");
  if (argv.length < 2) dieUsage(usage);
  // argv[0] is the file to run; argv[1] and the rest become its argument list.
  const args = execArgs(argv);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${argv[0]}`, pathexec(args[0] as string | Buffer, args.slice(1), execEnv(env)));
}
