// SPDX-License-Identifier: MIT
// The one loader of libc for the whole tree: each sys file declares the
// symbols it needs and gets them on first use (dlopen costs ~0.3 ms).
import { dlopen, type FFIFunction, read, toArrayBuffer } from "bun:ffi";
import { SysError } from "@qts/core/errstr";

const LIBC = "libc.so.6";

export function libc<const T extends Record<string, FFIFunction>>(symbols: T) {
  let lib: ReturnType<typeof dlopen<T>> | undefined;
  return () => {
    lib ??= dlopen(LIBC, symbols);
    return lib.symbols;
  };
}

const errnoLib = libc({ __errno_location: { args: [], returns: "ptr" } });

/** The calling thread's errno, read right after a failed libc call. */
export function errno(): number {
  const p = errnoLib().__errno_location();
  return p ? read.i32(p, 0) : 0;
}

/** Sets errno to 0, for calls whose failure is only visible through errno. */
export function clearErrno(): void {
  const p = errnoLib().__errno_location();
  if (p) new Int32Array(toArrayBuffer(p, 0, 4))[0] = 0;
}

/** Throws SysError(name, errno) when r is negative, like DJB's "if (x == -1) strerr_die...". */
export function check(name: string, r: number): number {
  if (r < 0) throw new SysError(name, errno());
  return r;
}

/** A NUL-terminated copy of s, for char* arguments. */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}
