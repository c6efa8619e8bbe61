// SPDX-License-Identifier: MIT
import { TAI_OFFSET } from "@qts/tai64/tai64";

// "@" + 24 lowercase hex digits of TAI64N, written straight into a buffer for the hot
// paths (multilog t, tai64n). The nanoseconds are microseconds * 1000 + 500, as
// daemontools' taia_now (gettimeofday) gives them.
const HEX = Buffer.from("0123456789abcdef");
const secHex = Buffer.alloc(17);
let lastSec = -1;
// Wall clock = base + performance.now(). Date.now() has whole milliseconds only, so a base taken
// from it is up to 1 ms early; re-basing on every read made labels jump back by up to a millisecond
// (daemontools' taia_now reads gettimeofday, microseconds, every time). performance.timeOrigin
// carries the start's wall time below the millisecond; the base moves only when the wall clock
// itself has moved (a step of more than STEP ms against the monotonic clock).
const STEP = 2;
let base =
  Math.abs(performance.timeOrigin - (Date.now() - performance.now())) < STEP
    ? performance.timeOrigin
    : Date.now() - performance.now();
/**
 * The last label written, in microseconds: no label is earlier than the one before it, unless the
 * wall clock was set back by more than STEP (then the labels follow the clock, as the original's do).
 */
let lastUs = 0;

/** Re-reads the wall clock; call now and then (each input read) so the fast clock follows it. */
export function syncClock(): void {
  const est = Date.now() - performance.now();
  // est is within [true base - 1 ms, true base]: move only when the clock was stepped.
  if (est - base > STEP || base - est > STEP) base = est;
}

/** Writes the 25-byte label for now at buf[at..at+25). */
export function writeStamp(buf: Uint8Array, at: number): void {
  let us = Math.floor((performance.now() + base) * 1000);
  if (us < lastUs && lastUs - us < STEP * 1000) us = lastUs;
  lastUs = us;
  const sec = Math.floor(us / 1e6);
  const usec = us - sec * 1e6;
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
