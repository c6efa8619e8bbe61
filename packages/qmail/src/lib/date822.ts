// SPDX-License-Identifier: MIT
import { localtime } from "@qts/sys/localtime";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** netqmail's unpatched date822fmt: `26 Sep 1995 04:46:54 -0000`, UTC, day not zero-padded. */
export function date822utc(unixMs: number = Date.now()): string {
  const d = new Date(unixMs);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(
    d.getUTCMinutes(),
  )}:${p2(d.getUTCSeconds())} -0000`;
}

/**
 * date822fmt with the date-localtime patch, which we
 * apply: `26 Sep 1995 00:46:54 -0400`, local time (TZ) with a numeric offset.
 * Used for every RFC 822 date qmail writes: Received lines, Date headers, bounces.
 */
export function date822(unixMs: number = Date.now()): string {
  // libc localtime_r, not Date's local getters: those load ICU's zone data, ~8 ms per program start.
  const t = localtime(Math.floor(unixMs / 1000));
  const sign = t.gmtoff < 0 ? "-" : "+";
  const a = Math.floor(Math.abs(t.gmtoff) / 60);
  return `${t.mday} ${MONTHS[t.mon]} ${t.year} ${p2(t.hour)}:${p2(t.min)}:${p2(t.sec)} ${sign}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
}

/** mbox From_ line date: `Sun Sep 26 04:46:54 1995` (day zero-padded, UTC). */
export function dateFromLine(unixMs: number = Date.now()): string {
  const d = new Date(unixMs);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(
    d.getUTCMinutes(),
  )}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}
