// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

const c = libc({ lseek: { args: ["i32", "i64", "i32"], returns: "i64" } });

/** lseek(fd, offset, whence): the new offset; throws SysError (ESPIPE on a pipe). */
export function lseek(fd: number, offset: number, whence: number = SEEK_SET): number {
  return check("lseek", Number(c().lseek(fd, BigInt(offset), whence)));
}

/** seek_begin: rewinds fd to offset 0 (qmail-local's stdin before each delivery). */
export function rewind(fd: number): void {
  lseek(fd, 0, SEEK_SET);
}
