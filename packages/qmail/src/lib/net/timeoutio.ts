// SPDX-License-Identifier: MIT
// timeoutread/timeoutwrite for the SMTP programs: big reads from an fd into a
// reusable buffer, bounded by a per-read timeout; synchronous writes.
import { read, writeSync } from "node:fs";
import { errnoName } from "@qts/core/errstr";
import { isNonBlocking, setBlocking } from "@qts/sys/exec";
import { setSendTimeout } from "@qts/sys/sndtimeo";

export class ReadTimeout extends Error {}
export class ReadEof extends Error {}

function isAgain(e: unknown): boolean {
  return errnoName(e) === "EAGAIN";
}

/** One read(2) of up to buf.length bytes from fd; rejects ReadTimeout after ms, ReadEof on EOF or error. */
export function timeoutRead(fd: number, buf: Uint8Array, ms: number): Promise<number> {
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
