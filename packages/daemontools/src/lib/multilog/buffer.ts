// SPDX-License-Identifier: MIT
// The buffer accounting of one log directory. Output is byte-identical to the
// C program's: its 512-byte per-directory buffer (struct cyclog), its
// 1024-byte input reads and the c_write cut rule decide where a file ends, so
// they are simulated with counters while the bytes themselves go out in big
// batched writes.
import { writeSync } from "@qts/sys/fs";
import { pause } from "./pause.ts";

export const BUFSIZE = 512; // struct cyclog's buffer
const OUTSIZE = 8192; // SUBSTDIO_OUTSIZE: chunk of a direct write in substdio_put
const PHYS = 1 << 20; // batch of real writes

export abstract class Cyclog {
  fd = -1;
  /** Bytes in current. */
  bytes = 0;
  /** Bytes not yet really written: [0, cw) handed to c_write, [cw, end) in the simulated buffer and beyond. */
  out = Buffer.allocUnsafe(PHYS * 2);
  cw = 0;
  end = 0;
  /** Fill of the simulated 512-byte buffer. */
  p = 0;

  constructor(
    readonly dir: string,
    readonly size: number,
  ) {}

  /** fullcurrent(): rotate. */
  abstract full(): void;

  /** Really writes what c_write has accepted so far. */
  writeOut(): void {
    let off = 0;
    while (off < this.cw) {
      try {
        off += writeSync(this.fd, this.out, off, this.cw - off);
      } catch (e) {
        pause(e, `write to ${this.dir}/current`);
      }
    }
    if (this.cw > 0) {
      this.out.copy(this.out, 0, this.cw, this.end);
      this.end -= this.cw;
      this.cw = 0;
    }
  }

  /** c_write(): accepts up to len buffered bytes; may cut at a newline and rotate. */
  cWrite(len: number): number {
    if (this.bytes >= this.size) this.full();
    if (this.bytes + len >= this.size) len = this.size - this.bytes;
    if (this.bytes + len >= this.size - 2000) {
      const nl = this.out.lastIndexOf(10, this.cw + len - 1);
      if (nl >= this.cw) len = nl - this.cw + 1;
    }
    this.cw += len;
    this.bytes += len;
    if (this.bytes >= this.size - 2000 && this.out[this.cw - 1] === 10) this.full();
    else if (this.cw >= PHYS) this.writeOut();
    return len;
  }

  /** substdio_flush */
  flush(): void {
    while (this.p > 0) this.p -= this.cWrite(this.p);
  }

  /** substdio_put of the len bytes just appended. */
  put(len: number): void {
    if (len > BUFSIZE - this.p) {
      this.flush();
      while (len > BUFSIZE) {
        let c = Math.min(OUTSIZE, len);
        len -= c;
        while (c > 0) c -= this.cWrite(c);
      }
    }
    this.p += len;
  }

  /** len single-byte substdio_put calls (a long line's tail). */
  putBytes(len: number): void {
    while (len > 0) {
      if (this.p === BUFSIZE) this.flush();
      const k = Math.min(len, BUFSIZE - this.p);
      this.p += k;
      len -= k;
    }
  }

  /** Room for n more bytes at end. */
  room(n: number): void {
    if (this.end + n <= this.out.length) return;
    this.writeOut();
    if (this.end + n > this.out.length) {
      const b = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.end + n));
      this.out.copy(b, 0, 0, this.end);
      this.out = b;
    }
  }

  /** Appends buf[from, to) and accounts it as one substdio_put. */
  append(buf: Buffer, from: number, to: number): void {
    const len = to - from;
    this.room(len);
    buf.copy(this.out, this.end, from, to);
    this.end += len;
    this.put(len);
  }

  /** Appends a newline (substdio_put of "\n"). */
  newline(): void {
    this.room(1);
    this.out[this.end++] = 10;
    this.put(1);
  }
}
