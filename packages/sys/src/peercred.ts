// SPDX-License-Identifier: MIT
import { check, libc, ptr } from "./ffi.ts";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

const c = libc({ getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" } });

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The kernel's word on who is at the other end of a connected unix socket fd. */
export function peercred(fd: number): PeerCred {
  const cred = new Int32Array(3);
  const len = new Uint32Array([12]);
  check("getsockopt", c().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(cred), ptr(len)));
  const u = new Uint32Array(cred.buffer);
  return { pid: cred[0] as number, uid: u[1] as number, gid: u[2] as number };
}
