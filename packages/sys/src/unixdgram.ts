// SPDX-License-Identifier: MIT
import { SysError } from "@qts/core/errstr";
import { check, errno, libc, ptr } from "./ffi.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

const c = libc({
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  connect: { args: ["i32", "ptr", "u32"], returns: "i32" },
  send: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
});

/** struct sockaddr_un for path (at most 107 bytes). */
export function sockaddrUn(path: string): Buffer {
  const p = Buffer.from(path);
  if (p.length > 107) throw new SysError("sockaddr_un", 36 /* ENAMETOOLONG */);
  const sa = Buffer.alloc(110);
  sa.writeUInt16LE(AF_UNIX, 0);
  p.copy(sa, 2);
  return sa;
}

/** A unix datagram socket connected to path (node:dgram has no unix sockets), e.g. /dev/log. */
export class UnixDgram {
  private fd: number;

  constructor(path: string) {
    this.fd = check("socket", c().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const sa = sockaddrUn(path);
    if (c().connect(this.fd, ptr(sa), sa.length) < 0) {
      const e = errno();
      c().close(this.fd);
      throw new SysError("connect", e);
    }
  }

  /** Sends one datagram; throws SysError (e.g. ENOBUFS, ECONNREFUSED when the reader is gone). */
  send(data: Uint8Array | string): void {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    const r = Number(c().send(this.fd, b.length ? ptr(b) : null, b.length, 0));
    if (r < 0) throw new SysError("send", errno());
  }

  close(): void {
    if (this.fd >= 0) c().close(this.fd);
    this.fd = -1;
  }
}
