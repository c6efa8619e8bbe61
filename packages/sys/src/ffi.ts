// SPDX-License-Identifier: MIT
// The one loader of libc for the whole tree: each sys file declares the
// symbols it needs and gets them on first use (dlopen costs ~0.3 ms).
import type { FFIFunction, Pointer } from "bun:ffi";
import { getProg, writeAll } from "@qts/core/die";
import { SysError } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { jitMessage, memLimit } from "@qts/core/memlimit";
import { exit } from "@qts/core/run";

const LIBC = "libc.so.6";

type Ffi = typeof import("bun:ffi");
let ffi: Ffi | undefined;

/**
 * bun:ffi itself, loaded on first use: each program is one bundle (scripts/build.ts), so a static
 * import here would load it at every start, also for the programs that call no libc function
 * (the sys files that every bundle holds for SIGPIPE and RLIMIT_NOFILE import it through here).
 */
export function bunFfi(): Ffi {
  ffi ??= require("bun:ffi") as Ffi;
  return ffi;
}

/** bun:ffi's ptr(), through bunFfi(). */
export function ptr(view: NodeJS.TypedArray | ArrayBufferLike | DataView, byteOffset?: number): Pointer {
  return bunFfi().ptr(view, byteOffset);
}

export function libc<const T extends Record<string, FFIFunction>>(symbols: T) {
  let lib: ReturnType<typeof open<T>> | undefined;
  return () => {
    lib ??= open(symbols);
    return lib.symbols;
  };
}

function open<const T extends Record<string, FFIFunction>>(symbols: T) {
  try {
    return bunFfi().dlopen(LIBC, symbols);
  } catch (e) {
    // A memory limit made the runtime start without its JIT (core/memlimit.ts): one line, as C would
    // say it cannot allocate, never a stack trace from wherever the first call happened to be.
    if (/requires the JIT/.test((e as Error | undefined)?.message ?? "")) {
      try {
        writeAll(2, `${getProg()}: fatal: ${jitMessage(memLimit())}\n`);
      } catch {}
      exit(EXIT_TEMP);
    }
    throw e;
  }
}

const errnoLib = libc({ __errno_location: { args: [], returns: "ptr" } });

/** The calling thread's errno, read right after a failed libc call. */
export function errno(): number {
  const p = errnoLib().__errno_location();
  return p ? bunFfi().read.i32(p, 0) : 0;
}

/** Sets errno to 0, for calls whose failure is only visible through errno. */
export function clearErrno(): void {
  const p = errnoLib().__errno_location();
  if (p) new Int32Array(bunFfi().toArrayBuffer(p, 0, 4))[0] = 0;
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
