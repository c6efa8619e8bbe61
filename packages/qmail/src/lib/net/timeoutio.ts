// SPDX-License-Identifier: MIT
// timeoutread/timeoutwrite for the SMTP programs: big reads from an fd into a
// reusable buffer, bounded by a per-read timeout; synchronous writes.

import { errnoName } from "@qts/core/errstr";
import { isNonBlocking, setBlocking } from "@qts/sys/exec";
import { read, readSync, writeSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { setSendTimeout } from "@qts/sys/sndtimeo";

export class ReadTimeout extends Error {}
export class ReadEof extends Error {}

function isAgain(e: unknown): boolean {
  return errnoName(e) === "EAGAIN";
}

// How long timeoutRead waits in poll(2) before it hands the wait to the event loop. A blocking wait
// holds back the JavaScript handlers of signals (qmail-smtpd's cleanup at SIGALRM or SIGTERM) until
// it ends, so it is kept short; a client in a session answers well within it.
const QUICK_MS = 50;

/**
 * timeoutread(): one read(2) of up to buf.length bytes from fd, after at most ms; rejects
 * ReadTimeout after ms, ReadEof on EOF or error. It first waits up to QUICK_MS in poll(2), as DJB's
 * timeoutread.c does, and reads at once: node:fs's asynchronous read would load node:fs and start
 * two threads of the runtime's pool in every SMTP session (BENCHMARKS.md, "Start-up: files without
 * node:fs"). A longer wait, or one a signal cut short, goes on in node:fs's read.
 */
export function timeoutRead(fd: number, buf: Uint8Array, ms: number): Promise<number> {
  const start = performance.now();
  if (waitReadable(fd, Math.min(ms, QUICK_MS))) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      return n > 0 ? Promise.resolve(n) : Promise.reject(new ReadEof());
    } catch (e) {
      // EAGAIN: a non-blocking fd that another reader emptied first; the wait below makes it blocking
      if (!isAgain(e)) return Promise.reject(new ReadEof());
    }
  }
  return slowRead(fd, buf, Math.max(0, ms - (performance.now() - start)));
}

function slowRead(fd: number, buf: Uint8Array, ms: number): Promise<number> {
  return new Promise((ok, fail) => {
    let done = false;
    const t = setTimeout(() => {
      if (done) return;
      done = true;
      fail(new ReadTimeout());
    }, ms);
    const attempt = (again: boolean) =>
      read(fd, buf, 0, buf.length, null, (e, n) => {
        if (done) return;
        if (e && isAgain(e) && !again) {
          // a non-blocking fd from the caller: make it blocking, as C programs expect
          try {
            setBlocking(fd, true);
          } catch {}
          attempt(true);
          return;
        }
        done = true;
        clearTimeout(t);
        if (e || n <= 0) fail(new ReadEof());
        else ok(n);
      });
    attempt(false);
  });
}

/** timeoutwrite for synchronous writes: a socket's blocking writes give up after ms (SO_SNDTIMEO). */
export function writeTimeout(fd: number, ms: number): void {
  try {
    setSendTimeout(fd, ms);
  } catch {
    // not a socket (a pipe under sendmail -bs, a test): writes may block, as on a pipe in C
  }
}

/**
 * Writes all of data to fd; throws on a write error or a write timeout. A
 * non-blocking fd from the caller is made blocking; EAGAIN on a blocking fd
 * is the send timeout.
 */
export function writeFully(fd: number, data: Uint8Array): void {
  let at = 0;
  while (at < data.length) {
    try {
      at += writeSync(fd, data, at, data.length - at);
    } catch (e) {
      if (!isAgain(e) || !isNonBlocking(fd)) throw e;
      setBlocking(fd, true);
    }
  }
}
