// SPDX-License-Identifier: MIT
import { check, libc, ptr } from "./ffi.ts";

const c = libc({
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
});

export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const SO_REUSEADDR = 2;

/** setsockopt with an int value; with value undefined, a NULL option of length 0 (as ucspi-tcp's IP-options kill). */
export function setsockoptInt(fd: number, level: number, name: number, value: number | undefined): void {
  if (value === undefined) {
    check("setsockopt", c().setsockopt(fd, level, name, null, 0));
    return;
  }
  const v = new Int32Array([value]);
  check("setsockopt", c().setsockopt(fd, level, name, ptr(v), 4));
}

export function getsockoptInt(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  check("getsockopt", c().getsockopt(fd, level, name, ptr(v), ptr(len)));
  return v[0] as number;
}
