// SPDX-License-Identifier: MIT
import { libc, ptr } from "./ffi.ts";

const c = libc({
  localtime_r: { args: ["ptr", "ptr"], returns: "ptr" },
  tzset: { args: [], returns: "void" },
});

export interface Tm {
  sec: number;
  min: number;
  hour: number;
  mday: number;
  /** 0..11 */
  mon: number;
  /** full year */
  year: number;
  /** 0 = Sunday */
  wday: number;
  /** seconds east of UTC */
  gmtoff: number;
}

let tzDone = false;

/**
 * libc localtime_r (TZ, /etc/localtime): a few microseconds, where the first
 * local-time call on a JS Date loads ICU's zone data (about 8 ms of CPU at
 * start-up) in every short-lived program that writes a Date or Received line.
 */
export function localtime(unixSec: number): Tm {
  if (!tzDone) {
    c().tzset();
    tzDone = true;
  }
  const t = new BigInt64Array([BigInt(Math.floor(unixSec))]);
  const tm = new Int32Array(14);
  c().localtime_r(ptr(t), ptr(tm));
  const off = new BigInt64Array(tm.buffer, 40, 1)[0] as bigint;
  return {
    sec: tm[0] as number,
    min: tm[1] as number,
    hour: tm[2] as number,
    mday: tm[3] as number,
    mon: tm[4] as number,
    year: (tm[5] as number) + 1900,
    wday: tm[6] as number,
    gmtoff: Number(off),
  };
}
