// SPDX-License-Identifier: MIT
import { check, cstr, libc } from "./ffi.ts";

const c = libc({ mkfifo: { args: ["ptr", "u32"], returns: "i32" } });

/** mkfifo(path, mode); throws SysError (code EEXIST if it is there already). */
export function mkfifo(path: string, mode: number): void {
  check("mkfifo", c().mkfifo(cstr(path), mode));
}
