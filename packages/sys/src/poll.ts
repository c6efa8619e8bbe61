// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { SysError } from "@qts/core/errstr";
import { errno, libc } from "./ffi.ts";

const POLLIN = 1;
const EINTR = 4;

const c = libc({ poll: { args: ["ptr", "u64", "i32"], returns: "i32" } });

const pfd = new Int32Array(2);

/**
 * Waits until fd is readable (or at EOF / in error: a read will not block),
 * for at most timeoutMs (-1: forever). Returns true when readable, false on
 * timeout or when a signal interrupted the wait (so its handler can run).
 */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  pfd[0] = fd;
  pfd[1] = POLLIN;
  const r = c().poll(ptr(pfd), 1, timeoutMs);
  if (r < 0) {
    const e = errno();
    if (e === EINTR) return false;
    throw new SysError("poll", e);
  }
  return r > 0;
}

/**
 * Waits until one of fds is readable (or at EOF / in error), for at most timeoutMs (-1: forever).
 * Returns the fds that are, [] on timeout or when a signal interrupted the wait.
 */
export function waitAnyReadable(fds: readonly number[], timeoutMs: number): number[] {
  const set = new Int32Array(fds.length * 2);
  fds.forEach((fd, i) => {
    set[i * 2] = fd;
    set[i * 2 + 1] = POLLIN;
  });
  const r = c().poll(ptr(set), fds.length, timeoutMs);
  if (r < 0) {
    const e = errno();
    if (e === EINTR) return [];
    throw new SysError("poll", e);
  }
  // revents is the high half of each pollfd's second word.
  return fds.filter((_fd, i) => (set[i * 2 + 1] as number) >>> 16 !== 0);
}
