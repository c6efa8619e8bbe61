// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { check, libc } from "./ffi.ts";

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
