// SPDX-License-Identifier: MIT
// The listening socket of our privileged helpers (qmail-queued, qmail-authd): bound under a
// temporary name, made 0777, then renamed over the old one, so that a client meets either the
// old (dead) socket or the new one, never a half-made one or one it may not connect to. Who may
// use it is decided per connection by SO_PEERCRED (peerOf) and by the directory's mode.
import { worked } from "@qts/core/rest";
import { chmodSync, renameSync, unlinkSync } from "@qts/sys/fs";
import { peercred } from "@qts/sys/peercred";

export function listenReplacing<T>(path: string, socket: Bun.SocketHandler<T>): ReturnType<typeof Bun.listen<T>> {
  const tmp = `${path}.${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {}
  const open = socket.open;
  const server = Bun.listen<T>({
    unix: tmp,
    socket: {
      ...socket,
      // A client is work: the trim waits for quiet after the last one (core/rest.ts).
      open: (s) => {
        worked();
        return open?.call(socket, s);
      },
    },
  });
  chmodSync(tmp, 0o777);
  renameSync(tmp, path);
  return server;
}

/** The kernel's word on who is at the other end (SO_PEERCRED): uid -1 and pid 0 when it cannot be had. */
export function peerOf(s: Bun.Socket<unknown>): { uid: number; pid: number } {
  try {
    const cred = peercred((s as unknown as { fd: number }).fd);
    return { uid: cred.uid, pid: cred.pid };
  } catch {
    return { uid: -1, pid: 0 };
  }
}
