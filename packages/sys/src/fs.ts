// SPDX-License-Identifier: MIT
// node:fs's synchronous calls, as every program of ours uses them, made
// straight through libc. Loading node:fs costs a start about 150 page faults
// and 420 KB of JavaScript heap (BENCHMARKS.md, "Start-up: files without
// node:fs"), more than half of what our smallest programs add to an empty one.
// Same names, same arguments, same results and the same errors (code, errno,
// syscall, path) as node:fs, so a module swaps its import and nothing else.
//
// When bun:ffi cannot run (a memory limit left the runtime without its JIT:
// core/memlimit.ts), every call goes to node:fs itself, so that a program
// still reads /proc/self/limits and says what it needs. The calls used once
// in a while (copyFileSync, utimesSync, an async read, mkdir -p) are
// node:fs's own, loaded on first use.
//
// This file imports nothing of ours but consts.ts (plain numbers): core uses it (ARCHITECTURE.md).
import type * as NodeFs from "node:fs";
import { O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } from "./consts.ts";

type Ffi = typeof import("bun:ffi");
type PathLike = string | Buffer | Uint8Array;
type Encoding = BufferEncoding | "buffer" | null | undefined;

const ARM64 = process.arch === "arm64";

/** node:fs's constants that our programs use, with Linux's values (fcntl.h, sys/stat.h, unistd.h). */
export const constants = {
  O_RDONLY,
  O_WRONLY,
  O_RDWR: 2,
  O_CREAT,
  O_EXCL,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK,
  O_DSYNC: 0o10000,
  O_SYNC: 0o4010000,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_NOATIME: 0o1000000,
  S_IFMT: 0o170000,
  S_IFREG: 0o100000,
  S_IFDIR: 0o40000,
  S_IFCHR: 0o20000,
  S_IFBLK: 0o60000,
  S_IFIFO: 0o10000,
  S_IFLNK: 0o120000,
  S_IFSOCK: 0o140000,
  F_OK: 0,
  R_OK: 4,
  W_OK: 2,
  X_OK: 1,
} as const;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const PATH_MAX = 4096;
// errno values the calls below look at (asm-generic/errno-base.h: the same on x86_64 and arm64).
const EINTR = 4;
const ENOENT = 2;

// ---- the backends --------------------------------------------------------------------------------

let nodeFs: typeof NodeFs | undefined;
/** node:fs itself, for the rare calls and for a runtime without its JIT. */
function node(): typeof NodeFs {
  nodeFs ??= require("node:fs") as typeof NodeFs;
  return nodeFs;
}

/** node:fs for the fallbacks, whose arguments are ours passed on unchanged. */
function loose(): Record<keyof typeof NodeFs, (...a: unknown[]) => never> {
  return node() as unknown as Record<keyof typeof NodeFs, (...a: unknown[]) => never>;
}

const SYMBOLS = {
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  pread: { args: ["i32", "ptr", "u64", "i64"], returns: "i64" },
  pwrite: { args: ["i32", "ptr", "u64", "i64"], returns: "i64" },
  fstatat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
  unlink: { args: ["ptr"], returns: "i32" },
  rename: { args: ["ptr", "ptr"], returns: "i32" },
  link: { args: ["ptr", "ptr"], returns: "i32" },
  fsync: { args: ["i32"], returns: "i32" },
  mkdir: { args: ["ptr", "u32"], returns: "i32" },
  rmdir: { args: ["ptr"], returns: "i32" },
  access: { args: ["ptr", "i32"], returns: "i32" },
  readlink: { args: ["ptr", "ptr", "u64"], returns: "i64" },
  realpath: { args: ["ptr", "ptr"], returns: "ptr" },
  chmod: { args: ["ptr", "u32"], returns: "i32" },
  fchmod: { args: ["i32", "u32"], returns: "i32" },
  fchown: { args: ["i32", "u32", "u32"], returns: "i32" },
  ftruncate: { args: ["i32", "i64"], returns: "i32" },
  getdents64: { args: ["i32", "ptr", "u64"], returns: "i64" },
  __errno_location: { args: [], returns: "ptr" },
} as const satisfies Record<string, import("bun:ffi").FFIFunction>;

let ffi: Ffi | undefined;
let lib: Libc | null | undefined;

/** libc through bun:ffi, or null when bun:ffi cannot run here (then node:fs does the work). */
function libc(): Libc | null {
  if (lib !== undefined) return lib;
  try {
    ffi = require("bun:ffi") as Ffi;
    lib = ffi.dlopen("libc.so.6", SYMBOLS).symbols as unknown as Libc;
  } catch {
    lib = null;
  }
  return lib;
}

// Typed views of the calls (bun:ffi's own types are too loose to help here).
type Ptr = Uint8Array | number | null;
interface Libc {
  open(p: Ptr, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, b: Ptr, n: number): number | bigint;
  write(fd: number, b: Ptr, n: number): number | bigint;
  pread(fd: number, b: Ptr, n: number, at: number | bigint): number | bigint;
  pwrite(fd: number, b: Ptr, n: number, at: number | bigint): number | bigint;
  fstatat(dirfd: number, p: Ptr, st: Ptr, flags: number): number;
  unlink(p: Ptr): number;
  rename(a: Ptr, b: Ptr): number;
  link(a: Ptr, b: Ptr): number;
  fsync(fd: number): number;
  mkdir(p: Ptr, mode: number): number;
  rmdir(p: Ptr): number;
  access(p: Ptr, mode: number): number;
  readlink(p: Ptr, b: Ptr, n: number): number | bigint;
  realpath(p: Ptr, b: Ptr): number | null;
  chmod(p: Ptr, mode: number): number;
  fchmod(fd: number, mode: number): number;
  fchown(fd: number, uid: number, gid: number): number;
  ftruncate(fd: number, len: number | bigint): number;
  getdents64(fd: number, b: Ptr, n: number): number | bigint;
  __errno_location(): number | null;
}

function errno(l: Libc): number {
  const p = l.__errno_location();
  return p && ffi ? ffi.read.i32(p, 0) : 0;
}

// ---- errors, as node:fs makes them ---------------------------------------------------------------

// Linux's errno names and libuv's wording (uv-common.c's uv_strerror), which node:fs's messages use.
// The same numbers on x86_64 and arm64 (asm-generic/errno*.h). Others are looked up in node:os.
const ERRNO = (): Record<number, [string, string]> => ({
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "i/o error"],
  6: ["ENXIO", "no such device or address"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "not enough memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address in system call argument"],
  16: ["EBUSY", "resource busy or locked"],
  17: ["EEXIST", "file already exists"],
  18: ["EXDEV", "cross-device link not permitted"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "illegal operation on a directory"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "file table overflow"],
  24: ["EMFILE", "too many open files"],
  26: ["ETXTBSY", "text file is busy"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  29: ["ESPIPE", "invalid seek"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  32: ["EPIPE", "broken pipe"],
  36: ["ENAMETOOLONG", "name too long"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many symbolic links encountered"],
  95: ["EOPNOTSUPP", "operation not supported on socket"],
  104: ["ECONNRESET", "connection reset by peer"],
  110: ["ETIMEDOUT", "connection timed out"],
  122: ["EDQUOT", "disk quota exceeded"],
});

let errnoTable: Record<number, [string, string]> | undefined;

function describeErrno(n: number): [string, string] {
  errnoTable ??= ERRNO();
  const known = errnoTable[n];
  if (known) return known;
  const byName = (require("node:os") as typeof import("node:os")).constants.errno as Record<string, number>;
  const name = Object.keys(byName).find((k) => byName[k] === n) ?? `E${n}`;
  return [name, "unknown error"];
}

function pathText(p: PathLike | undefined): string | undefined {
  if (p === undefined) return undefined;
  return typeof p === "string" ? p : Buffer.from(p).toString();
}

/** An error as node:fs throws it: code "ENOENT", errno -2, syscall, path (and dest). */
export class FsError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;
  constructor(n: number, syscall: string, path?: PathLike, dest?: PathLike) {
    const [code, text] = describeErrno(n);
    const p = pathText(path);
    const d = pathText(dest);
    let msg = `${code}: ${text}, ${syscall}`;
    if (p !== undefined) msg += ` '${p}'`;
    if (d !== undefined) msg += ` -> '${d}'`;
    super(msg);
    this.code = code;
    this.errno = -n;
    this.syscall = syscall;
    if (p !== undefined) this.path = p;
    if (d !== undefined) this.dest = d;
  }
}

function fail(l: Libc, syscall: string, path?: PathLike, dest?: PathLike): never {
  throw new FsError(errno(l), syscall, path, dest);
}

/** A NUL-terminated copy of a path; node:fs refuses a path with a NUL in it, and so does this. */
function cpath(p: PathLike): Buffer {
  const b = typeof p === "string" ? Buffer.from(p) : p;
  if (b.includes(0)) {
    const e = new TypeError(
      `The argument 'path' must be a string, Uint8Array, or URL without null bytes. Received ${JSON.stringify(String(p))}`,
    ) as TypeError & { code: string };
    e.code = "ERR_INVALID_ARG_VALUE";
    throw e;
  }
  const out = Buffer.allocUnsafe(b.length + 1);
  out.set(b, 0);
  out[b.length] = 0;
  return out;
}

/** A call returning -1 on error, retried on EINTR (as libuv does for these). */
function retry(l: Libc, f: () => number | bigint): number {
  for (;;) {
    const r = Number(f());
    if (r >= 0 || errno(l) !== EINTR) return r;
  }
}

function decode(b: Buffer, enc: Encoding): string | Buffer {
  return enc === "buffer" ? b : b.toString(enc ?? "utf8");
}

function encodingOf(o: unknown): Encoding {
  if (typeof o === "string") return o as Encoding;
  if (o && typeof o === "object" && "encoding" in o) return (o as { encoding: Encoding }).encoding;
  return undefined;
}

// ---- descriptors ---------------------------------------------------------------------------------

const FLAGS: Record<string, number> = {
  r: constants.O_RDONLY,
  rs: constants.O_RDONLY | constants.O_SYNC,
  sr: constants.O_RDONLY | constants.O_SYNC,
  "r+": constants.O_RDWR,
  "rs+": constants.O_RDWR | constants.O_SYNC,
  "sr+": constants.O_RDWR | constants.O_SYNC,
  w: constants.O_TRUNC | constants.O_CREAT | constants.O_WRONLY,
  wx: constants.O_TRUNC | constants.O_CREAT | constants.O_WRONLY | constants.O_EXCL,
  xw: constants.O_TRUNC | constants.O_CREAT | constants.O_WRONLY | constants.O_EXCL,
  "w+": constants.O_TRUNC | constants.O_CREAT | constants.O_RDWR,
  "wx+": constants.O_TRUNC | constants.O_CREAT | constants.O_RDWR | constants.O_EXCL,
  "xw+": constants.O_TRUNC | constants.O_CREAT | constants.O_RDWR | constants.O_EXCL,
  a: constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY,
  ax: constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY | constants.O_EXCL,
  xa: constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY | constants.O_EXCL,
  as: constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY | constants.O_SYNC,
  sa: constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY | constants.O_SYNC,
  "a+": constants.O_APPEND | constants.O_CREAT | constants.O_RDWR,
  "ax+": constants.O_APPEND | constants.O_CREAT | constants.O_RDWR | constants.O_EXCL,
  "xa+": constants.O_APPEND | constants.O_CREAT | constants.O_RDWR | constants.O_EXCL,
  "as+": constants.O_APPEND | constants.O_CREAT | constants.O_RDWR | constants.O_SYNC,
  "sa+": constants.O_APPEND | constants.O_CREAT | constants.O_RDWR | constants.O_SYNC,
};

function flagsOf(flags: string | number | undefined): number {
  if (flags === undefined) return constants.O_RDONLY;
  if (typeof flags === "number") return flags;
  const f = FLAGS[flags];
  if (f === undefined) {
    const e = new TypeError(`The value "${flags}" is invalid for option "flags"`) as TypeError & { code: string };
    e.code = "ERR_INVALID_ARG_VALUE";
    throw e;
  }
  return f;
}

/** open(2), always with O_CLOEXEC, as node:fs opens (libuv's uv_fs_open). Mode 0o666 by default. */
export function openSync(path: PathLike, flags?: string | number, mode = 0o666): number {
  const l = libc();
  if (!l) return loose().openSync(path, flags, mode);
  const p = cpath(path);
  const fd = retry(l, () => l.open(p, flagsOf(flags) | O_CLOEXEC, mode));
  if (fd < 0) fail(l, "open", path);
  return fd;
}

/**
 * openSync for a file that may be missing: undefined when it does not exist (ENOENT), without
 * making the error (see readFileIfExists); any other error is thrown as openSync throws it.
 */
export function openIfExists(path: PathLike, flags?: string | number, mode = 0o666): number | undefined {
  const l = libc();
  if (!l) {
    try {
      return loose().openSync(path, flags, mode);
    } catch (e) {
      if ((e as { code?: unknown } | undefined)?.code === "ENOENT") return undefined;
      throw e;
    }
  }
  const p = cpath(path);
  const fd = retry(l, () => l.open(p, flagsOf(flags) | O_CLOEXEC, mode));
  if (fd < 0) {
    if (errno(l) === ENOENT) return undefined;
    fail(l, "open", path);
  }
  return fd;
}

/** close(2); never retried (Linux closes the descriptor even when close reports EINTR). */
export function closeSync(fd: number): void {
  const l = libc();
  if (!l) {
    loose().closeSync(fd);
    return;
  }
  if (l.close(fd) < 0) fail(l, "close");
}

function outOfRange(what: string, v: number, max: number): never {
  const e = new RangeError(
    `The value of "${what}" is out of range. It must be >= 0 && <= ${max}. Received ${v}`,
  ) as RangeError & { code: string };
  e.code = "ERR_OUT_OF_RANGE";
  throw e;
}

type Position = number | bigint | null | undefined;
interface ReadOptions {
  offset?: number;
  length?: number;
  position?: Position;
}

/** read(2) or pread(2) (a position of 0 or more), into buffer[offset .. offset+length). */
export function readSync(
  fd: number,
  buffer: NodeJS.ArrayBufferView,
  offsetOrOptions?: number | ReadOptions,
  length?: number,
  position?: Position,
): number {
  const l = libc();
  if (!l) return loose().readSync(fd, buffer, offsetOrOptions, length, position ?? null);
  let offset = offsetOrOptions;
  if (typeof offsetOrOptions === "object" && offsetOrOptions !== null) {
    ({ offset, length, position } = offsetOrOptions);
  }
  const view = bytes(buffer);
  const off = (offset as number | undefined) ?? 0;
  const len = length ?? view.length - off;
  if (off < 0 || off > view.length) outOfRange("offset", off, view.length);
  if (len < 0 || off + len > view.length) outOfRange("length", len, view.length - off);
  if (len === 0) return 0;
  const at = off === 0 ? view : view.subarray(off);
  const n = positioned(position)
    ? retry(l, () => l.pread(fd, at, len, position as number | bigint))
    : retry(l, () => l.read(fd, at, len));
  if (n < 0) fail(l, "read");
  return n;
}

function positioned(p: Position): boolean {
  return p !== null && p !== undefined && (typeof p === "bigint" ? p >= 0n : p >= 0);
}

function bytes(b: NodeJS.ArrayBufferView): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * write(2) or pwrite(2): writeSync(fd, buffer, offset?, length?, position?) or
 * writeSync(fd, string, position?, encoding?), as node:fs takes them. One call:
 * returns what the system wrote.
 */
export function writeSync(
  fd: number,
  data: NodeJS.ArrayBufferView | string,
  offsetOrPosition?: number | null,
  lengthOrEncoding?: number | BufferEncoding | null,
  position?: Position,
): number {
  const l = libc();
  if (!l) return loose().writeSync(fd, data, offsetOrPosition, lengthOrEncoding, position);
  let view: Uint8Array;
  let pos: Position;
  if (typeof data === "string") {
    view = Buffer.from(data, (lengthOrEncoding as BufferEncoding | null | undefined) ?? "utf8");
    pos = offsetOrPosition;
  } else {
    const all = bytes(data);
    const off = offsetOrPosition ?? 0;
    if (off < 0 || off > all.length) outOfRange("offset", off, all.length);
    const len = (lengthOrEncoding as number | null | undefined) ?? all.length - off;
    if (len < 0 || off + len > all.length) outOfRange("length", len, all.length - off);
    view = off === 0 && len === all.length ? all : all.subarray(off, off + len);
    pos = position;
  }
  if (view.length === 0) return 0;
  const n = positioned(pos)
    ? retry(l, () => l.pwrite(fd, view, view.length, pos as number | bigint))
    : retry(l, () => l.write(fd, view, view.length));
  if (n < 0) fail(l, "write");
  return n;
}

export function fsyncSync(fd: number): void {
  const l = libc();
  if (!l) {
    loose().fsyncSync(fd);
    return;
  }
  if (retry(l, () => l.fsync(fd)) < 0) fail(l, "fsync");
}

export function ftruncateSync(fd: number, len: number = 0): void {
  const l = libc();
  if (!l) {
    loose().ftruncateSync(fd, len);
    return;
  }
  if (retry(l, () => l.ftruncate(fd, len)) < 0) fail(l, "ftruncate");
}

export function fchmodSync(fd: number, mode: number): void {
  const l = libc();
  if (!l) {
    loose().fchmodSync(fd, mode);
    return;
  }
  if (l.fchmod(fd, mode) < 0) fail(l, "fchmod");
}

export function fchownSync(fd: number, uid: number, gid: number): void {
  const l = libc();
  if (!l) {
    loose().fchownSync(fd, uid, gid);
    return;
  }
  if (l.fchown(fd, uid, gid) < 0) fail(l, "fchown");
}

// ---- stat ----------------------------------------------------------------------------------------

// struct stat (x86_64: sys/stat.h's 144 bytes; arm64: asm-generic's 128), offsets of the fields read.
const ST = ARM64
  ? {
      size: 128,
      dev: 0,
      ino: 8,
      mode: 16,
      nlink: 20,
      uid: 24,
      gid: 28,
      rdev: 32,
      sz: 48,
      blksize: 56,
      blocks: 64,
      atim: 72,
    }
  : {
      size: 144,
      dev: 0,
      ino: 8,
      nlink: 16,
      mode: 24,
      uid: 28,
      gid: 32,
      rdev: 40,
      sz: 48,
      blksize: 56,
      blocks: 64,
      atim: 72,
    };
const statBuf = new Uint8Array(ST.size);

abstract class StatsBase<T extends number | bigint> {
  declare dev: T;
  declare ino: T;
  declare mode: T;
  declare nlink: T;
  declare uid: T;
  declare gid: T;
  declare rdev: T;
  declare size: T;
  declare blksize: T;
  declare blocks: T;
  declare atimeMs: T;
  declare mtimeMs: T;
  declare ctimeMs: T;
  declare birthtimeMs: T;
  private type(): number {
    return Number(this.mode) & constants.S_IFMT;
  }
  isFile(): boolean {
    return this.type() === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.type() === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.type() === constants.S_IFLNK;
  }
  isFIFO(): boolean {
    return this.type() === constants.S_IFIFO;
  }
  isSocket(): boolean {
    return this.type() === constants.S_IFSOCK;
  }
  isCharacterDevice(): boolean {
    return this.type() === constants.S_IFCHR;
  }
  isBlockDevice(): boolean {
    return this.type() === constants.S_IFBLK;
  }
  get atime(): Date {
    return new Date(Number(this.atimeMs));
  }
  get mtime(): Date {
    return new Date(Number(this.mtimeMs));
  }
  get ctime(): Date {
    return new Date(Number(this.ctimeMs));
  }
  get birthtime(): Date {
    return new Date(Number(this.birthtimeMs));
  }
}

/** node:fs's Stats: numbers. birthtime is 0, as node:fs reports where stat(2) has none. */
export class Stats extends StatsBase<number> {}

/** node:fs's BigIntStats: bigints, and the times in nanoseconds too. */
export class BigIntStats extends StatsBase<bigint> {
  declare atimeNs: bigint;
  declare mtimeNs: bigint;
  declare ctimeNs: bigint;
  declare birthtimeNs: bigint;
}

// Little-endian words (x86_64 and arm64) read from the bytes: no DataView, one kind of object fewer
// for a start to make (BENCHMARKS.md, "Start-up: trims").
function u32(at: number): number {
  const b = statBuf;
  return (
    ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) +
    (b[at + 3] as number) * 0x1000000
  );
}
function u64(at: number): bigint {
  return (BigInt(u32(at + 4)) << 32n) | BigInt(u32(at));
}

/** u64(at) as a Number, rounded as Number(u64(at)) rounds it (one correctly rounded addition). */
function n64(at: number): number {
  return u32(at) + u32(at + 4) * 0x100000000;
}

function fromStatBuf(big: boolean): Stats | BigIntStats {
  if (!big) return numberStats();
  const nlink = ARM64 ? BigInt(u32(ST.nlink)) : u64(ST.nlink);
  const blksize = ARM64 ? BigInt(u32(ST.blksize)) : u64(ST.blksize);
  const t = (i: number) => [u64(ST.atim + 16 * i), u64(ST.atim + 16 * i + 8)] as const;
  const [as, an] = t(0);
  const [ms_, mn] = t(1);
  const [cs, cn] = t(2);
  const s = new BigIntStats();
  Object.assign(s, {
    dev: u64(ST.dev),
    ino: u64(ST.ino),
    mode: BigInt(u32(ST.mode)),
    nlink,
    uid: BigInt(u32(ST.uid)),
    gid: BigInt(u32(ST.gid)),
    rdev: u64(ST.rdev),
    size: u64(ST.sz),
    blksize,
    blocks: u64(ST.blocks),
    atimeMs: as * 1000n + an / 1000000n,
    mtimeMs: ms_ * 1000n + mn / 1000000n,
    ctimeMs: cs * 1000n + cn / 1000000n,
    birthtimeMs: 0n,
    atimeNs: as * 1000000000n + an,
    mtimeNs: ms_ * 1000000000n + mn,
    ctimeNs: cs * 1000000000n + cn,
    birthtimeNs: 0n,
  });
  return s;
}

/** Stats (numbers) from the stat buffer without a BigInt: the same values as through u64 (n64). */
function numberStats(): Stats {
  const tm = (i: number) => n64(ST.atim + 16 * i) * 1000 + n64(ST.atim + 16 * i + 8) / 1e6;
  const s = new Stats();
  Object.assign(s, {
    dev: n64(ST.dev),
    ino: n64(ST.ino),
    mode: u32(ST.mode),
    nlink: ARM64 ? u32(ST.nlink) : n64(ST.nlink),
    uid: u32(ST.uid),
    gid: u32(ST.gid),
    rdev: n64(ST.rdev),
    size: n64(ST.sz),
    blksize: ARM64 ? u32(ST.blksize) : n64(ST.blksize),
    blocks: n64(ST.blocks),
    atimeMs: tm(0),
    mtimeMs: tm(1),
    ctimeMs: tm(2),
    birthtimeMs: 0,
  });
  return s;
}

interface StatOptions {
  bigint?: boolean;
  throwIfNoEntry?: boolean;
}

const EMPTY = Buffer.from([0]);

function stat(
  syscall: "stat" | "lstat" | "fstat",
  fd: number,
  path: PathLike | undefined,
  flags: number,
  o?: StatOptions,
): Stats | BigIntStats | undefined {
  const l = libc() as Libc;
  const p = path === undefined ? EMPTY : cpath(path);
  if (retry(l, () => l.fstatat(fd, p, statBuf, flags)) < 0) {
    if (o?.throwIfNoEntry === false && errno(l) === ENOENT) return undefined;
    fail(l, syscall, path);
  }
  return fromStatBuf(o?.bigint === true);
}

export function statSync(path: PathLike, o: StatOptions & { bigint: true }): BigIntStats;
export function statSync(path: PathLike, o: StatOptions & { throwIfNoEntry: false }): Stats | undefined;
export function statSync(path: PathLike, o?: StatOptions): Stats;
export function statSync(path: PathLike, o?: StatOptions): Stats | BigIntStats | undefined {
  if (!libc()) return loose().statSync(path, o);
  return stat("stat", AT_FDCWD, path, 0, o);
}

export function lstatSync(path: PathLike, o: StatOptions & { bigint: true }): BigIntStats;
export function lstatSync(path: PathLike, o?: StatOptions): Stats;
export function lstatSync(path: PathLike, o?: StatOptions): Stats | BigIntStats | undefined {
  if (!libc()) return loose().lstatSync(path, o);
  return stat("lstat", AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, o);
}

export function fstatSync(fd: number, o: { bigint: true }): BigIntStats;
export function fstatSync(fd: number, o?: { bigint?: false }): Stats;
export function fstatSync(fd: number, o?: { bigint?: boolean }): Stats | BigIntStats {
  if (!libc()) return loose().fstatSync(fd, o);
  return stat("fstat", fd, undefined, AT_EMPTY_PATH, o) as Stats | BigIntStats;
}

// ---- names ---------------------------------------------------------------------------------------

export function unlinkSync(path: PathLike): void {
  const l = libc();
  if (!l) {
    loose().unlinkSync(path);
    return;
  }
  if (l.unlink(cpath(path)) < 0) fail(l, "unlink", path);
}

export function rmdirSync(path: PathLike): void {
  const l = libc();
  if (!l) {
    loose().rmdirSync(path);
    return;
  }
  if (l.rmdir(cpath(path)) < 0) fail(l, "rmdir", path);
}

export function renameSync(from: PathLike, to: PathLike): void {
  const l = libc();
  if (!l) {
    loose().renameSync(from, to);
    return;
  }
  if (l.rename(cpath(from), cpath(to)) < 0) fail(l, "rename", from, to);
}

export function linkSync(existing: PathLike, to: PathLike): void {
  const l = libc();
  if (!l) {
    loose().linkSync(existing, to);
    return;
  }
  if (l.link(cpath(existing), cpath(to)) < 0) fail(l, "link", existing, to);
}

export function chmodSync(path: PathLike, mode: number): void {
  const l = libc();
  if (!l) {
    loose().chmodSync(path, mode);
    return;
  }
  if (l.chmod(cpath(path), mode) < 0) fail(l, "chmod", path);
}

/** mkdir(2), mode 0o777 by default; { recursive: true } is node:fs's own (mkdir -p). */
export function mkdirSync(path: PathLike, o?: number | { recursive?: boolean; mode?: number }): string | undefined {
  const l = libc();
  if (!l || (typeof o === "object" && o.recursive)) return loose().mkdirSync(path, o);
  const mode = (typeof o === "number" ? o : o?.mode) ?? 0o777;
  if (l.mkdir(cpath(path), mode) < 0) fail(l, "mkdir", path);
  return undefined;
}

export function accessSync(path: PathLike, mode: number = constants.F_OK): void {
  const l = libc();
  if (!l) {
    loose().accessSync(path, mode);
    return;
  }
  if (l.access(cpath(path), mode) < 0) fail(l, "access", path);
}

/** True when path names something (symbolic links followed); false for any error, as node:fs. */
export function existsSync(path: PathLike): boolean {
  const l = libc();
  if (!l) return loose().existsSync(path);
  try {
    return l.access(cpath(path), constants.F_OK) === 0;
  } catch {
    return false;
  }
}

let names: Uint8Array | undefined;
/** readlink's and realpath's buffer, made on first use. */
const nameBuf = (): Uint8Array => {
  names ??= new Uint8Array(PATH_MAX + 1);
  return names;
};

export function readlinkSync(path: PathLike, o?: Encoding | { encoding?: Encoding }): string;
export function readlinkSync(path: PathLike, o?: Encoding | { encoding?: Encoding }): string | Buffer {
  const l = libc();
  if (!l) return loose().readlinkSync(path, o);
  const buf = nameBuf();
  const n = Number(l.readlink(cpath(path), buf, PATH_MAX));
  if (n < 0) fail(l, "readlink", path);
  return decode(Buffer.from(buf.subarray(0, n)), encodingOf(o));
}

export function realpathSync(path: PathLike, o?: Encoding | { encoding?: Encoding }): string;
export function realpathSync(path: PathLike, o?: Encoding | { encoding?: Encoding }): string | Buffer {
  const l = libc();
  if (!l) return loose().realpathSync(path, o);
  // node:fs (Bun's) names the failing call lstat, as the walk along the path does.
  const buf = nameBuf();
  if (l.realpath(cpath(path), buf) === null) fail(l, "lstat", path);
  const end = buf.indexOf(0);
  return decode(Buffer.from(buf.subarray(0, end < 0 ? PATH_MAX : end)), encodingOf(o));
}

// ---- directories ---------------------------------------------------------------------------------

// struct linux_dirent64 (getdents64(2)): d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name.
const DT = {
  1: constants.S_IFIFO,
  2: constants.S_IFCHR,
  4: constants.S_IFDIR,
  6: constants.S_IFBLK,
  8: constants.S_IFREG,
  10: constants.S_IFLNK,
  12: constants.S_IFSOCK,
} as Record<number, number>;

/** node:fs's Dirent: a name, its directory, and its type as getdents64 gave it (0: unknown). */
export class Dirent<N extends string | Buffer = string> {
  readonly name: N;
  readonly parentPath: string;
  readonly path: string;
  private readonly t: number;
  constructor(name: N, dir: string, t: number) {
    this.name = name;
    this.parentPath = dir;
    this.path = dir;
    this.t = DT[t] ?? 0;
  }
  isFile(): boolean {
    return this.t === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.t === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.t === constants.S_IFLNK;
  }
  isFIFO(): boolean {
    return this.t === constants.S_IFIFO;
  }
  isSocket(): boolean {
    return this.t === constants.S_IFSOCK;
  }
  isCharacterDevice(): boolean {
    return this.t === constants.S_IFCHR;
  }
  isBlockDevice(): boolean {
    return this.t === constants.S_IFBLK;
  }
}

const DENTS = 8192;

/** node:fs's Dir (opendirSync): entries one at a time, "." and ".." left out, in the directory's order. */
export class Dir {
  readonly path: string;
  private fd: number;
  private readonly l: Libc;
  private readonly buf = new Uint8Array(DENTS);
  private readonly view = new DataView(this.buf.buffer);
  private at = 0;
  private end = 0;
  constructor(path: string, fd: number, l: Libc) {
    this.path = path;
    this.fd = fd;
    this.l = l;
  }

  /** The next entry as raw bytes and type, or null at the end. */
  nextRaw(): [Buffer, number] | null {
    for (;;) {
      if (this.at >= this.end) {
        if (this.fd < 0) throw new FsError(9, "read");
        const n = retry(this.l, () => this.l.getdents64(this.fd, this.buf, DENTS));
        if (n < 0) fail(this.l, "scandir", this.path);
        if (n === 0) return null;
        this.at = 0;
        this.end = n;
      }
      const rec = this.at;
      const reclen = this.view.getUint16(rec + 16, true);
      this.at += reclen;
      const nameEnd = this.buf.indexOf(0, rec + 19);
      const name = this.buf.subarray(rec + 19, nameEnd < 0 || nameEnd > rec + reclen ? rec + reclen : nameEnd);
      // "." and "..": readdir(3) gives them, node:fs does not.
      if (name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e))) continue;
      return [Buffer.from(name), this.buf[rec + 18] as number];
    }
  }

  readSync(): Dirent | null {
    const e = this.nextRaw();
    return e ? new Dirent(e[0].toString("utf8"), this.path, e[1]) : null;
  }

  closeSync(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    if (this.l.close(fd) < 0) fail(this.l, "close");
  }
}

/** opendir(3) as node:fs has it: a Dir, whose readSync gives one Dirent at a time. */
export function opendirSync(path: string): Dir {
  const l = libc();
  if (!l) return loose().opendirSync(path);
  const fd = retry(l, () => l.open(cpath(path), constants.O_RDONLY | constants.O_DIRECTORY | O_CLOEXEC, 0));
  if (fd < 0) fail(l, "opendir", path);
  return new Dir(path, fd, l);
}

type DirOptions = Encoding | { encoding?: Encoding; withFileTypes?: boolean; recursive?: boolean };

/** The names in a directory (or Dirents, withFileTypes), "." and ".." left out, in the directory's order. */
export function readdirSync(path: PathLike, o: { encoding: "buffer"; withFileTypes?: false } | "buffer"): Buffer[];
export function readdirSync(path: PathLike, o: { withFileTypes: true; encoding?: BufferEncoding }): Dirent[];
export function readdirSync(path: PathLike, o?: DirOptions): string[];
export function readdirSync(path: PathLike, o?: DirOptions): (string | Buffer | Dirent)[] {
  const l = libc();
  const withTypes = typeof o === "object" && o !== null && o.withFileTypes === true;
  if (!l || (typeof o === "object" && o?.recursive)) return loose().readdirSync(path, o);
  const enc = encodingOf(o);
  const where = String(typeof path === "string" ? path : Buffer.from(path));
  const fd = retry(l, () => l.open(cpath(path), constants.O_RDONLY | constants.O_DIRECTORY | O_CLOEXEC, 0));
  if (fd < 0) fail(l, "scandir", path);
  const d = new Dir(where, fd, l);
  const out: (string | Buffer | Dirent)[] = [];
  try {
    for (let e = d.nextRaw(); e; e = d.nextRaw()) {
      const name = decode(e[0], enc);
      out.push(withTypes ? new Dirent(name as string, where, e[1]) : name);
    }
  } finally {
    d.closeSync();
  }
  return out;
}

// ---- whole files ---------------------------------------------------------------------------------

/** All of a file (from its start), or of a descriptor (from where it is), as node:fs reads it. */
export function readFileSync(
  path: PathLike | number,
  o: BufferEncoding | { encoding: BufferEncoding; flag?: string },
): string;
export function readFileSync(
  path: PathLike | number,
  o?: null | "buffer" | { encoding?: null | "buffer"; flag?: string },
): Buffer;
export function readFileSync(
  path: PathLike | number,
  o?: Encoding | { encoding?: Encoding; flag?: string },
): string | Buffer {
  const l = libc();
  if (!l) return loose().readFileSync(path, o);
  const flag = typeof o === "object" && o !== null ? o.flag : undefined;
  const fd = typeof path === "number" ? path : openSync(path, flag ?? "r");
  try {
    return decode(readAll(l, fd), encodingOf(o) ?? "buffer");
  } finally {
    if (typeof path !== "number") l.close(fd);
  }
}

/**
 * readFileSync(path) for a file that may be missing: undefined when it does not exist (ENOENT),
 * without making the error node:fs would throw (a program's first error object costs its start
 * about 12 page faults: BENCHMARKS.md, "Start-up: trims"). Any other error is thrown as readFileSync
 * throws it.
 */
export function readFileIfExists(path: PathLike): Buffer | undefined {
  const l = libc();
  if (!l) {
    try {
      return loose().readFileSync(path);
    } catch (e) {
      if ((e as { code?: unknown } | undefined)?.code === "ENOENT") return undefined;
      throw e;
    }
  }
  const fd = openIfExists(path, O_RDONLY);
  if (fd === undefined) return undefined;
  try {
    return readAll(l, fd);
  } finally {
    l.close(fd);
  }
}

/** The size of the regular file open on fd, else 0 (or when fstat fails): the first read's guess. */
function regularSize(l: Libc, fd: number): number {
  if (retry(l, () => l.fstatat(fd, EMPTY, statBuf, AT_EMPTY_PATH)) < 0) return 0;
  if ((u32(ST.mode) & constants.S_IFMT) !== constants.S_IFREG) return 0;
  return n64(ST.sz);
}

/** The rest of fd, from where it is, as one Buffer (a view: no copy). */
function readAll(l: Libc, fd: number): Buffer {
  const size = regularSize(l, fd);
  // /proc's files say size 0: read until the end, whatever the size said.
  let buf = Buffer.allocUnsafe(size > 0 ? size + 1 : 8192);
  let have = 0;
  for (;;) {
    if (have === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      bigger.set(buf, 0);
      buf = bigger;
    }
    const n = retry(l, () => l.read(fd, buf.subarray(have), buf.length - have));
    if (n < 0) fail(l, "read");
    if (n === 0) break;
    have += n;
  }
  // No copy: a view of what was read (an allocation at start is heap a program then holds).
  return buf.subarray(0, have);
}

function writeAllTo(fd: number, data: string | NodeJS.ArrayBufferView, enc?: BufferEncoding): void {
  const b = typeof data === "string" ? Buffer.from(data, enc ?? "utf8") : bytes(data);
  let at = 0;
  while (at < b.length) at += writeSync(fd, b, at, b.length - at);
}

type WriteOptions = BufferEncoding | { encoding?: BufferEncoding; mode?: number; flag?: string };

function writeFile(
  path: PathLike | number,
  data: string | NodeJS.ArrayBufferView,
  o: WriteOptions | undefined,
  flag: string,
): void {
  const opt = typeof o === "string" ? { encoding: o } : (o ?? {});
  if (typeof path === "number") {
    writeAllTo(path, data, opt.encoding);
    return;
  }
  const fd = openSync(path, opt.flag ?? flag, opt.mode ?? 0o666);
  try {
    writeAllTo(fd, data, opt.encoding);
  } finally {
    closeSync(fd);
  }
}

export function writeFileSync(path: PathLike | number, data: string | NodeJS.ArrayBufferView, o?: WriteOptions): void {
  if (!libc()) {
    loose().writeFileSync(path, data, o);
    return;
  }
  writeFile(path, data, o, "w");
}

export function appendFileSync(path: PathLike | number, data: string | NodeJS.ArrayBufferView, o?: WriteOptions): void {
  if (!libc()) {
    loose().appendFileSync(path, data, o);
    return;
  }
  writeFile(path, data, o, "a");
}

// ---- node:fs's own, on first use -----------------------------------------------------------------

export function copyFileSync(from: PathLike, to: PathLike, mode?: number): void {
  loose().copyFileSync(from, to, mode);
}

export function utimesSync(path: PathLike, atime: number | Date, mtime: number | Date): void {
  loose().utimesSync(path, atime, mtime);
}

/** node:fs's asynchronous read (a thread of the runtime's pool does the read(2)). */
export const read: typeof NodeFs.read = ((...a: Parameters<typeof NodeFs.read>) =>
  (node().read as (...x: unknown[]) => void)(...a)) as typeof NodeFs.read;
