// SPDX-License-Identifier: MIT
import { withRelay } from "@qts/core/conf";
import { SysError } from "@qts/core/errstr";
import { check, cstr, libc, ptr } from "./ffi.ts";
import { isSelfChild } from "./self.ts";

// glibc x86_64 sizes: posix_spawnattr_t 336, posix_spawn_file_actions_t 80, sigset_t 128 bytes.
const ATTR_SIZE = 336;
const ACTIONS_SIZE = 80;
const SETSIGDEF = 0x04;
const SETSIGMASK = 0x08;

const c = libc({
  posix_spawn: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  posix_spawnattr_init: { args: ["ptr"], returns: "i32" },
  posix_spawnattr_destroy: { args: ["ptr"], returns: "i32" },
  posix_spawnattr_setflags: { args: ["ptr", "i16"], returns: "i32" },
  posix_spawnattr_setsigdefault: { args: ["ptr", "ptr"], returns: "i32" },
  posix_spawnattr_setsigmask: { args: ["ptr", "ptr"], returns: "i32" },
  posix_spawn_file_actions_init: { args: ["ptr"], returns: "i32" },
  posix_spawn_file_actions_destroy: { args: ["ptr"], returns: "i32" },
  posix_spawn_file_actions_adddup2: { args: ["ptr", "i32", "i32"], returns: "i32" },
  posix_spawn_file_actions_addchdir_np: { args: ["ptr", "ptr"], returns: "i32" },
  posix_spawn_file_actions_addclose: { args: ["ptr", "i32"], returns: "i32" },
  posix_spawn_file_actions_addclosefrom_np: { args: ["ptr", "i32"], returns: "i32" },
});

function sigset(signals: readonly number[]): BigUint64Array {
  const s = new BigUint64Array(16);
  for (const n of signals)
    s[Math.floor((n - 1) / 64)] = (s[Math.floor((n - 1) / 64)] as bigint) | (1n << BigInt((n - 1) % 64));
  return s;
}

function cArray(items: readonly (string | Uint8Array)[]): { arr: BigUint64Array; keep: Buffer[] } {
  const keep = items.map((s) => (typeof s === "string" ? cstr(s) : Buffer.concat([s, Buffer.from([0])])));
  const arr = new BigUint64Array(items.length + 1);
  keep.forEach((b, i) => {
    arr[i] = BigInt(ptr(b));
  });
  return { arr, keep };
}

/** A posix_spawn error number as thrown by spawn(). */
function fail(name: string, r: number): void {
  if (r !== 0) throw new SysError(name, r);
}

export interface SpawnOptions {
  /** Child fd -> parent fd, applied with dup2 in order (the parent fd's FD_CLOEXEC does not matter). */
  dup2?: [child: number, parent: number][];
  /** Directory the child changes to before exec. */
  cwd?: string | Uint8Array;
  /** Signals reset to SIG_DFL in the child (an ignored signal stays ignored across exec otherwise). */
  sigDefault?: readonly number[];
  /** The child's signal mask as a raw sigset (exec.ts startSigMask()); empty when not given. */
  sigMask?: BigUint64Array;
  /**
   * When given, the child keeps no fd above 2 but these and the dup2 targets. A C program's child
   * inherits exactly what the program inherited and opened without FD_CLOEXEC; ours must not also
   * get what a runtime thread has open at that moment without it (JavaScriptCore reads
   * /proc/self/statm now and then: a tcpserver child once found it as its fd 13).
   */
  keepOnly?: readonly number[];
}

/** At most this many single close actions per spawn: each is an FFI call and a close(2) in the child. */
const GAP_MAX = 32;

/**
 * Close actions for every fd above 2 but keep: closefrom (glibc 2.34) above the highest kept fd, and one
 * close per gap below it when there are at most GAP_MAX gaps. A program that inherited a far fd (a shell's
 * fd 251, say) keeps only the closefrom: a few hundred actions would cost a connection 0.4 ms (measured).
 */
function closeOthers(actions: Uint8Array, keep: ReadonlySet<number>): void {
  let top = 2;
  for (const fd of keep) if (fd > top) top = fd;
  let gaps = top - 3;
  for (const fd of keep) if (fd >= 3 && fd < top) gaps--;
  if (gaps <= GAP_MAX) {
    // glibc's child ignores EBADF for a close action on a fd that is not open (spawni.c).
    for (let fd = 3; fd < top; fd++)
      if (!keep.has(fd))
        fail("posix_spawn_file_actions_addclose", c().posix_spawn_file_actions_addclose(ptr(actions), fd));
  }
  fail("posix_spawn_file_actions_addclosefrom_np", c().posix_spawn_file_actions_addclosefrom_np(ptr(actions), top + 1));
}

/**
 * posix_spawn(2) (glibc's clone(CLONE_VFORK)): runs file with argv and the
 * environment entries env ("NAME=value", raw bytes allowed), with an empty
 * signal mask. Unlike Bun.spawn it leaves ignored signals ignored, passes
 * every fd without FD_CLOEXEC through, and keeps the rlimits, as fork+exec
 * in C does. Bun does not reap such a child: use waitpid.ts. Throws
 * SysError with the exec error (ENOENT, EACCES, ENOEXEC...) when the child
 * could not run file; glibc has then reaped it. A string is text (UTF-8), a
 * Uint8Array goes out byte for byte (file, arguments and entries alike). When
 * file is our own binary, env gets core/conf.ts's JSC_OPTIONS (and START_OPTIONS
 * when argv names a program that ends soon).
 */
export function spawn(
  file: string | Uint8Array,
  argv: readonly (string | Uint8Array)[],
  env: readonly (string | Uint8Array)[],
  opts: SpawnOptions = {},
): number {
  const attr = new Uint8Array(ATTR_SIZE);
  const actions = new Uint8Array(ACTIONS_SIZE);
  const a = cArray(argv);
  const e = cArray(isSelfChild(file, opts.cwd) ? withRelay(env, argv) : env);
  const path = typeof file === "string" ? cstr(file) : Buffer.concat([file, Buffer.from([0])]);
  const dir =
    opts.cwd === undefined
      ? undefined
      : typeof opts.cwd === "string"
        ? cstr(opts.cwd)
        : Buffer.concat([opts.cwd, Buffer.from([0])]);
  const pid = new Int32Array(1);
  fail("posix_spawnattr_init", c().posix_spawnattr_init(ptr(attr)));
  fail("posix_spawn_file_actions_init", c().posix_spawn_file_actions_init(ptr(actions)));
  try {
    fail("posix_spawnattr_setflags", c().posix_spawnattr_setflags(ptr(attr), SETSIGDEF | SETSIGMASK));
    fail(
      "posix_spawnattr_setsigdefault",
      c().posix_spawnattr_setsigdefault(ptr(attr), ptr(sigset(opts.sigDefault ?? []))),
    );
    fail("posix_spawnattr_setsigmask", c().posix_spawnattr_setsigmask(ptr(attr), ptr(opts.sigMask ?? sigset([]))));
    for (const [to, from] of opts.dup2 ?? []) {
      fail("posix_spawn_file_actions_adddup2", c().posix_spawn_file_actions_adddup2(ptr(actions), from, to));
    }
    if (opts.keepOnly) closeOthers(actions, new Set([...opts.keepOnly, ...(opts.dup2 ?? []).map(([to]) => to)]));
    if (dir)
      fail("posix_spawn_file_actions_addchdir_np", c().posix_spawn_file_actions_addchdir_np(ptr(actions), ptr(dir)));
    fail("posix_spawn", c().posix_spawn(ptr(pid), ptr(path), ptr(actions), ptr(attr), ptr(a.arr), ptr(e.arr)));
  } finally {
    c().posix_spawn_file_actions_destroy(ptr(actions));
    c().posix_spawnattr_destroy(ptr(attr));
  }
  void a.keep.length;
  void e.keep.length;
  return check("posix_spawn", pid[0] as number);
}
