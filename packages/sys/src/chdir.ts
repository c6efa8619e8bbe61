// SPDX-License-Identifier: MIT

import { isUtf8 } from "@qts/core/bytes";
import { check, libc, ptr } from "./ffi.ts";

const c = libc({
  chdir: { args: ["ptr"], returns: "i32" },
});

/**
 * chdir(2) to a path given as bytes. process.chdir takes text, so a name that is not valid UTF-8
 * (it would change) or holds a NUL (C stops there) goes through libc's chdir; any other through
 * process.chdir, with no libc binding.
 */
export function chdirBytes(path: Uint8Array): void {
  if (isUtf8(path) && !path.includes(0)) {
    process.chdir(Buffer.from(path.buffer, path.byteOffset, path.length).toString());
    return;
  }
  check("chdir", c().chdir(ptr(Buffer.concat([path, Buffer.from([0])]))));
}
