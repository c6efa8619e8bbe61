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
 * JavaScriptCore's JSCWarmUp thread (WebKit's FastMallocAlignedMemoryAllocator.cpp)
 * starts once a program's heap passes about 1 MB, and pre-faults heap blocks
 * that a short-lived program never uses: 4-6 ms of CPU and about 0.4 MB per
 * start (BENCHMARKS.md). The runtime reads the option that turns it off from
 * the environment before any code of ours runs, so no program can set it for
 * itself. sys's exec and spawn add it, with WARMUP_MARK to say they did, to
 * the environment of a child that is our own binary, unless that environment
 * names the option already; boot.ts removes both, so no program of ours sees
 * them, prints them or hands them on.
 */
export const WARMUP_VAR = "BUN_JSC_useWarmUpMarkedBlocks";
export const WARMUP_MARK = "QTS_WARMUP";
const WARMUP_ADDED = [`${WARMUP_VAR}=0`, `${WARMUP_MARK}=1`];

/** Whether entry ("NAME=value", text or bytes) is a variable called name. */
function isVar(entry: string | Uint8Array, name: string): boolean {
  if (typeof entry === "string")
    return entry.length > name.length && entry[name.length] === "=" && entry.startsWith(name);
  if (entry.length <= name.length || entry[name.length] !== 0x3d) return false;
  for (let i = 0; i < name.length; i++) if (entry[i] !== name.charCodeAt(i)) return false;
  return true;
}

/** Environment entries as a process of ours was started with them, without what the relays above added. */
export function withoutRelay<T extends string | Uint8Array>(entries: readonly T[]): T[] {
  const marked = entries.some((e) => isVar(e, WARMUP_MARK));
  return entries.filter((e) => !isVar(e, NOFILE_VAR) && !isVar(e, WARMUP_MARK) && !(marked && isVar(e, WARMUP_VAR)));
}

/** env with the option that turns JSCWarmUp off and its mark added, unless env names the option already. */
export function warmUpOff(env: readonly (string | Uint8Array)[]): (string | Uint8Array)[] {
  return env.some((e) => isVar(e, WARMUP_VAR)) ? [...env] : [...env, ...WARMUP_ADDED];
}
