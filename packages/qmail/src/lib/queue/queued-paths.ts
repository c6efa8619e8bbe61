// SPDX-License-Identifier: MIT
// Where qmail-queued listens and where unprivileged injectors drop mail when
// it is down (qmail-queued(8)). Both live outside queue/ (mode 0750), which
// ordinary users cannot enter.
import { join } from "@qts/core/path";
import { Control } from "../control.ts";

/** <home>/queued: qmailq, 0755. */
export const QUEUED_DIR = "queued";
/** <home>/queued/socket: qmail-queued's unix stream socket, mode 0777. */
export const QUEUED_SOCKET = "queued/socket";
/**
 * <home>/queued/drop: qmailq, 03733 (writable by all, not listable, sticky,
 * setgid qmail: files 0640 readable by qmail-queued only). qmailq owns it, so
 * the sticky bit still lets qmail-queued remove anything in it.
 */
export const QUEUED_DROP = "queued/drop";

/** A drop file's size limit when control/databytes is 0 or missing: 64 MiB. */
export const DROP_DEFAULT_MAX = 64 * 1024 * 1024;
/** Room beside the message for the frame headers and the envelope. */
export const DROP_SLACK = 1024 * 1024;

export function queuedSocket(home: string): string {
  return join(home, QUEUED_SOCKET);
}

export function queuedDrop(home: string): string {
  return join(home, QUEUED_DROP);
}

/**
 * The most bytes a drop file may hold (qmail-queued(8)): control/databytes,
 * qmail-smtpd's limit on a message, or 64 MiB when that is 0 or missing;
 * plus 1 MiB for the framing and the envelope.
 */
export function dropLimit(home: string): number {
  let db = 0;
  try {
    db = new Control(home).int("databytes", 0);
  } catch {}
  return (db > 0 ? db : DROP_DEFAULT_MAX) + DROP_SLACK;
}
