// SPDX-License-Identifier: MIT
import { errnoName } from "@qts/core/errstr";
import { readSync } from "@qts/sys/fs";

/** Reads fd to EOF synchronously (waiting out EAGAIN on a non-blocking fd). */
export function readAll(fd: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const wait = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const buf = Buffer.allocUnsafe(65536);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (errnoName(e) === "EAGAIN") {
        Atomics.wait(wait, 0, 0, 5);
        continue;
      }
      throw e;
    }
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  return Buffer.concat(chunks, total);
}
