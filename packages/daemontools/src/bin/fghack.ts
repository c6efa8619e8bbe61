// SPDX-License-Identifier: MIT
import { bytesOf, envBytes, rawArgs, rawEnv } from "@qts/core/bytes";
import { die, dieUnable, dieUsage, setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { inheritedFds, inheritFd, spawnEnv, startSigMask } from "@qts/sys/exec";
import { pathCandidates } from "@qts/sys/execraw";
import { closeSync, readSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { spawn } from "@qts/sys/posixspawn";
import { getrlimit, RLIMIT } from "@qts/sys/rlimit";
import { exitCode, termSig, waitStatus } from "@qts/sys/waitpid";

export const usage = "fghack child";

/** DJB's pathexec_run as a posix_spawn: PATH search, skipping ENOENT, remembering EACCES/EPERM/EISDIR. */
function start(args: Buffer[], env: Buffer[], path: Buffer | undefined, dup2: [number, number][]): number {
  let saved: unknown;
  for (const p of pathCandidates(args[0] as Buffer, path)) {
    try {
      return spawn(p, args, env, { dup2, sigDefault: CHILD_SIGDEFAULT, sigMask: startSigMask() });
    } catch (e) {
      const code = errnoName(e);
      if (code === "ENOENT") continue;
      saved = e;
      if (code !== "EACCES" && code !== "EPERM" && code !== "EISDIR") break;
    }
  }
  throw saved ?? Object.assign(new Error("ENOENT"), { code: "ENOENT" });
}

// fghack.c: the child holds 31 copies of the pipe's write end (the pipe and its 30
// dups), so the read below ends only when every descendant that kept them has gone.
export function main(argv: string[], env: Env): number {
  setProg("fghack");
  if (argv.length === 0) dieUsage(usage);
  let fds: [number, number];
  try {
    fds = pipe();
  } catch (e) {
    dieUnable(EXIT_TEMP, "create pipe", e);
  }
  const [r, w] = fds;
  // The copies take the 31 lowest fd numbers the child has free, as C's dup() gives them; fds we
  // inherited keep their numbers (Bun made them close-on-exec: inheritable again, as C's child gets them).
  const inherited = new Set(inheritedFds([r, w]));
  for (const fd of inherited) inheritFd(fd);
  const dup2: [number, number][] = [];
  // C's dup() fails silently past the soft RLIMIT_NOFILE: fewer copies then.
  const max = Number(getrlimit(RLIMIT.NOFILE).soft);
  for (let fd = 3, n = 0; n < 31 && fd < max; fd++) {
    if (inherited.has(fd)) continue;
    dup2.push([fd, w]);
    n++;
  }
  // The child's arguments and environment are the bytes fghack was given: core/bytes.ts.
  const args = rawArgs(argv).map(bytesOf);
  const e = rawEnv(env);
  const path = e.PATH === undefined ? undefined : bytesOf(e.PATH);
  let pid: number;
  try {
    pid = start(args, spawnEnv(args[0] as Buffer, envBytes(e)), path, dup2);
  } catch (err) {
    dieUnable(EXIT_TEMP, `run ${argv[0]}`, err);
  }
  closeSync(w);
  const b = Buffer.alloc(1);
  for (;;) {
    try {
      if (readSync(r, b, 0, 1, null) === 1) continue;
    } catch (err) {
      if (errnoName(err) === "EINTR" || errnoName(err) === "EAGAIN") continue;
    }
    break;
  }
  const st = waitStatus(pid);
  if (termSig(st) !== 0) die(EXIT_TEMP, "child crashed");
  return exitCode(st);
}
