// SPDX-License-Identifier: MIT
import { check, cstr, libc } from "./ffi.ts";

const PR_SET_NAME = 15;

const c = libc({ prctl: { args: ["i32", "ptr", "u64", "u64", "u64"], returns: "i32" } });

/**
 * Sets the name ps, pstree and /proc/PID/comm show (15 bytes at most), so a
 * process shows as "supervise", never "bun". Only the calling thread is renamed;
 * the main thread's name is the process's.
 */
export function setProcName(name: string): void {
  check("prctl", c().prctl(PR_SET_NAME, cstr(name.slice(0, 15)), 0n, 0n, 0n));
}
