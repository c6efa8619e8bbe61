// SPDX-License-Identifier: MIT
// Passing descriptors over a unix socket (SCM_RIGHTS, unix(7)): sendmsg with
// the fds in a control message, recvmsg taking them (close-on-exec) on the
// other side. struct msghdr, iovec and cmsghdr have the same LP64 layout on
// x86-64 and arm64, the two architectures sysno.ts knows.

import { SysError } from "@qts/core/errstr";
import { check, errno, libc, ptr } from "./ffi.ts";
import { closeSync } from "./fs.ts";

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EINTR = 4;
/** The most descriptors one message carries here. */
const MAXFDS = 8;
/** CMSG_SPACE(MAXFDS * 4): a 16-byte cmsghdr and the fds, rounded up to 8. */
const CONTROL = 16 + MAXFDS * 4;

const c = libc({
  sendmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
  recvmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
});

// struct msghdr: name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad): 56 bytes.
function msghdr(iov: BigUint64Array, control: Uint8Array, controllen: number): BigUint64Array {
  const m = new BigUint64Array(7);
  m[2] = BigInt(ptr(iov));
  m[3] = 1n;
  m[4] = controllen ? BigInt(ptr(control)) : 0n;
  m[5] = BigInt(controllen);
  return m;
}

/**
 * Sends data (at least one byte) and fds on the unix socket sock in one sendmsg; the fds stay
 * open here. Blocks until the kernel took all of data; a short send throws (the callers' messages
 * are small, far under a socket buffer).
 */
export function sendFds(sock: number, data: Uint8Array, fds: readonly number[]): void {
  if (fds.length > MAXFDS || data.length === 0) throw new RangeError("sendFds");
  const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.length)]);
  const control = new Uint8Array(CONTROL);
  const len = 16 + fds.length * 4;
  const dv = new DataView(control.buffer);
  dv.setBigUint64(0, BigInt(len), true);
  dv.setInt32(8, SOL_SOCKET, true);
  dv.setInt32(12, SCM_RIGHTS, true);
  for (let i = 0; i < fds.length; i++) dv.setInt32(16 + i * 4, fds[i] as number, true);
  const m = msghdr(iov, control, fds.length ? (len + 7) & ~7 : 0);
  for (;;) {
    const r = Number(c().sendmsg(sock, ptr(m), 0));
    if (r < 0 && errno() === EINTR) continue;
    check("sendmsg", r);
    if (r !== data.length) throw new SysError("sendmsg", 11);
    return;
  }
}

/**
 * One recvmsg into buf (blocking): the byte count (0 at end of file) and the descriptors that came
 * with it, close-on-exec. A control message cut short (more fds than MAXFDS) throws after closing
 * what arrived.
 */
export function recvFds(sock: number, buf: Uint8Array): { n: number; fds: number[] } {
  const iov = new BigUint64Array([BigInt(ptr(buf)), BigInt(buf.length)]);
  const control = new Uint8Array(CONTROL);
  const m = msghdr(iov, control, CONTROL);
  let r: number;
  for (;;) {
    r = Number(c().recvmsg(sock, ptr(m), MSG_CMSG_CLOEXEC));
    if (r < 0 && errno() === EINTR) continue;
    check("recvmsg", r);
    break;
  }
  const fds: number[] = [];
  const dv = new DataView(control.buffer);
  const controllen = Number(m[5]);
  for (let off = 0; off + 16 <= controllen; ) {
    const len = Number(dv.getBigUint64(off, true));
    if (len < 16) break;
    if (dv.getInt32(off + 8, true) === SOL_SOCKET && dv.getInt32(off + 12, true) === SCM_RIGHTS)
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(dv.getInt32(p, true));
    off += (len + 7) & ~7;
  }
  // msg_flags: MSG_CTRUNC (8), more descriptors than fitted.
  if (Number((m[6] ?? 0n) & 0xffffffffn) & 8) {
    for (const fd of fds)
      try {
        closeSync(fd);
      } catch {}
    throw new SysError("recvmsg", 90);
  }
  return { n: r, fds };
}
