// SPDX-License-Identifier: MIT
// System call numbers for the raw calls glibc would otherwise apply to every
// thread or wrap (rt_sigaction with its restorer, per-thread credentials).
// Linux numbers them per architecture.
const TABLE = {
  x64: {
    rt_sigaction: 13,
    getgroups: 115,
    setgroups: 116,
    setresuid: 117,
    getresuid: 118,
    setresgid: 119,
    getresgid: 120,
  },
  arm64: {
    rt_sigaction: 134,
    getgroups: 158,
    setgroups: 159,
    setresuid: 147,
    getresuid: 148,
    setresgid: 149,
    getresgid: 150,
  },
} as const;

export type SysCall = keyof (typeof TABLE)["x64"];

/** The number of a raw system call on this machine's architecture. */
export function sysno(name: SysCall): number {
  const t = TABLE[process.arch as keyof typeof TABLE];
  if (!t) throw new Error(`no system call table for ${process.arch}`);
  return t[name];
}
