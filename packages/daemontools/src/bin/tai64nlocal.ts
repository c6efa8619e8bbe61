// SPDX-License-Identifier: MIT

import { setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { formatLocal, hexval } from "@qts/tai64/tai64";

export const usage = "tai64nlocal";

// tai64nlocal(8). Where the C program would crash (localtime() failing on a short or
// absurd label) the label is passed through unchanged instead.
export function main(_argv: string[], _env: Env): number {
  setProg("tai64nlocal");
  const inb = Buffer.allocUnsafe(65536);
  const parts: (Buffer | string)[] = [];
  // 0: at a line start; 1: inside a line; 2: reading the hex digits after "@".
  let state = 0;
  let sec = 0n;
  let nano = 0;
  let raw: number[] = [];
  for (;;) {
    let n: number;
    try {
      n = readChunk(0, inb);
    } catch {
      return EXIT_TEMP;
    }
    // At the end, a label still being read is dropped, as the original exits inside it.
    if (n <= 0) return EXIT_OK;
    let i = 0;
    while (i < n) {
      if (state === 2) {
        for (; i < n; i++) {
          const c = inb[i] as number;
          const d = hexval(c);
          if (d < 0) break;
          raw.push(c);
          sec = ((sec << 4n) + BigInt(nano >>> 28)) & 0xffffffffffffffffn;
          nano = (((nano & 0xfffffff) << 4) | d) >>> 0;
        }
        if (i === n) break;
        parts.push(formatLocal({ sec, nano }) ?? Buffer.from(raw));
        state = 1;
        continue;
      }
      if (state === 0 && inb[i] === 64) {
        state = 2;
        sec = 0n;
        nano = 0;
        raw = [64];
        i++;
        continue;
      }
      const nl = inb.indexOf(10, i);
      const end = nl < 0 || nl >= n ? n : nl + 1;
      parts.push(Buffer.from(inb.subarray(i, end)));
      state = end !== n || inb[n - 1] === 10 ? 0 : 1;
      i = end;
    }
    try {
      writeAll(1, Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))));
    } catch {
      return EXIT_TEMP;
    }
    parts.length = 0;
  }
}
