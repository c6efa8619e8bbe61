// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

const c = libc({
  dup: { args: ["i32"], returns: "i32" },
  dup2: { args: ["i32", "i32"], returns: "i32" },
});

/** dup(fd): a new fd (lowest free number, FD_CLOEXEC clear) for the same open file. */
export function dup(fd: number): number {
  return check("dup", c().dup(fd));
}

/** dup2(from, to): to becomes a copy of from (FD_CLOEXEC clear on to). */
export function dup2(from: number, to: number): void {
  check("dup2", c().dup2(from, to));
}
