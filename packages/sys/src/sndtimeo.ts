// SPDX-License-Identifier: MIT
// SO_SNDTIMEO: a blocking write(2) on the socket fails with EAGAIN after the
// timeout (qmail's timeoutwrite, for programs that write synchronously).
import { check, libc, ptr } from "./ffi.ts";

const SOL_SOCKET = 1;
const SO_SNDTIMEO = 21;

const c = libc({ setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" } });

/** Sets the send timeout of socket fd (x86_64 struct timeval: two 64-bit fields). Throws ENOTSOCK on a non-socket. */
export function setSendTimeout(fd: number, ms: number): void {
  const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
  check("setsockopt", c().setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, ptr(tv), 16));
}
