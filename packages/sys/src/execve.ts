// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { SysError } from "@qts/core/errstr";
import { cstr, errno, libc } from "./ffi.ts";

const c = libc({ execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" } });

/** A NULL-terminated char*[] whose strings stay alive as long as the returned holder. */
function cArray(items: readonly string[]): { arr: BigUint64Array; keep: Buffer[] } {
  const keep = items.map(cstr);
  const arr = new BigUint64Array(items.length + 1);
  keep.forEach((b, i) => {
    arr[i] = BigInt(ptr(b));
  });
  return { arr, keep };
}

/**
 * libc execve(2), called directly. Bun's process.execve closes every fd above
 * 2 before exec [observed: an inherited fd 5 without FD_CLOEXEC was gone], so
 * setlock's lock fd, tcpclient's fds 6 and 7 and qmail-start's pipes would
 * not reach the next program. Returns only on failure, with a SysError.
 */
export function execve(file: string, argv: readonly string[], env: Record<string, string>): SysError {
  const a = cArray(argv);
  const e = cArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  c().execve(cstr(file), ptr(a.arr), ptr(e.arr));
  const err = new SysError("execve", errno());
  // Keep the buffers reachable until after the call.
  void a.keep.length;
  void e.keep.length;
  return err;
}
