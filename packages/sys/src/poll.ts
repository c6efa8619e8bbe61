// SPDX-License-Identifier: MIT
import { SysError } from "@qts/core/errstr";
import { errno, libc, ptr } from "./ffi.ts";

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

export const POLL_IN = POLLIN;
export const POLL_OUT = 4;

/**
 * poll(2) on several fds at once (DJB's iopause): each entry's events
 * (POLL_IN, POLL_OUT); returns each entry's revents (0 when not ready; any
 * error or hang-up bit counts as ready, as iopause reports it). A signal
 * that interrupts the wait gives all zeros.
 */
export function pollMany(fds: readonly { fd: number; events: number }[], timeoutMs: number): number[] {
  const a = new Int32Array(fds.length * 2);
  fds.forEach((f, i) => {
    a[i * 2] = f.fd;
    a[i * 2 + 1] = f.events;
  });
  const r = c().poll(ptr(a), fds.length, timeoutMs);
  if (r < 0) {
    const e = errno();
    if (e === EINTR) return fds.map(() => 0);
    throw new SysError("poll", e);
  }
  // struct pollfd { int fd; short events; short revents; }: revents is the high half (little-endian).
  return fds.map((_, i) => ((a[i * 2 + 1] as number) >>> 16) & 0xffff);
}
