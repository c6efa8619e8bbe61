// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const c = libc({ flock: { args: ["i32", "i32"], returns: "i32" } });

/** flock(fd, op); throws SysError (EAGAIN/EWOULDBLOCK when LOCK_NB and held). */
export function flock(fd: number, op: number): void {
  check("flock", c().flock(fd, op));
}

/** lock_exnb: a non-blocking exclusive lock. */
export function lockExNb(fd: number): void {
  flock(fd, LOCK_EX | LOCK_NB);
}

/** lock_ex: a blocking exclusive lock (blocks the whole process, as in C). */
export function lockEx(fd: number): void {
  flock(fd, LOCK_EX);
}

export function unlock(fd: number): void {
  flock(fd, LOCK_UN);
}
