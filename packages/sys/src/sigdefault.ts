// SPDX-License-Identifier: MIT
import { libc, ptr } from "./ffi.ts";
import { sysno } from "./sysno.ts";

const c = libc({ syscall: { args: ["i64", "i64", "ptr", "ptr", "i64"], returns: "i64" } });

/**
 * Sets sig's disposition to SIG_DFL with the raw rt_sigaction system call.
 * glibc's sigaction() refuses its internal signals 32 and 33, yet a parent
 * can leave them ignored (GNU make does, for its recipes), and an ignored
 * disposition survives every execve down the chain. Returns false on failure.
 */
export function sigDefault(sig: number): boolean {
  // struct kernel_sigaction: handler (SIG_DFL = 0), flags, restorer, mask.
  const act = new BigUint64Array(4);
  return Number(c().syscall(BigInt(sysno("rt_sigaction")), BigInt(sig), ptr(act), null, 8n)) === 0;
}
