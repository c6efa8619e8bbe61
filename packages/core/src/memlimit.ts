// SPDX-License-Identifier: MIT
// Memory limits (softlimit(8) -m, -a, -d) and the Bun runtime. At start-up,
// before any of our code runs, the runtime reserves address space: a first
// mimalloc arena of 1 GiB, a JIT pool of 1 GiB (JavaScriptCore turns its JIT
// off when that reservation fails, and bun:ffi refuses to work without the
// JIT) and a Structure heap of up to 4 GB (halved until it fits; Bun aborts
// when nothing fits). Both the address-space and the data limit count these
// reservations. Two variables, read from the environment before main(), make
// them fit: MIMALLOC_ARENA_RESERVE and BUN_JSC_jitMemoryReservationSize.
// Measured figures: BENCHMARKS.md, "Memory limits"; softlimit(8).
import { readFileSync } from "@qts/sys/fs";
import type { Env } from "./run.ts";

/** Below this limit (bytes) the runtime's default reservations may not fit: the variables are needed. */
export const ROOMY = 4294967296n;

/**
 * The least memory limit (bytes) our programs run under: tcpserver with
 * qmail-smtpd served a 20 MB message at this -m (BENCHMARKS.md, "Memory
 * limits"). Below it every program ends with one fatal line naming it.
 */
export const FLOOR = 400000000n;

/** What the environment needs under a limit below ROOMY (a 32 MiB JIT pool, 64 MiB mimalloc arenas). */
export const FIT_VARS: readonly (readonly [string, string])[] = [
  ["BUN_JSC_jitMemoryReservationSize", "33554432"],
  ["MIMALLOC_ARENA_RESERVE", "64MiB"],
];

/** True when env already has every FIT_VARS name (whatever the value: the administrator's word wins). */
export function hasFitVars(env: Env): boolean {
  return FIT_VARS.every(([k]) => env[k] !== undefined);
}

// JavaScript's white space (\s, trimStart) among the characters a latin1 read gives.
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

// Every program's start reads this: character loops, no regular expression, whose first use costs a
// start about 20 page faults (BENCHMARKS.md, "Start-up: lazy modules").
function soft(limits: string, label: string): bigint | undefined {
  const i = limits.indexOf(label);
  if (i < 0) return undefined;
  let at = i + label.length;
  while (at < limits.length && isSpace(limits.charCodeAt(at))) at++;
  let end = at;
  while (end < limits.length && !isSpace(limits.charCodeAt(end))) end++;
  if (end === at) return undefined;
  for (let k = at; k < end; k++) {
    const c = limits.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return BigInt(limits.slice(at, end));
}

/**
 * The memory limit in force: the lower of the soft RLIMIT_AS and RLIMIT_DATA,
 * from /proc/self/limits (no libc call, so it works before anything else);
 * undefined when neither is set.
 */
export function memLimit(): bigint | undefined {
  let t: string;
  try {
    t = readFileSync("/proc/self/limits", "latin1");
  } catch {
    return undefined;
  }
  const a = soft(t, "Max address space");
  const d = soft(t, "Max data size");
  if (a === undefined) return d;
  if (d === undefined) return a;
  if (d < a) return d;
  return a;
}

/** The one line for a limit below FLOOR (after "PROG: fatal: "). */
export function floorMessage(limit: bigint): string {
  return `memory limit ${limit} is too low: our programs need at least ${FLOOR} (softlimit -m ${FLOOR})`;
}

/** The one line when the limit left the runtime without its JIT and bun:ffi is needed. */
export function jitMessage(limit: bigint | undefined): string {
  return `memory limit ${limit ?? "(unknown)"} left Bun without the JIT that bun:ffi needs: start this program from our softlimit, or with ${FIT_VARS.map(([k, v]) => `${k}=${v}`).join(" ")} in its environment, or under a limit of at least ${ROOMY}`;
}
