// SPDX-License-Identifier: MIT
// TAI64 / TAI64N labels as daemontools writes them (tai64n(8)):
// TAI64 = 2^62 + 10 + unix seconds (no leap-second table),
// TAI64N = 8 bytes TAI64 big-endian + 4 bytes nanoseconds big-endian.

export const TAI_OFFSET = (1n << 62n) + 10n;

export interface Tain {
  /** TAI64 seconds label (2^62 + 10 + unix). */
  sec: bigint;
  /** Nanoseconds, 0..999999999. */
  nano: number;
}

/** Now, with the best resolution the runtime gives (microseconds). */
export function now(): Tain {
  const ms = performance.timeOrigin + performance.now();
  const s = Math.floor(ms / 1000);
  const nano = Math.min(999999999, Math.floor((ms - s * 1000) * 1e6));
  return { sec: BigInt(s) + TAI_OFFSET, nano };
}

export function fromUnix(unixSec: number, nano = 0): Tain {
  return { sec: BigInt(Math.floor(unixSec)) + TAI_OFFSET, nano };
}

export function toUnix(t: Tain): number {
  return Number(t.sec - TAI_OFFSET);
}

/** 12 packed bytes (TAI64N). */
export function pack(t: Tain, out: Uint8Array = new Uint8Array(12), at = 0): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setBigUint64(at, t.sec, false);
  v.setUint32(at + 8, t.nano, false);
  return out;
}

export function unpack(b: Uint8Array, at = 0): Tain {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { sec: v.getBigUint64(at, false), nano: v.getUint32(at + 8, false) };
}

/** "@" + 24 lowercase hex digits, as tai64n and multilog's t write. */
export function label(t: Tain): string {
  return `@${t.sec.toString(16).padStart(16, "0")}${t.nano.toString(16).padStart(8, "0")}`;
}

/** A lowercase hex digit's value, or -1 (tai64nlocal accepts only lowercase). */
export function hexval(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * tai64nlocal's parse of the text after "@": lowercase hex digits up to the
 * first other character; each digit shifts into a 32-bit nanosecond
 * accumulator whose top 4 bits move on into the seconds. Returns the label
 * and the number of characters consumed.
 */
export function parseHex(s: Uint8Array | string, start = 0): { t: Tain; len: number } {
  let sec = 0n;
  let nano = 0;
  let i = start;
  for (; i < s.length; i++) {
    const d = hexval(typeof s === "string" ? s.charCodeAt(i) : (s[i] as number));
    if (d < 0) break;
    sec = ((sec << 4n) + BigInt(nano >>> 28)) & 0xffffffffffffffffn;
    nano = (((nano & 0xfffffff) << 4) | d) >>> 0;
  }
  return { t: { sec, nano }, len: i - start };
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

/**
 * "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" in local time (TZ), as tai64nlocal prints.
 * Returns undefined where C's localtime() would fail.
 */
export function formatLocal(t: Tain): string | undefined {
  // As C's signed 64-bit arithmetic: a label past 2^63 wraps to a negative time.
  const unix = BigInt.asIntN(64, t.sec - TAI_OFFSET);
  if (unix < -8640000000000n || unix > 8640000000000n) return undefined;
  const d = new Date(Number(unix) * 1000);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)} ${pad(d.getHours(), 2)}:${pad(
    d.getMinutes(),
    2,
  )}:${pad(d.getSeconds(), 2)}.${pad(t.nano, 9)}`;
}
