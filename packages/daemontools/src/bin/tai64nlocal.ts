// SPDX-License-Identifier: MIT

import { setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { formatLocal, hexval } from "@qts/tai64/tai64";

export const usage = "tai64nlocal";

const AT = 0x40;
const NL = 0x0a;

/** The input as tai64nlocal.c reads it: a label is an "@" at a line's start and the hex digits after it. */
class Converter {
  // 0: at a line start; 1: inside a line; 2: reading the hex digits after "@".
  private state = 0;
  private sec = 0n;
  private nano = 0;
  private raw: number[] = [];

  /** inb[0, n) converted into parts; a label or line cut by the chunk's end goes on in the next one. */
  feed(inb: Buffer, n: number, parts: (Buffer | string)[]): void {
    let i = 0;
    while (i < n) {
      if (this.state === 2) {
        i = this.digits(inb, i, n);
        if (i === n) break;
        parts.push(formatLocal({ sec: this.sec, nano: this.nano }) ?? Buffer.from(this.raw));
        this.state = 1;
        continue;
      }
      if (this.state === 0 && inb[i] === AT) {
        this.state = 2;
        this.sec = 0n;
        this.nano = 0;
        this.raw = [AT];
        i++;
        continue;
      }
      const nl = inb.indexOf(NL, i);
      const end = nl < 0 || nl >= n ? n : nl + 1;
      parts.push(Buffer.from(inb.subarray(i, end)));
      this.state = end !== n || inb[n - 1] === NL ? 0 : 1;
      i = end;
    }
  }

  /** The label's hex digits from inb[i]: returns the index of the first byte that is not one. */
  private digits(inb: Buffer, i: number, n: number): number {
    for (; i < n; i++) {
      const c = inb[i] as number;
      const d = hexval(c);
      if (d < 0) break;
      this.raw.push(c);
      this.sec = ((this.sec << 4n) + BigInt(this.nano >>> 28)) & 0xffffffffffffffffn;
      this.nano = (((this.nano & 0xfffffff) << 4) | d) >>> 0;
    }
    return i;
  }
}

// tai64nlocal(8). Where the C program would crash (localtime() failing on a short or
// absurd label) the label is passed through unchanged instead.
export function main(_argv: string[], _env: Env): number {
  setProg("tai64nlocal");
  const inb = Buffer.allocUnsafe(65536);
  const parts: (Buffer | string)[] = [];
  const conv = new Converter();
  for (;;) {
    let n: number;
    try {
      n = readChunk(0, inb);
    } catch {
      return EXIT_TEMP;
    }
    // At the end, a label still being read is dropped, as the original exits inside it.
    if (n <= 0) return EXIT_OK;
    conv.feed(inb, n, parts);
    try {
      writeAll(1, Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))));
    } catch {
      return EXIT_TEMP;
    }
    parts.length = 0;
  }
}
