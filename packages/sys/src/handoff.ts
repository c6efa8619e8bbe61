// SPDX-License-Identifier: MIT
// A connection handed to a program started ahead of it (tcpserver(1),
// "Started ahead"): tcpserver starts the program with a unix socket on fd 0
// and HANDOFF_VAR in its environment; when a connection comes, it sends the
// connection's environment changes and, by SCM_RIGHTS, the socket. The
// program puts the socket on fds 0 and 1, applies the changes, and goes on
// as if tcpserver had just started it for that connection.
//
//   u32 length (little-endian), then one entry per change, each ending in NUL:
//   "NAME=value" to set NAME, "NAME" to remove it (pathexec_env's order)
import { dup2 } from "./dup.ts";
import { closeSync, readSync } from "./fs.ts";
import { recvFds, sendFds } from "./scmrights.ts";

/** In the program's environment while it waits: the descriptor the connection comes on. */
export const HANDOFF_VAR = "QTS_HANDOFF";

/** The most bytes of environment changes one hand-over carries. */
const MAX = 1 << 20;

/** Sends the changes (byte strings) and the connection fd over sock; throws when the program is gone. */
export function handConnection(
  sock: number,
  mods: readonly (readonly [string, string | undefined])[],
  fd: number,
): void {
  const parts: Buffer[] = [Buffer.alloc(4)];
  for (const [k, v] of mods) parts.push(Buffer.from(v === undefined ? `${k}\0` : `${k}=${v}\0`, "latin1"));
  const b = Buffer.concat(parts);
  b.writeUInt32LE(b.length - 4, 0);
  sendFds(sock, b, [fd]);
}

/**
 * Waits on fd for the connection (blocking), puts it on fds 0 and 1 (closing fd), and returns
 * the environment changes as [name, value] byte strings, value undefined to remove; undefined
 * when tcpserver went away or sent something else.
 */
export function takeConnection(fd: number): [string, string | undefined][] | undefined {
  let buf = Buffer.alloc(65536);
  const got = recvFds(fd, buf);
  const fail = () => {
    for (const f of got.fds)
      try {
        closeSync(f);
      } catch {}
    return undefined;
  };
  let have = got.n;
  if (got.fds.length !== 1) return fail();
  const fill = (want: number) => {
    if (want > buf.length) {
      const b = Buffer.alloc(want);
      buf.copy(b, 0, 0, have);
      buf = b;
    }
    while (have < want) {
      const r = readSync(fd, buf, have, want - have, null);
      if (r === 0) return false;
      have += r;
    }
    return true;
  };
  if (!fill(4)) return fail();
  const len = buf.readUInt32LE(0);
  if (len > MAX || !fill(4 + len)) return fail();
  const conn = got.fds[0] as number;
  dup2(conn, 0);
  dup2(conn, 1);
  if (conn > 1) closeSync(conn);
  if (fd > 1)
    try {
      closeSync(fd);
    } catch {}
  const mods: [string, string | undefined][] = [];
  if (len === 0) return mods;
  for (const e of buf.toString("latin1", 4, 4 + len - 1).split("\0")) {
    const eq = e.indexOf("=");
    mods.push(eq < 0 ? [e, undefined] : [e.slice(0, eq), e.slice(eq + 1)]);
  }
  return mods;
}
