// SPDX-License-Identifier: MIT
import { getrlimit, RLIMIT, setrlimit } from "./rlimit.ts";

/** Puts the soft RLIMIT_NOFILE back to soft (never above the hard limit). */
export function restoreNofile(soft: bigint): void {
  try {
    const cur = getrlimit(RLIMIT.NOFILE);
    const s = soft > cur.hard ? cur.hard : soft;
    if (s !== cur.soft) setrlimit(RLIMIT.NOFILE, { soft: s, hard: cur.hard });
  } catch {
    // Best effort: a failure leaves Bun's raised limit, as before.
  }
}
