// SPDX-License-Identifier: MIT

import { toArrayBuffer } from "bun:ffi";
import { captureRaw } from "@qts/core/bytes";
import { readFileSync } from "./fs.ts";

/**
 * The process's original argv area (what ps shows as its command line), as
 * writable memory: /proc/self/stat fields 48 and 49 are arg_start and
 * arg_end. readproctitle overwrites it; its size is fixed at exec time.
 */
function argvArea(): Uint8Array {
  const stat = readFileSync("/proc/self/stat", "latin1");
  // Field 2 (comm) may hold spaces; fields after it are split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3, so field N is fields[N - 3].
  const start = Number(fields[48 - 3]);
  const end = Number(fields[49 - 3]);
  if (!(start > 0 && end > start)) throw new Error("no argv area in /proc/self/stat");
  return new Uint8Array(toArrayBuffer(start, 0, end - start));
}

/** Size in bytes of the argv area (including the final NUL). */
export function proctitleSize(): number {
  return argvArea().length;
}

/**
 * Replaces the visible command line with title, truncated to fit and padded
 * with NULs, so `ps` and /proc/PID/cmdline show it.
 */
export function setProctitle(title: Uint8Array | string): void {
  // The arguments' bytes are read before they are overwritten (core/bytes.ts).
  captureRaw();
  const area = argvArea();
  const bytes = typeof title === "string" ? Buffer.from(title) : title;
  const n = Math.min(bytes.length, area.length - 1);
  area.set(bytes.subarray(0, n), 0);
  area.fill(0, n);
}
