// SPDX-License-Identifier: MIT
// qmail-local's view of the message: a seekable fd 0 that every delivery
// rewinds and reads again (qmail-local(8), qmail-local.c).
import { errnoName, errorStr } from "@qts/core/errstr";
import { fstatSync, readSync } from "@qts/sys/fs";
import { rewind } from "@qts/sys/seek";

/** A delivery outcome that ends qmail-local: the text (without newline) goes to the report; "" adds nothing. */
export class LocalExit extends Error {
  constructor(
    readonly code: 100 | 111,
    readonly text: string,
  ) {
    super(text);
  }
}

export const temp = (text: string): LocalExit => new LocalExit(111, text);
export const perm = (text: string): LocalExit => new LocalExit(100, text);

/** A read error on the message, kept apart so each delivery type can word it as qmail-local does. */
export class ReadError extends Error {
  constructor(readonly err: unknown) {
    super(`read: ${errorStr(err)}`);
  }
}

const CHUNK = 65536;

export class Message {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  private seekable = false;

  constructor(readonly fd = 0) {}

  /**
   * seek_begin(0) for our own reads: they use pread from a position we keep,
   * so no system call is needed here; a descriptor that cannot seek fails on
   * the first read with "Unable to rewind message".
   */
  rewind(): void {
    if (!this.seekable) {
      let st: ReturnType<typeof fstatSync>;
      try {
        st = fstatSync(this.fd);
      } catch {
        throw temp("Unable to rewind message. (#4.3.0)");
      }
      if (st.isFIFO() || st.isSocket()) throw temp("Unable to rewind message. (#4.3.0)");
      this.seekable = true;
    }
    this.pos = 0;
  }

  /** seek_begin(0) on the descriptor itself, for a child that inherits it (a program delivery). */
  rewindFd(): void {
    try {
      rewind(this.fd);
    } catch {
      throw temp("Unable to rewind message. (#4.3.0)");
    }
  }

  /** The next chunk (a view valid until the next call), or undefined at EOF. */
  next(): Buffer | undefined {
    let n: number;
    for (;;) {
      try {
        n = readSync(this.fd, this.buf, 0, CHUNK, this.pos);
        break;
      } catch (e) {
        const code = errnoName(e);
        if (code === "EINTR" || code === "EAGAIN") continue;
        if (code === "ESPIPE") throw temp("Unable to rewind message. (#4.3.0)");
        throw new ReadError(e);
      }
    }
    this.pos += n;
    return n === 0 ? undefined : this.buf.subarray(0, n);
  }

  /** Rewinds, then yields the message chunk by chunk. */
  *chunks(): Generator<Buffer> {
    this.rewind();
    for (;;) {
      const b = this.next();
      if (!b) return;
      yield b;
    }
  }

  /**
   * bouncexf: the message already has dtline among its header lines (up to
   * the first empty line) -> "This message is looping" (100). Memory stays
   * bounded: only lines as long as dtline are kept for the comparison.
   */
  checkLoop(dtline: Buffer): void {
    const cur = Buffer.allocUnsafe(dtline.length + 1);
    let len = 0;
    for (const chunk of this.chunks()) {
      let at = 0;
      while (at < chunk.length) {
        const nl = chunk.indexOf(10, at);
        const end = nl < 0 ? chunk.length : nl + 1;
        const piece = end - at;
        if (len + piece <= cur.length) chunk.copy(cur, len, at, end);
        len += piece;
        at = end;
        if (nl < 0) break;
        if (len <= 1) return;
        if (len === dtline.length && cur.subarray(0, len).equals(dtline))
          throw perm("This message is looping: it already has my Delivered-To line. (#5.4.6)");
        len = 0;
      }
    }
  }
}
