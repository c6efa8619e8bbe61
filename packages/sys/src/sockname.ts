// SPDX-License-Identifier: MIT
// getsockname/getpeername with the raw address bytes and the IPv6 scope id, which node:net does not
// report; if_nametoindex/if_indextoname for tcpserver's and tcpclient's -I (ucspi-tcp-ipv6).
import { check, cstr, libc, ptr } from "./ffi.ts";

const c = libc({
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  if_nametoindex: { args: ["ptr"], returns: "u32" },
  if_indextoname: { args: ["u32", "ptr"], returns: "ptr" },
});

const AF_INET = 2;
const AF_INET6 = 10;

export interface SockAddr {
  /** 4 bytes for AF_INET, 16 for AF_INET6. */
  ip: Uint8Array;
  port: number;
  /** sin6_scope_id (0 for AF_INET). */
  scope: number;
}

function decode(b: Buffer): SockAddr {
  const family = b.readUInt16LE(0);
  const port = b.readUInt16BE(2);
  if (family === AF_INET) return { ip: new Uint8Array(b.subarray(4, 8)), port, scope: 0 };
  if (family === AF_INET6) return { ip: new Uint8Array(b.subarray(8, 24)), port, scope: b.readUInt32LE(24) };
  throw Object.assign(new Error("EAFNOSUPPORT"), { code: "EAFNOSUPPORT" });
}

/** getsockname(fd): the local end of a socket. */
export function sockName(fd: number): SockAddr {
  const b = Buffer.alloc(128);
  const len = new Uint32Array([128]);
  check("getsockname", c().getsockname(fd, ptr(b), ptr(len)));
  return decode(b);
}

/** getpeername(fd): the remote end of a connected socket. */
export function peerName(fd: number): SockAddr {
  const b = Buffer.alloc(128);
  const len = new Uint32Array([128]);
  check("getpeername", c().getpeername(fd, ptr(b), ptr(len)));
  return decode(b);
}

/** if_nametoindex(name): 0 when there is no such interface. */
export function ifIndex(name: string): number {
  return c().if_nametoindex(ptr(cstr(name)));
}

/** if_indextoname(index): undefined when there is no such interface. */
export function ifName(index: number): string | undefined {
  const b = Buffer.alloc(64);
  if (!c().if_indextoname(index, ptr(b))) return undefined;
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString("latin1");
}
