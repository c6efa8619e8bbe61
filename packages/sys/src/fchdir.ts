// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { check, libc } from "./ffi.ts";

const c = libc({
  fchdir: { args: ["i32"], returns: "i32" },
  chdir: { args: ["ptr"], returns: "i32" },
});

/** fchdir(fd): back to a directory opened earlier (svc and svstat return to their start dir this way). */
export function fchdir(fd: number): void {
  check("fchdir", c().fchdir(fd));
}

/** chdir(2) to a path given as bytes (process.chdir takes text: a name that is not UTF-8 would change). */
export function chdirBytes(path: Uint8Array): void {
  check("chdir", c().chdir(ptr(Buffer.concat([path, Buffer.from([0])]))));
}
