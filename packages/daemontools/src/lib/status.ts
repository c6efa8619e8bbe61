// SPDX-License-Identifier: MIT
// supervise/status, 18 bytes (supervise.c's announce()): TAI64N of the last
// pid change (12 bytes, big-endian), pid (4 bytes, little-endian), paused, want.
import { unable } from "@qts/core/die";
import { closeSync, constants, openSync, renameSync, writeSync } from "@qts/sys/fs";
import { now, pack, type Tain, unpack } from "@qts/tai64/tai64";

export const STATUS_SIZE = 18;

export interface Status {
  when: Tain;
  pid: number;
  paused: boolean;
  /** "u", "d", or "" for once (svc -o). */
  want: "u" | "d" | "";
}

export function encodeStatus(s: Status): Uint8Array {
  const b = new Uint8Array(STATUS_SIZE);
  pack(s.when, b, 0);
  const v = new DataView(b.buffer);
  v.setUint32(12, s.pid >>> 0, true);
  b[16] = s.pid && s.paused ? 1 : 0;
  b[17] = s.want === "" ? 0 : s.want.charCodeAt(0);
  return b;
}

export interface RawStatus {
  when: Tain;
  pid: number;
  paused: number;
  want: number;
}

export function decodeStatus(b: Uint8Array): RawStatus {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { when: unpack(b, 0), pid: v.getUint32(12, true), paused: b[16] as number, want: b[17] as number };
}

/**
 * Writes status.new then renames it over status, as supervise's announce();
 * returns the warning text (without the "supervise: warning: " prefix) on failure.
 */
export function writeStatus(dir: string, data: Uint8Array): string | undefined {
  let fd: number;
  try {
    fd = openSync(
      "supervise/status.new",
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK,
      0o644,
    );
  } catch (e) {
    return unable(`open ${dir}/supervise/status.new`, e);
  }
  let n: number;
  try {
    n = writeSync(fd, data);
  } catch (e) {
    closeSync(fd);
    return unable(`write ${dir}/supervise/status.new`, e);
  }
  closeSync(fd);
  if (n < data.length) return unable(`write ${dir}/supervise/status.new: partial write`);
  try {
    renameSync("supervise/status.new", "supervise/status");
  } catch (e) {
    return unable(`rename ${dir}/supervise/status.new to status`, e);
  }
  return undefined;
}

/**
 * svstat's text after "DIR: " for a status record (svstat(8)); normallyUp is
 * whether DIR/down is absent.
 */
export function statusText(s: RawStatus, normallyUp: boolean, at: Tain = now()): string {
  let when = s.when.sec;
  if (at.sec < when) when = at.sec;
  const secs = at.sec - when;
  let out = s.pid ? `up (pid ${s.pid}) ` : "down ";
  out += `${secs} seconds`;
  if (s.pid && !normallyUp) out += ", normally down";
  if (!s.pid && normallyUp) out += ", normally up";
  if (s.pid && s.paused) out += ", paused";
  if (!s.pid && s.want === 0x75) out += ", want up";
  if (s.pid && s.want === 0x64) out += ", want down";
  return out;
}
