// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { check, libc } from "./ffi.ts";

const AF_INET = 2;
const AF_INET6 = 10;

const c = libc({
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
});

export interface SockAddr {
  /** Dotted IPv4 (an IPv4-mapped IPv6 address as its IPv4 part), or IPv6 text. */
  ip: string;
  port: number;
}

function parse(b: Uint8Array): SockAddr {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, true);
  const port = v.getUint16(2, false);
  if (family === AF_INET) return { ip: [...b.subarray(4, 8)].join("."), port };
  if (family === AF_INET6) {
    const a = b.subarray(8, 24);
    if (a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff)
      return { ip: [...a.subarray(12, 16)].join("."), port };
    const words: string[] = [];
    for (let i = 0; i < 16; i += 2) words.push(((a[i] as number) * 256 + (a[i + 1] as number)).toString(16));
    return { ip: words.join(":"), port };
  }
  throw Object.assign(new Error("address family not supported"), { code: "EAFNOSUPPORT" });
}

/** getsockname(2) of a socket fd: this end's address. */
export function sockName(fd: number): SockAddr {
  const b = new Uint8Array(128);
  const len = new Uint32Array([b.length]);
  check("getsockname", c().getsockname(fd, ptr(b), ptr(len)));
  return parse(b);
}

/** getpeername(2) of a connected socket fd: the other end's address. */
export function peerName(fd: number): SockAddr {
  const b = new Uint8Array(128);
  const len = new Uint32Array([b.length]);
  check("getpeername", c().getpeername(fd, ptr(b), ptr(len)));
  return parse(b);
}
