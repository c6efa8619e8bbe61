// SPDX-License-Identifier: MIT
import { TAI_OFFSET } from "@qts/tai64/tai64";

// "@" + 24 lowercase hex digits of TAI64N, written straight into a buffer for the hot
// paths (multilog t, tai64n). The nanoseconds are microseconds * 1000 + 500, as
// daemontools' taia_now (gettimeofday) gives them.
const HEX = Buffer.from("0123456789abcdef");
const secHex = Buffer.alloc(17);
let lastSec = -1;
let base = Date.now() - performance.now();

/** Re-reads the wall clock; call now and then (each input read) so the fast clock follows it. */
export function syncClock(): void {
  base = Date.now() - performance.now();
}

/** Writes the 25-byte label for now at buf[at..at+25). */
export function writeStamp(buf: Uint8Array, at: number): void {
  const t = performance.now() + base;
  const sec = Math.floor(t / 1000);
  const usec = Math.floor((t - sec * 1000) * 1000);
  if (sec !== lastSec) {
    lastSec = sec;
    let s = BigInt(sec) + TAI_OFFSET;
    secHex[0] = 64;
    for (let i = 16; i >= 1; i--) {
      secHex[i] = HEX[Number(s & 15n)] as number;
      s >>= 4n;
    }
  }
  buf.set(secHex, at);
  let n = Math.min(999999, usec) * 1000 + 500;
  for (let i = at + 24; i >= at + 17; i--) {
    buf[i] = HEX[n & 15] as number;
    n >>>= 4;
  }
}
