// SPDX-License-Identifier: MIT
// Waiting for input without shutting out signal handlers. A program that
// reads with readSync sits in read(2), and Bun runs a signal's JS handler
// only from its event loop: a SIGTERM would wait for the next byte. poll(2)
// returns at any signal (it is never restarted, signal(7)), so a wait made of
// polls, with a turn of the event loop between them, lets the handler run
// (queue.ts cleanupOnDeath: a killed injector removes its unfinished message).
import { waitReadable } from "@qts/sys/poll";

/** Resolves when a read of fd will not block (data, EOF or error). */
export async function readable(fd: number): Promise<void> {
  for (;;) {
    let r: boolean;
    try {
      r = waitReadable(fd, 1000);
    } catch {
      return;
    }
    if (r) return;
    await new Promise((ok) => setImmediate(ok));
  }
}
