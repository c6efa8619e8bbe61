// SPDX-License-Identifier: MIT
// mbox delivery (dot-qmail(5); qmail-local.c mailfile): From_ line,
// Return-Path, Delivered-To, the message with ^>*From quoted, a blank line;
// flock with a 30 s limit; on a write error the file is cut back to its old
// length and the delivery is deferred.
import { errnoName, errorStr } from "@qts/core/errstr";
import { flock, LOCK_EX, LOCK_NB } from "@qts/sys/flock";
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from "@qts/sys/fs";
import { LocalExit, type Message, ReadError, temp } from "./local-message.ts";

/** Output buffer that writes to fd in 64 KiB pieces; the first write error is thrown. */
export class Out {
  private readonly buf = Buffer.allocUnsafe(65536);
  private len = 0;
  constructor(private readonly fd: number) {}

  put(b: Uint8Array, start = 0, end = b.length): void {
    while (start < end) {
      const n = Math.min(end - start, this.buf.length - this.len);
      this.buf.set(b.subarray(start, start + n), this.len);
      this.len += n;
      start += n;
      if (this.len === this.buf.length) this.flush();
    }
  }

  flush(): void {
    let at = 0;
    while (at < this.len) at += writeSync(this.fd, this.buf, at, this.len - at);
    this.len = 0;
  }
}

const FROM = Buffer.from("From ");
const GT = 0x3e;
const NL = 0x0a;

/**
 * Copies chunks to out, quoting every line that matches ^>*From with one more
 * ">" (gfrom), and adding a final newline when the last line has none. State
 * is a count of leading ">" and how much of "From " matched, so a line of any
 * length needs no buffering.
 */
export class FromQuoter {
  private atStart = true;
  private gt = 0;
  private fm = 0;
  constructor(private readonly out: Out) {}

  private pending(quote: boolean): void {
    if (quote) this.out.put(Buffer.from([GT]));
    for (let n = this.gt; n > 0; ) {
      const k = Math.min(n, 4096);
      this.out.put(Buffer.alloc(k, GT));
      n -= k;
    }
    this.out.put(FROM, 0, this.fm);
    this.gt = 0;
    this.fm = 0;
  }

  write(b: Buffer): void {
    let i = 0;
    while (i < b.length) {
      if (this.atStart) {
        const c = b[i] as number;
        if (this.fm === 0 && c === GT) {
          this.gt++;
          i++;
          continue;
        }
        if (c === FROM[this.fm]) {
          this.fm++;
          i++;
          if (this.fm === FROM.length) {
            this.pending(true);
            this.atStart = false;
          }
          continue;
        }
        this.pending(false);
        this.atStart = false;
      }
      const nl = b.indexOf(NL, i);
      const end = nl < 0 ? b.length : nl + 1;
      this.out.put(b, i, end);
      i = end;
      if (nl >= 0) this.atStart = true;
    }
  }

  /** At EOF: flush a pending line start and end the last line with a newline. */
  end(): void {
    if (this.atStart && this.gt === 0 && this.fm === 0) return;
    if (this.atStart) this.pending(false);
    this.out.put(Buffer.from([NL]));
    this.atStart = true;
  }
}

function tryLock(fd: number): "locked" | "busy" | "unlockable" {
  try {
    flock(fd, LOCK_EX | LOCK_NB);
    return "locked";
  } catch (e) {
    const code = errnoName(e);
    return code === "EAGAIN" || code === "EWOULDBLOCK" ? "busy" : "unlockable";
  }
}

/** qmail-local's 30-second alarm around lock_ex, as a polling loop (Bun has no alarm to interrupt flock). */
export function lockWithin(fd: number, ms = 30_000): boolean {
  const deadline = Date.now() + ms;
  let wait = 5;
  for (;;) {
    const r = tryLock(fd);
    if (r === "locked") return true;
    if (r === "unlockable") return false;
    if (Date.now() >= deadline) throw temp("File has been locked for 30 seconds straight. (#4.3.0)");
    Bun.sleepSync(Math.min(wait, Math.max(1, deadline - Date.now())));
    wait = Math.min(wait * 2, 200);
  }
}

/**
 * Appends the message to the mbox fn (a path relative to the home, as bytes).
 * ufline/rpline/dtline are the ready-made lines. Throws LocalExit(111).
 */
export function mboxDeliver(fn: Buffer, name: string, msg: Message, ufline: Buffer, rpline: Buffer, dtline: Buffer) {
  msg.rewind();
  let fd: number;
  try {
    fd = openSync(fn, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    throw temp(`Unable to open ${name}: ${errorStr(e)}. (#4.2.1)`);
  }
  let locked = false;
  try {
    locked = lockWithin(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let pos = 0;
  try {
    pos = fstatSync(fd).size;
    const out = new Out(fd);
    out.put(ufline);
    out.put(rpline);
    out.put(dtline);
    const q = new FromQuoter(out);
    for (const chunk of msg.chunks()) q.write(chunk);
    q.end();
    out.put(Buffer.from([NL]));
    out.flush();
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    if (locked) {
      try {
        ftruncateSync(fd, pos);
      } catch {}
    }
    try {
      closeSync(fd);
    } catch {}
    if (e instanceof ReadError) throw temp(`Unable to read message: ${errorStr(e.err)}. (#4.3.0)`);
    if (e instanceof LocalExit) throw e;
    throw temp(`Unable to write ${name}: ${errorStr(e)}. (#4.3.0)`);
  }
}
