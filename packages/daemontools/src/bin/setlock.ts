// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, setProg } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { dup2 } from "@qts/sys/dup";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { lockEx, lockExNb } from "@qts/sys/flock";
import { constants, openSync } from "@qts/sys/fs";

export const usage = "setlock [ -nNxX ] file program [ arg ... ]";

/** -n and -x, the last of each pair winning. */
function options(argv: string[]): { ndelay: boolean; x: boolean; rest: string[] } {
  let ndelay = false;
  let x = false;
  const { opts, rest } = getopt(argv, "nNxX");
  for (const o of opts) {
    if (o.opt === "n") ndelay = true;
    else if (o.opt === "N") ndelay = false;
    else if (o.opt === "x") x = true;
    else if (o.opt === "X") x = false;
    else dieUsage(usage);
  }
  return { ndelay, x, rest };
}

/** The lowest fd above 2 not in inherited. */
function lowestFree(inherited: number[]): number {
  let low = 3;
  while (inherited.includes(low)) low++;
  return low;
}

export function main(argv: string[], env: Env): number {
  setProg("setlock");
  const { ndelay, x, rest } = options(argv);
  const file = rest[0];
  const child = rest.slice(1);
  if (file === undefined || child.length === 0) dieUsage(usage);
  let fd: number;
  try {
    // open_append: O_NDELAY is part of it, so the child sees the lock fd non-blocking as in C.
    fd = openSync(
      execArgs(argv)[argv.length - rest.length] as string | Buffer,
      constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_CREAT,
      0o600,
    );
  } catch (e) {
    if (x) return EXIT_OK;
    dieUnable(EXIT_TEMP, `open ${file}`, e);
  }
  try {
    if (ndelay) lockExNb(fd);
    else lockEx(fd);
  } catch (e) {
    if (x) return EXIT_OK;
    dieUnable(EXIT_TEMP, `lock ${file}`, e);
  }
  // The child finds the lock on the fd C's open() would have given: the lowest one not inherited.
  // It may be one of Bun's own (epoll), which nothing uses between here and execve.
  const inherited = inheritedFds([fd]);
  const low = lowestFree(inherited);
  if (low !== fd) {
    try {
      dup2(fd, low);
      fd = low;
    } catch {}
  }
  const args = execArgs(argv).slice(argv.length - child.length);
  prepareExec([...inherited, fd]);
  dieUnable(EXIT_TEMP, `run ${child[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
