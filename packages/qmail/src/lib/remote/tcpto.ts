// SPDX-License-Identifier: MIT
// queue/lock/tcpto, qmail-1.03/netqmail's table of remote IPs that timed out
// (qmail-tcpto(8), tcpto.c): 1024 bytes, 64 records of 16 bytes. Record: IPv4 address
// in bytes 0-3, count of recent timeouts in byte 4, time of the last one in
// bytes 8-11 (little endian, unix seconds). Readers and writers hold an
// exclusive flock on a write-only descriptor of the file, as tcpto.c does.
import { join } from "@qts/core/path";
import { lockEx } from "@qts/sys/flock";
import { closeSync, constants, openSync, readSync, writeSync } from "@qts/sys/fs";

export const TCPTO_SIZE = 1024;
export const TCPTO_RECORD = 16;

export interface TcptoEntry {
  /** Record index (0..63). */
  index: number;
  /** Dotted quad. */
  ip: string;
  /** Byte 4, as an unsigned byte. */
  count: number;
  /** Unix seconds of the last timeout. */
  when: number;
}

/** Path of the table under a qmail home. */
export function tcptoPath(home: string): string {
  return join(home, "queue", "lock", "tcpto");
}

/** Opens the table write-only (no create) for the lock, as open_write does. Throws the open error. */
export function openLock(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
}

/** Reads up to 1024 bytes of the table while holding the lock fd (already locked). */
export function readRaw(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const b = Buffer.alloc(TCPTO_SIZE);
    const n = readSync(fd, b, 0, TCPTO_SIZE, null);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The whole records of a raw table (a short table has r >> 4 records). */
export function records(buf: Buffer): TcptoEntry[] {
  const out: TcptoEntry[] = [];
  const n = buf.length >> 4;
  for (let i = 0; i < n; i++) {
    const r = buf.subarray(i << 4, (i + 1) << 4);
    out.push({ index: i, ip: `${r[0]}.${r[1]}.${r[2]}.${r[3]}`, count: r[4] as number, when: r.readUInt32LE(8) });
  }
  return out;
}

function ipBytes(ip: string): number[] {
  return ip.split(".").map((x) => Number(x) & 255);
}

function withTable<X>(home: string, f: (fdlock: number, buf: Buffer) => X, none: X): X {
  const path = tcptoPath(home);
  let fdlock: number;
  try {
    fdlock = openLock(path);
  } catch {
    return none;
  }
  try {
    lockEx(fdlock);
    const buf = Buffer.from(readRaw(path));
    if (buf.length >> 4 === 0) return none;
    return f(fdlock, buf);
  } catch {
    return none;
  } finally {
    closeSync(fdlock);
  }
}

/**
 * tcpto(): true when ip should be skipped: it has 2 or more recent timeouts
 * and the last one is younger than (60 + (pid & 31)) << 6 seconds.
 * Also returns whether the ip was in the table (for err(..., false)).
 */
export function tcptoCheck(
  home: string,
  ip: string,
  now = Math.floor(Date.now() / 1000),
): { skip: boolean; there: boolean } {
  // The table's records hold IPv4 addresses (qmail-tcpto(8)); IPv6 ones are never recorded.
  if (ip.includes(":")) return { skip: false, there: false };
  const want = ipBytes(ip);
  return withTable(
    home,
    (_fd, buf) => {
      for (const e of records(buf)) {
        const r = buf.subarray(e.index << 4);
        if (r[0] === want[0] && r[1] === want[1] && r[2] === want[2] && r[3] === want[3]) {
          // byte 4 is a signed char in C
          const count = (r[4] as number) > 127 ? (r[4] as number) - 256 : (r[4] as number);
          const skip = count >= 2 && now - e.when < (60 + (process.pid & 31)) << 6;
          return { skip, there: true };
        }
      }
      return { skip: false, there: false };
    },
    { skip: false, there: false },
  );
}

/** The index of ip's record in the table, or -1 (tcpto_err's first loop). */
function findRecord(buf: Buffer, want: number[]): number {
  const n = buf.length >> 4;
  for (let i = 0; i < n; i++) {
    const r = buf.subarray(i << 4, (i + 1) << 4);
    if (r[0] === want[0] && r[1] === want[1] && r[2] === want[2] && r[3] === want[3]) return i;
  }
  return -1;
}

/**
 * ip's own record updated in place: a success clears the count, a timeout counts up (at most 10)
 * and stamps now. False when a timeout within 120 s of the last one leaves the record as it is.
 */
function updateRecord(r: Buffer, flagerr: boolean, now: number): boolean {
  if (!flagerr) r[4] = 0;
  else {
    const last = r.readUInt32LE(8);
    if (r[4] && now < 120 + last) return false;
    r[4] = Math.min((r[4] as number) + 1, 10);
    r.writeUInt32LE(now >>> 0, 8);
  }
  return true;
}

/** The record a new ip takes: the first with a zero count, else the smallest when + count*1024. */
function newRecord(buf: Buffer): number {
  const n = buf.length >> 4;
  let i = 0;
  while (i < n && buf[(i << 4) + 4]) i++;
  if (i < n) return i;
  let first = -1;
  let firstWhen = 0;
  for (let k = 0; k < n; k++) {
    const w = buf.readUInt32LE((k << 4) + 8) + ((buf[(k << 4) + 4] as number) << 10);
    if (first < 0 || w < firstWhen) {
      first = k;
      firstWhen = w;
    }
  }
  return first;
}

/**
 * tcpto_err(): records a connect timeout for ip (flagerr) or clears its
 * count after a success (only if it was there). A new ip takes a free
 * record, else the one with the smallest when + count*1024.
 */
export function tcptoErr(
  home: string,
  ip: string,
  flagerr: boolean,
  wasThere = true,
  now = Math.floor(Date.now() / 1000),
): void {
  if (!flagerr && !wasThere) return;
  if (ip.includes(":")) return;
  const want = ipBytes(ip);
  withTable(
    home,
    (fdlock, buf) => {
      const put = (i: number) => {
        writeSync(fdlock, buf, i << 4, 16, i << 4);
      };
      const found = findRecord(buf, want);
      if (found >= 0) {
        if (updateRecord(buf.subarray(found << 4, (found + 1) << 4), flagerr, now)) put(found);
        return undefined;
      }
      if (!flagerr) return undefined;
      const i = newRecord(buf);
      if (i >= 0) {
        const r = buf.subarray(i << 4, (i + 1) << 4);
        r.set(want, 0);
        r.writeUInt32LE(now >>> 0, 8);
        r[4] = 1;
        put(i);
      }
      return undefined;
    },
    undefined,
  );
}

/** qmail-tcpok / tcpto_clean: overwrite the table with 1024 zero bytes (fd is open for writing and locked). */
export function clearTable(fd: number): void {
  const zero = Buffer.alloc(TCPTO_SIZE);
  for (let at = 0; at < zero.length; ) at += writeSync(fd, zero, at, zero.length - at, at);
}
