// SPDX-License-Identifier: MIT
// Where qmail-queued listens and where unprivileged injectors drop mail when
// it is down (DESIGN.md "The queue and privileges"). Both live outside
// queue/ (mode 0750), which ordinary users cannot enter.
import { join } from "node:path";

/** <home>/queued: qmailq, 0755. */
export const QUEUED_DIR = "queued";
/** <home>/queued/socket: qmail-queued's unix stream socket, mode 0777. */
export const QUEUED_SOCKET = "queued/socket";
/** <home>/queued/drop: qmailq, 03733 (writable by all, not listable, sticky, setgid qmail: files 0640 readable by qmail-queued only). */
export const QUEUED_DROP = "queued/drop";

export function queuedSocket(home: string): string {
  return join(home, QUEUED_SOCKET);
}

export function queuedDrop(home: string): string {
  return join(home, QUEUED_DROP);
}
