// SPDX-License-Identifier: MIT
import { O_CLOEXEC } from "./consts.ts";
import { check, libc, ptr } from "./ffi.ts";

const c = libc({ pipe2: { args: ["ptr", "i32"], returns: "i32" } });

/**
 * pipe2(O_CLOEXEC): [readFd, writeFd]. For handing a child a pipe end in a
 * direction spawn's "pipe" cannot give (qmail-queue reads its envelope on fd 1).
 */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check("pipe2", c().pipe2(ptr(fds), O_CLOEXEC));
  return [fds[0] as number, fds[1] as number];
}
