// SPDX-License-Identifier: MIT

import { NOFILE_VAR } from "@qts/core/conf";
import { errnoName, SysError } from "@qts/core/errstr";
import { O_NONBLOCK, SIGPIPE, SIGXFSZ } from "./consts.ts";
import { type Arg, type ExecEnv, envEntries, pathCandidates, prepareExecve } from "./execraw.ts";
import { check, libc } from "./ffi.ts";
import { existsSync, readdirSync, readlinkSync } from "./fs.ts";
import { getrlimit, RLIMIT } from "./rlimit.ts";
import { isSelf } from "./self.ts";

const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
// <linux/fcntl.h>: F_LINUX_SPECIFIC_BASE (1024) + 6, the same on every architecture.
const F_DUPFD_CLOEXEC = 1030;
const SIG_SETMASK = 2;

const c = libc({
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  signal: { args: ["i32", "ptr"], returns: "ptr" },
  sigprocmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
});

// The signal mask the process was started with (Bun leaves the main thread's as inherited, and nothing
// of ours blocks a signal): prepareExec puts it back, so a signal the parent blocked stays blocked in the
// next program, as across C's exec. Read on first use, so importing this file binds no libc symbol.
const SIG_BLOCK = 0;
let startMask: BigUint64Array | undefined;

/** The signal mask the process started with, as a raw sigset (for a spawned child, as for prepareExec). */
export function startSigMask(): BigUint64Array {
  if (!startMask) {
    const m = new BigUint64Array(16);
    c().sigprocmask(SIG_BLOCK, null, m);
    startMask = m;
  }
  return startMask;
}

/** Clears FD_CLOEXEC on fd so it survives execve. */
export function inheritFd(fd: number): void {
  const fl = check("fcntl", c().fcntl(fd, F_GETFD, 0));
  if (fl & FD_CLOEXEC) check("fcntl", c().fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC));
}

/** Sets FD_CLOEXEC on fd. */
export function closeOnExec(fd: number): void {
  const fl = check("fcntl", c().fcntl(fd, F_GETFD, 0));
  if (!(fl & FD_CLOEXEC)) check("fcntl", c().fcntl(fd, F_SETFD, fl | FD_CLOEXEC));
}

/**
 * A new fd for the same open file with FD_CLOEXEC already set (fcntl F_DUPFD_CLOEXEC): unlike dup then
 * closeOnExec, no program that another thread starts in between can inherit it.
 */
export function dupCloseOnExec(fd: number): number {
  return check("fcntl", c().fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

export function isCloseOnExec(fd: number): boolean {
  return (check("fcntl", c().fcntl(fd, F_GETFD, 0)) & FD_CLOEXEC) !== 0;
}

export function setBlocking(fd: number, blocking: boolean): void {
  const fl = check("fcntl", c().fcntl(fd, F_GETFL, 0));
  const want = blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
  if (want !== fl) check("fcntl", c().fcntl(fd, F_SETFL, want));
}

export function isNonBlocking(fd: number): boolean {
  return (check("fcntl", c().fcntl(fd, F_GETFL, 0)) & O_NONBLOCK) !== 0;
}

/**
 * Puts the process back in the state a C program expects before execve:
 * fds 0-2 blocking and inheritable (a closed one is left closed), the fds in keep inheritable, SIGPIPE and SIGXFSZ at
 * SIG_DFL (Bun ignores both and execve keeps "ignored"), the signal mask the
 * process started with (empty unless the parent blocked some).
 * Diagnostics are written with writeSync everywhere, so nothing is queued.
 */
export function prepareExec(keep: readonly number[] = []): void {
  for (const fd of [0, 1, 2]) {
    try {
      setBlocking(fd, true);
      inheritFd(fd);
    } catch (e) {
      if (errnoName(e) !== "EBADF") throw e;
    }
  }
  for (const fd of keep) inheritFd(fd);
  c().signal(SIGPIPE, null);
  c().signal(SIGXFSZ, null);
  c().sigprocmask(SIG_SETMASK, startSigMask(), null);
}

/**
 * The fds a chain-loader received from its parent, as C would hand them on:
 * Bun marks inherited fds close-on-exec at start-up, so a program that opens
 * nothing of its own lists every fd >= 3 except Bun's own (anonymous inodes:
 * epoll, eventfd, ...) and those in skip.
 */
export function inheritedFds(skip: readonly number[] = []): number[] {
  const out: number[] = [];
  for (const f of readdirSync("/proc/self/fd")) {
    const fd = Number(f);
    if (fd < 3 || skip.includes(fd)) continue;
    try {
      if (readlinkSync(`/proc/self/fd/${f}`).startsWith("anon_inode:")) continue;
    } catch {
      continue; // the directory's own fd, already closed
    }
    out.push(fd);
  }
  return out.sort((a, b) => a - b);
}

export type { Arg, ExecEnv } from "./execraw.ts";

/**
 * The environment for a program started with posix_spawn rather than
 * execve (fghack's child), as "NAME=value" entries: NOFILE_VAR (core/conf.ts)
 * added when the first PATH candidate that exists is our own binary,
 * removed otherwise, as pathexec does (posixspawn.ts adds core/conf.ts's JSC_OPTIONS).
 */
export function spawnEnv(file: Arg, env: ExecEnv): Buffer[] {
  const { entries, path } = envEntries(env);
  for (const p of pathCandidates(file, path)) {
    if (!existsSync(p)) continue;
    if (isSelf(p)) {
      try {
        entries.push(Buffer.from(`${NOFILE_VAR}=${getrlimit(RLIMIT.NOFILE).soft}`));
      } catch {}
    }
    break;
  }
  return entries;
}

/** True when the program pathexec would run for file (its first PATH candidate that exists) is our own binary. */
export function runsSelf(file: Arg, env: ExecEnv): boolean {
  const { path } = envEntries(env);
  for (const p of pathCandidates(file, path)) if (existsSync(p)) return isSelf(p);
  return false;
}

/**
 * DJB's pathexec_run: execve file with argv and env; a name without "/" is
 * searched in env.PATH (default "/bin:/usr/bin", an empty entry meaning "."),
 * skipping ENOENT and remembering EACCES/EPERM/EISDIR. Returns only on
 * failure, with the error to report. Call prepareExec first. When the file
 * resolves to our own multicall binary, env gets NOFILE_VAR (the soft
 * RLIMIT_NOFILE now in force) for boot.ts to restore; otherwise it is removed.
 * Strings are text (UTF-8); Uint8Arrays and entry lists go out byte for byte.
 */
export function pathexec(file: Arg, argv: readonly Arg[], env: ExecEnv): unknown {
  return new SysError("execve", prepareExecve(file, argv, env)());
}
