// SPDX-License-Identifier: MIT
// Settings shared by every suite, defined once (qmail's own build-time
// settings, its conf-* files, are in qmail/src/lib/conf.ts). Here because
// core, sys and daemontools all read or write them, and core is the one
// package below all three.

/**
 * Bun raises the soft RLIMIT_NOFILE to the hard limit at start-up; a chain
 * like `softlimit -o 20 tcpserver` must still hold the lower limit. sys's
 * exec passes the intended soft limit in this variable when it execs one of
 * ours, boot.ts puts it back and removes the variable, and no C program (nor
 * any environment a program prints or hands on) ever sees it.
 */
export const NOFILE_VAR = "QTS_NOFILE";

/**
 * JavaScriptCore options a program of ours starts with when one of ours
 * starts it. The runtime reads them from the environment before any code of
 * ours runs, so no program can set them for itself: sys's exec and spawn add
 * each one that the environment does not name already, with JSC_MARK naming
 * what they added, to the environment of a child that is our own binary.
 * boot.ts removes what the mark names, and the mark, so no program of ours
 * sees them, prints them or hands them on (qts(8)). Figures: BENCHMARKS.md,
 * "The JSCWarmUp relay".
 */
export const JSC_OPTIONS: readonly (readonly [string, string])[] = [
  // The JSCWarmUp thread (WebKit's FastMallocAlignedMemoryAllocator.cpp) starts once the heap passes
  // about 1 MB and pre-faults heap blocks that a short-lived program never uses: 4-6 ms of CPU and
  // about 0.4 MB per start.
  ["BUN_JSC_useWarmUpMarkedBlocks", "0"],
  // Two JITWorker threads, whose stacks and queues a daemon keeps for its whole life: about 0.3 MB
  // each process. What a program compiles is compiled on its own thread instead.
  ["BUN_JSC_useConcurrentJIT", "0"],
];
export const JSC_MARK = "QTS_JSC";
const JSC_NAMES = new Set(JSC_OPTIONS.map(([k]) => k));

/** Whether entry ("NAME=value", text or bytes) is a variable called name. */
function isVar(entry: string | Uint8Array, name: string): boolean {
  if (typeof entry === "string")
    return entry.length > name.length && entry[name.length] === "=" && entry.startsWith(name);
  if (entry.length <= name.length || entry[name.length] !== 0x3d) return false;
  for (let i = 0; i < name.length; i++) if (entry[i] !== name.charCodeAt(i)) return false;
  return true;
}

/** The options a mark's value (JSC_MARK) says a relay added: only names of JSC_OPTIONS count. */
export function markedOptions(mark: string | undefined): string[] {
  return mark === undefined ? [] : mark.split(",").filter((n) => JSC_NAMES.has(n));
}

/** An entry's text, a byte per character. */
function latin1(entry: string | Uint8Array): string {
  return typeof entry === "string" ? entry : Buffer.from(entry).toString("latin1");
}

/** Environment entries as a process of ours was started with them, without what the relays added. */
export function withoutRelay<T extends string | Uint8Array>(entries: readonly T[]): T[] {
  const mark = entries.find((e) => isVar(e, JSC_MARK));
  const added = markedOptions(mark === undefined ? undefined : latin1(mark).slice(JSC_MARK.length + 1));
  return entries.filter((e) => !isVar(e, NOFILE_VAR) && !isVar(e, JSC_MARK) && !added.some((n) => isVar(e, n)));
}

/** The entries that give a child of ours each of JSC_OPTIONS that env does not name, and the mark listing them. */
export function jscEntries(env: readonly (string | Uint8Array)[]): string[] {
  const add = JSC_OPTIONS.filter(([k]) => !env.some((e) => isVar(e, k)));
  if (add.length === 0) return [];
  return [...add.map(([k, v]) => `${k}=${v}`), `${JSC_MARK}=${add.map(([k]) => k).join(",")}`];
}

/** env with jscEntries(env) added. */
export function withJscOptions(env: readonly (string | Uint8Array)[]): (string | Uint8Array)[] {
  return [...env, ...jscEntries(env)];
}
