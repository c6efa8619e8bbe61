// SPDX-License-Identifier: MIT
// Readiness notification for our daemons under supervise(8) or s6-supervise: a service directory's
// notification-fd file names a descriptor that the supervisor gives ./run; the run script tells
// our program which one in $NOTIFICATION_FD (the daemontools originals take no such option, and
// s6's programs take theirs on the command line). The program writes a newline there once it
// serves (tcpserver bound, multilog's directories locked, qmail-send's helpers up) and closes it.
import { closeSync, writeSync } from "@qts/sys/fs";
import type { Env } from "./run.ts";

export const READY_VAR = "NOTIFICATION_FD";

/**
 * Takes $NOTIFICATION_FD out of env (so children neither see it nor write to a descriptor that is
 * no longer the supervisor's) and returns the descriptor, or undefined when unset or not a number.
 */
export function takeReadyFd(env: Env): number | undefined {
  const v = env[READY_VAR];
  if (v === undefined) return undefined;
  delete env[READY_VAR];
  delete process.env[READY_VAR];
  return /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** Says "ready" on fd (a newline) and closes it; a supervisor that went away is not an error. */
export function signalReady(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    writeSync(fd, "\n");
  } catch {}
  try {
    closeSync(fd);
  } catch {}
}
