// SPDX-License-Identifier: MIT
import { check, libc, ptr } from "./ffi.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

const c = libc({ socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" } });

/** socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC): two connected fds. */
export function socketpair(): [number, number] {
  const fds = new Int32Array(2);
  check("socketpair", c().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptr(fds)));
  return [fds[0] as number, fds[1] as number];
}
