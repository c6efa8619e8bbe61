// SPDX-License-Identifier: MIT
// Memory at rest for the programs that stay up (svscan, supervise, multilog,
// qmail-send and its helpers, tcpserver): once a program has been quiet for
// QUIET ms after its start-up, and again after each burst of work, it gives
// back the pages of the executable that start-up or the burst faulted in
// (sys/trim.ts's trimResident(); the entry, scripts/multicall.ts, registers it:
// core does not load bun:ffi). Event-driven: boot.ts arms one timer at
// start-up, and a daemon re-arms it when it works (worked(): a connection, a
// delivery, a child's end, a control command, a chunk of log). The timer
// fires once, QUIET ms after the last work; a daemon at rest has no timer of
// ours. A program that ends sooner never trims. Figures: BENCHMARKS.md,
// "Memory at rest, 2026-12-07 evening".
import { readFileSync } from "@qts/sys/fs";

/** How long a program must have done no work before it gives back (ms). */
export const QUIET = 3000;
/** Resident file pages (4 KiB) a burst must have faulted in since the last trim for another one. */
const GROWTH = 256;

let trim: (() => number) | undefined;
let on = false;
let timer: ReturnType<typeof setTimeout> | undefined;
/** Resident file pages right after the last trim; -1 before the first. */
let base = -1;

/** Registers how to give back (the entry passes sys's trimResident). */
export function setTrim(f: () => number): void {
  trim = f;
}

/** Resident file-backed pages, from /proc/self/statm's third field; -1 when unreadable. */
function filePages(): number {
  try {
    return Number(readFileSync("/proc/self/statm", "latin1").split(" ")[2] ?? -1);
  } catch {
    return -1;
  }
}

function settle(): void {
  timer = undefined;
  restNow();
}

/**
 * Called by boot.ts once bun:ffi is known to work (without the JIT, a bun:ffi call would end the
 * program): from now on the program gives back, first QUIET ms after its start-up.
 */
export function restAfterStart(): void {
  if (!trim) return;
  on = true;
  worked();
}

/**
 * The program did some work: it gives back once QUIET ms pass without more. Re-arms the one timer
 * (never more than one, never periodic); the timer never keeps the process up.
 */
export function worked(): void {
  if (!on) return;
  if (timer) timer.refresh();
  else {
    timer = setTimeout(settle, QUIET);
    timer.unref();
  }
}

/**
 * Gives back now: the first time, and after that whenever GROWTH more file pages are resident than
 * right after the last time.
 */
export function restNow(): void {
  if (!on || !trim) return;
  if (timer) {
    clearTimeout(timer);
    timer = undefined;
  }
  const now = filePages();
  if (base >= 0 && now >= 0 && now - base < GROWTH) return;
  trim();
  base = filePages();
}

/**
 * For a program about to block in a synchronous read (no timer fires while it blocks): waits up to
 * QUIET ms for input with wait(ms) (true: input came), and gives back (restNow) when none came. A
 * busy program is handed input sooner and pays nothing. An error of wait is left to the read.
 */
export function restUnlessBusy(wait: (ms: number) => boolean): void {
  if (!on || !trim) return;
  try {
    if (!wait(QUIET)) restNow();
  } catch {}
}
