// SPDX-License-Identifier: MIT
// multilog(8)'s answer to a failed write, rename or fsync: a warning, five seconds' sleep, and again.
import { warnUnable } from "@qts/core/die";
import { constants } from "@qts/sys/fs";

export const O_APPEND = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_CREAT;
export const O_TRUNC = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_TRUNC | constants.O_CREAT;
export const O_WRITE = constants.O_WRONLY | constants.O_NONBLOCK;

/** Seconds of each "pausing" sleep; 5 as the original. */
export let pauseSeconds = 5;
export function setPauseSeconds(s: number): void {
  pauseSeconds = s;
}

/** `multilog: warning: unable to what, pausing: <error_str>`, then the sleep. */
export function pause(err: unknown, what: string): void {
  warnUnable(`${what}, pausing`, err);
  Bun.sleepSync(pauseSeconds * 1000);
}

/** Retries op until it works, pausing with "unable to what" after each failure. */
export function retry<T>(op: () => T, what: string): T {
  for (;;) {
    try {
      return op();
    } catch (e) {
      pause(e, what);
    }
  }
}
