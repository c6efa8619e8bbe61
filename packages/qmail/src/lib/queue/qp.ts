// SPDX-License-Identifier: MIT
// The "qp" of a message: the number qmail-smtpd's `250 ok TIME qp N` reply,
// the Received line `(qmail N invoked ...)` and qmail-send's `info msg` line
// show. In C it is the pid of the message's own qmail-queue process, so it
// differs per message. A process here queues many messages itself, so it
// numbers them in a space of its own: its pid, then pid + 2^22, pid + 2*2^22...
// No pid reaches 2^22 (PID_MAX_LIMIT on 64-bit Linux), so N mod 2^22 is the
// pid of the process that queued the message: two processes alive at the same
// time never share a number, and a number comes back no sooner than a pid
// does (qmail-smtpd(8), qmail-queue(8)).

/** PID_MAX_LIMIT (linux/threads.h, 64-bit): /proc/sys/kernel/pid_max cannot be set above it. */
export const QP_SPACE = 4_194_304;

let next = 0;

/** A fresh qp for the next message this process queues. */
export function nextQp(): number {
  return process.pid + QP_SPACE * next++;
}
