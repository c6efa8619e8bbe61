// SPDX-License-Identifier: MIT
import { check, errno, libc, ptr } from "./ffi.ts";

// Linux resource numbers (asm-generic/resource.h).
export const RLIMIT = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  RSS: 5,
  NPROC: 6,
  NOFILE: 7,
  MEMLOCK: 8,
  AS: 9,
} as const;

export const RLIM_INFINITY = 0xffffffffffffffffn;

const c = libc({
  getrlimit: { args: ["i32", "ptr"], returns: "i32" },
  setrlimit: { args: ["i32", "ptr"], returns: "i32" },
});

export interface Limit {
  soft: bigint;
  hard: bigint;
}

export function getrlimit(resource: number): Limit {
  const a = new BigUint64Array(2);
  check("getrlimit", c().getrlimit(resource, ptr(a)));
  return { soft: a[0] as bigint, hard: a[1] as bigint };
}

export function setrlimit(resource: number, lim: Limit): void {
  const a = new BigUint64Array([lim.soft, lim.hard]);
  check("setrlimit", c().setrlimit(resource, ptr(a)));
}

/**
 * setrlimit with its struct built now: the returned call allocates nothing
 * (softlimit applies limits Bun itself could not run under, right before
 * execve) and returns 0 or the errno.
 */
export function prepareSetrlimit(resource: number, lim: Limit): () => number {
  const a = new BigUint64Array([lim.soft, lim.hard]);
  const p = ptr(a);
  const lib = c();
  const set = () => (lib.setrlimit(resource, p) < 0 ? errno() : 0);
  // The struct lives as long as the call does (execraw.ts prepareExecve says why it must be held so).
  return Object.assign(set, { keep: a });
}
