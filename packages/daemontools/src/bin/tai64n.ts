// SPDX-License-Identifier: MIT

import { setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { syncClock, writeStamp } from "@qts/daemontools/lib/stamp";

export const usage = "tai64n";

// tai64n(8): a stamp when a line's first byte is read; output flushed before each
// read; a final partial line is stamped but gets no newline; 111 on a read or write error, silently.
export function main(_argv: string[], _env: Env): number {
  setProg("tai64n");
  const inb = Buffer.allocUnsafe(65536);
  let out = Buffer.allocUnsafe(65536 * 2);
  let lineStart = true;
  for (;;) {
    let n: number;
    try {
      n = readChunk(0, inb);
    } catch {
      return EXIT_TEMP;
    }
    if (n <= 0) return EXIT_OK;
    syncClock();
    if (out.length < n * 27) out = Buffer.allocUnsafe(n * 27);
    let o = 0;
    let i = 0;
    while (i < n) {
      if (lineStart) {
        writeStamp(out, o);
        out[o + 25] = 32;
        o += 26;
      }
      const nl = inb.indexOf(10, i);
      const end = nl < 0 || nl >= n ? n : nl + 1;
      inb.copy(out, o, i, end);
      o += end - i;
      lineStart = end !== n || inb[n - 1] === 10;
      i = end;
    }
    try {
      writeAll(1, out.subarray(0, o));
    } catch {
      return EXIT_TEMP;
    }
  }
}
