// SPDX-License-Identifier: MIT
// timeoutread/timeoutwrite for the SMTP programs: big reads from an fd into a
// reusable buffer, bounded by a per-read timeout; synchronous writes.
import { errnoName } from "@qts/core/errstr";
import { isNonBlocking, setBlocking } from "@qts/sys/exec";
import { readSync, writeSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { setSendTimeout } from "@qts/sys/sndtimeo";

export class ReadTimeout extends Error {}
export class ReadEof extends Error {}

function isAgain(e: unknown): boolean {
  return errnoName(e) === "EAGAIN";
}

// timeoutRead waits in poll(2) slices: the first QUICK_MS long (a client in a session answers well
// within it), each next one twice as long, up to MAX_SLICE_MS. Between two, the event loop runs:
// the JavaScript handlers of signals (qmail-smtpd's cleanup at SIGALRM or SIGTERM: a signal ends the
// slice at once, EINTR) and timers (core/rest.ts's give-back of an idle session).
const QUICK_MS = 50;
const MAX_SLICE_MS = 1000;

/**
 * timeoutread(): waits in poll(2) for at most ms, then one read(2) of up to buf.length bytes from fd,
 * as DJB's timeoutread.c does; rejects ReadTimeout after ms, ReadEof on EOF or error. node:fs's
 * asynchronous read would load node:fs and start two threads of the runtime's pool in every SMTP
 * session (BENCHMARKS.md, "Start-up: files without node:fs").
 */
export async function timeoutRead(fd: number, buf: Uint8Array, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let slice = QUICK_MS;
  let again = false;
  for (;;) {
    if (waitReadable(fd, Math.min(slice, Math.max(0, Math.ceil(end - performance.now()))))) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if (!isAgain(e) || again) throw new ReadEof();
        // a non-blocking fd from the caller: make it blocking, as C programs expect
        again = true;
        try {
          setBlocking(fd, true);
        } catch {}
        continue;
      }
      if (n <= 0) throw new ReadEof();
      return n;
    }
    if (performance.now() >= end) throw new ReadTimeout();
    await new Promise((ok) => setTimeout(ok, 1));
    slice = Math.min(slice * 2, MAX_SLICE_MS);
  }
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
