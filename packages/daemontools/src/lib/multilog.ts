// SPDX-License-Identifier: MIT
// multilog's engine (multilog(8)): the input read in lines, each through the
// script, to the log directories. The parts are in multilog/: the script's
// parsing (script.ts), the patterns and per-line actions (match.ts), the
// buffer accounting that keeps files cut where C cuts them (buffer.ts), and
// a directory's restart and rotation (logdir.ts).
import { byteStr } from "@qts/core/bytes";
import { errnoName } from "@qts/core/errstr";
import { worked } from "@qts/core/rest";
import { inheritedFds } from "@qts/sys/exec";
import { readSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { BUFSIZE } from "./multilog/buffer.ts";
import type { LogDir } from "./multilog/logdir.ts";
import { setInherited } from "./multilog/logdir.ts";
import { LINE, runScript } from "./multilog/match.ts";
import { type Item, parseScript } from "./multilog/script.ts";
import { syncClock, writeStamp } from "./stamp.ts";

export { match } from "./multilog/match.ts";
export { pauseSeconds, setPauseSeconds } from "./multilog/pause.ts";

const INSIZE = 1024; // multilog's input buffer: it flushes before each read
const READ = 128 * INSIZE;
/** "@", 24 hex digits and a space. */
const STAMP = 26;
/** How long run() keeps the event loop before letting it turn (signals, timers). */
const YIELD_MS = 50;

const tick = () => new Promise((ok) => setImmediate(ok));

export class Multilog {
  private readonly items: Item[];
  private readonly dirs: LogDir[];
  private readonly stamp: boolean;
  /** Whether any item looks at the line (so it must sit in one buffer). */
  private readonly looks: boolean;
  private line = Buffer.alloc(LINE + 1);
  private linelen = 0;
  /** Reading a line's first 1000 bytes (linelen counts them, stamp included). */
  private inLine = false;
  /** Streaming the rest of a line over 1000 bytes. */
  private inLong = false;
  private lastNl = true;
  /** Absolute input offset of the next simulated 1024-byte read. */
  private vb = 0;
  private pos = 0;
  private term = false;
  private alarm = false;

  /** script as text (for messages) and, in raw, the same arguments as byte strings (core/bytes.ts). */
  constructor(script: string[], raw: string[] = script.map(byteStr)) {
    // Caught from the start, as the original: a TERM during start-up ends it cleanly after.
    process.on("SIGTERM", () => {
      this.term = true;
    });
    process.on("SIGALRM", () => {
      this.alarm = true;
    });
    // The fds a processor gets (logdir.ts), listed before anything is opened. Only a directory has a
    // processor: a script without one (multilog t e, a filter) skips the /proc/self/fd walk.
    if (script.some((a) => a[0] === "." || a[0] === "/")) setInherited(inheritedFds());
    const s = parseScript(script, raw);
    this.items = s.items;
    this.dirs = s.dirs;
    this.stamp = s.stamp;
    this.looks = s.looks;
  }

  /** flushread(): flush every buffer, rotate on SIGALRM. */
  private flushRead(): void {
    this.flushAll();
    if (this.alarm) {
      this.alarm = false;
      for (const d of this.dirs) if (d.bytes > 0) d.full();
    }
    for (const d of this.dirs) d.writeOut();
  }

  /** One read of fd 0: the byte count (0 at the end), or undefined to try again after a turn of the loop. */
  private read(buf: Buffer): number | undefined {
    try {
      if (!waitReadable(0, 1000)) return undefined;
      // After SIGTERM, one byte at a time: the original stops at the first line boundary.
      return readSync(0, buf, 0, this.term ? 1 : READ, null);
    } catch (e) {
      const c = errnoName(e);
      // The original treats a read error as the end of input.
      return c === "EAGAIN" || c === "EINTR" ? undefined : 0;
    }
  }

  /** Reads fd 0 to the end (or SIGTERM at a line boundary), then c_quit. */
  async run(): Promise<void> {
    const buf = Buffer.allocUnsafe(READ);
    let yieldAt = Date.now() + YIELD_MS;
    for (;;) {
      this.flushRead();
      if (this.term && this.lastNl) break;
      const n = this.read(buf);
      if (n === undefined) {
        await tick();
        continue;
      }
      if (n <= 0) break;
      worked();
      syncClock();
      this.lastNl = buf[n - 1] === 10;
      this.vb = this.pos + (this.term ? 1 : INSIZE);
      this.chunk(buf.subarray(0, n), n);
      this.pos += n;
      if (Date.now() >= yieldAt) {
        await tick();
        yieldAt = Date.now() + YIELD_MS;
      }
    }
    this.eof();
    for (const d of this.dirs) d.quit();
  }

  private flushAll(): void {
    for (const d of this.dirs) d.flush();
  }

  /** Simulated input reads up to absolute offset e (the byte at e has been read). */
  private reach(e: number): void {
    while (this.vb <= e) {
      this.flushAll();
      this.vb += INSIZE;
    }
  }

  private chunk(buf: Buffer, n: number): void {
    let i = 0;
    while (i < n) {
      i = this.inLong ? this.longTail(buf, i, n) : this.lineStart(buf, i, n);
      if (i < 0) return;
    }
  }

  /** In a long line at buf[i]: streams its rest; returns where the next line starts, or -1 at the chunk's end. */
  private longTail(buf: Buffer, i: number, n: number): number {
    const base = this.pos;
    const nl = buf.indexOf(10, i);
    const stop = nl < 0 || nl >= n ? n : nl;
    this.tail(buf, i, stop, base);
    if (stop === n) return -1;
    this.reach(base + nl);
    this.newline();
    this.inLong = false;
    return nl + 1;
  }

  /** A line's first 1000 bytes from buf[i]: returns where to go on, or -1 at the chunk's end. */
  private lineStart(buf: Buffer, i: number, n: number): number {
    const base = this.pos;
    if (!this.inLine) {
      this.inLine = true;
      this.linelen = 0;
      if (this.stamp) {
        writeStamp(this.line, 0);
        this.line[STAMP - 1] = 32;
        this.linelen = STAMP;
      }
    }
    const limit = LINE - this.linelen;
    let nl = buf.indexOf(10, i);
    if (nl >= n) nl = -1;
    if (nl >= 0 && nl - i < limit) {
      this.wholeLine(buf, i, nl);
      return nl + 1;
    }
    const avail = n - i;
    if (avail < limit) {
      buf.copy(this.line, this.linelen, i, n);
      this.linelen += avail;
      return -1;
    }
    // 1000 bytes without a newline: the line is handled, its tail streams on.
    buf.copy(this.line, this.linelen, i, i + limit);
    this.linelen = LINE;
    this.reach(base + i + limit - 1);
    this.doLine();
    this.inLine = false;
    this.inLong = true;
    return i + limit;
  }

  /** The line's end is buf[nl]: straight from buf when nothing needs it in one piece. */
  private wholeLine(buf: Buffer, i: number, nl: number): void {
    const base = this.pos;
    if (this.linelen === (this.stamp ? STAMP : 0) && !this.looks) {
      this.reach(base + nl);
      this.emitDirect(buf, i, nl - i);
    } else {
      buf.copy(this.line, this.linelen, i, nl);
      this.linelen += nl - i;
      this.reach(base + nl);
      this.doLine();
      this.newline();
    }
    this.inLine = false;
  }

  /** The rest of a long line, buf[from, to), to the directories that took its start. */
  private tail(buf: Buffer, from: number, to: number, base: number): void {
    while (from < to) {
      const a = base + from;
      if (this.vb <= a) this.reach(a);
      const seg = Math.min(to, this.vb - base) - from;
      for (const d of this.dirs)
        if (d.selected) {
          d.room(seg);
          buf.copy(d.out, d.end, from, from + seg);
          d.end += seg;
          d.putBytes(seg);
        }
      from += seg;
    }
  }

  private newline(): void {
    for (const d of this.dirs) if (d.selected) d.newline();
  }

  private emitDirect(buf: Buffer, from: number, len: number): void {
    const s = this.stamp ? STAMP : 0;
    const total = s + len;
    for (const d of this.dirs) {
      d.room(total + 1);
      if (s) this.line.copy(d.out, d.end, 0, s);
      buf.copy(d.out, d.end + s, from, from + len);
      d.end += total;
      d.out[d.end++] = 10;
      if (total + 1 <= BUFSIZE - d.p) d.p += total + 1;
      else {
        d.put(total);
        d.put(1);
      }
    }
  }

  /** The script on line[0, linelen), then the line to the selected directories (no newline yet). */
  private doLine(): void {
    const len = this.linelen;
    if (this.looks) runScript(this.items, this.line, len);
    for (const d of this.dirs) if (d.selected) d.append(this.line, 0, len);
  }

  /** End of input: the last read's flush, then a partial line gets its newline. */
  private eof(): void {
    this.flushAll();
    if (this.inLine) {
      this.doLine();
      this.newline();
      this.inLine = false;
    } else if (this.inLong) {
      this.newline();
      this.inLong = false;
    }
  }
}
