// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

const c = libc({ fchdir: { args: ["i32"], returns: "i32" } });

/** fchdir(fd): back to a directory opened earlier (svc and svstat return to their start dir this way). */
export function fchdir(fd: number): void {
  check("fchdir", c().fchdir(fd));
}
