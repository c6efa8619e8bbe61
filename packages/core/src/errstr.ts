// SPDX-License-Identifier: MIT

// DJB's error_str() wording, keyed by Linux errno name. Order matters where
// names share a number: EAGAIN == EWOULDBLOCK on Linux and error_str tests
// EAGAIN first, so "temporary failure" wins.
// Built on first use: a program that meets no error builds neither table.
const table = (): [string, string][] => [
  ["EINTR", "interrupted system call"],
  ["ENOMEM", "out of memory"],
  ["ENOENT", "file does not exist"],
  ["ETXTBSY", "text busy"],
  ["EIO", "input/output error"],
  ["EEXIST", "file already exists"],
  ["ETIMEDOUT", "timed out"],
  ["EINPROGRESS", "operation in progress"],
  ["EAGAIN", "temporary failure"],
  ["EWOULDBLOCK", "input/output would block"],
  ["EPIPE", "broken pipe"],
  ["EPERM", "permission denied"],
  ["EACCES", "access denied"],
  ["ESRCH", "no such process"],
  ["ENXIO", "device not configured"],
  ["E2BIG", "argument list too long"],
  ["ENOEXEC", "exec format error"],
  ["EBADF", "file descriptor not open"],
  ["ECHILD", "no child processes"],
  ["EDEADLK", "operation would cause deadlock"],
  ["EFAULT", "bad address"],
  ["ENOTBLK", "not a block device"],
  ["EBUSY", "device busy"],
  ["EXDEV", "cross-device link"],
  ["ENODEV", "device does not support operation"],
  ["ENOTDIR", "not a directory"],
  ["EISDIR", "is a directory"],
  ["EINVAL", "invalid argument"],
  ["ENFILE", "system cannot open more files"],
  ["EMFILE", "process cannot open more files"],
  ["ENOTTY", "not a tty"],
  ["EFBIG", "file too big"],
  ["ENOSPC", "out of disk space"],
  ["ESPIPE", "unseekable descriptor"],
  ["EROFS", "read-only file system"],
  ["EMLINK", "too many links"],
  ["EDOM", "input out of range"],
  ["ERANGE", "output out of range"],
  ["EALREADY", "operation already in progress"],
  ["ENOTSOCK", "not a socket"],
  ["EDESTADDRREQ", "destination address required"],
  ["EMSGSIZE", "message too long"],
  ["EPROTOTYPE", "incorrect protocol type"],
  ["ENOPROTOOPT", "protocol not available"],
  ["EPROTONOSUPPORT", "protocol not supported"],
  ["ESOCKTNOSUPPORT", "socket type not supported"],
  ["EOPNOTSUPP", "operation not supported"],
  ["EPFNOSUPPORT", "protocol family not supported"],
  ["EAFNOSUPPORT", "address family not supported"],
  ["EADDRINUSE", "address already used"],
  ["EADDRNOTAVAIL", "address not available"],
  ["ENETDOWN", "network down"],
  ["ENETUNREACH", "network unreachable"],
  ["ENETRESET", "network reset"],
  ["ECONNABORTED", "connection aborted"],
  ["ECONNRESET", "connection reset"],
  ["ENOBUFS", "out of buffer space"],
  ["EISCONN", "already connected"],
  ["ENOTCONN", "not connected"],
  ["ESHUTDOWN", "socket shut down"],
  ["ETOOMANYREFS", "too many references"],
  ["ECONNREFUSED", "connection refused"],
  ["ELOOP", "symbolic link loop"],
  ["ENAMETOOLONG", "file name too long"],
  ["EHOSTDOWN", "host down"],
  ["EHOSTUNREACH", "host unreachable"],
  ["ENOTEMPTY", "directory not empty"],
  ["EUSERS", "too many users"],
  ["EDQUOT", "disk quota exceeded"],
  ["ESTALE", "stale NFS file handle"],
  ["EREMOTE", "too many levels of remote in path"],
  ["ENOLCK", "no locks available"],
  ["ENOSYS", "system call not available"],
  ["ENOSTR", "not a stream device"],
  ["ETIME", "timer expired"],
  ["ENOSR", "out of stream resources"],
  ["ENOMSG", "no message of desired type"],
  ["EBADMSG", "bad message type"],
  ["EIDRM", "identifier removed"],
  ["ENONET", "machine not on network"],
  ["ENOLINK", "link severed"],
  ["EADV", "advertise error"],
  ["ESRMNT", "srmount error"],
  ["ECOMM", "communication error"],
  ["EPROTO", "protocol error"],
  ["EMULTIHOP", "multihop attempted"],
  ["EREMCHG", "remote address changed"],
];

let numbers: Record<string, number> | undefined;
let byNumber: Map<number, string> | undefined;

/**
 * Linux errno numbers by name: node:os's constants.errno, the same names in the same order (the
 * first name of a number is SysError's code). Written out rather than loaded: node:os costs a start
 * about 40 page faults, and qmail-local meets an error (ENOENT for .qmail) in most deliveries
 * (BENCHMARKS.md, "Start-up: trims"). The numbers are asm-generic/errno*.h's, the same on x86_64
 * and arm64; test/core/standins.test.ts compares the table with node:os's.
 */
export function errnos(): Record<string, number> {
  numbers ??= {
    E2BIG: 7,
    EACCES: 13,
    EADDRINUSE: 98,
    EADDRNOTAVAIL: 99,
    EAFNOSUPPORT: 97,
    EAGAIN: 11,
    EALREADY: 114,
    EBADF: 9,
    EBADMSG: 74,
    EBUSY: 16,
    ECANCELED: 125,
    ECHILD: 10,
    ECONNABORTED: 103,
    ECONNREFUSED: 111,
    ECONNRESET: 104,
    EDEADLK: 35,
    EDESTADDRREQ: 89,
    EDOM: 33,
    EDQUOT: 122,
    EEXIST: 17,
    EFAULT: 14,
    EFBIG: 27,
    EHOSTUNREACH: 113,
    EIDRM: 43,
    EILSEQ: 84,
    EINPROGRESS: 115,
    EINTR: 4,
    EINVAL: 22,
    EIO: 5,
    EISCONN: 106,
    EISDIR: 21,
    ELOOP: 40,
    EMFILE: 24,
    EMLINK: 31,
    EMSGSIZE: 90,
    EMULTIHOP: 72,
    ENAMETOOLONG: 36,
    ENETDOWN: 100,
    ENETRESET: 102,
    ENETUNREACH: 101,
    ENFILE: 23,
    ENOBUFS: 105,
    ENODATA: 61,
    ENODEV: 19,
    ENOENT: 2,
    ENOEXEC: 8,
    ENOLCK: 37,
    ENOLINK: 67,
    ENOMEM: 12,
    ENOMSG: 42,
    ENOPROTOOPT: 92,
    ENOSPC: 28,
    ENOSR: 63,
    ENOSTR: 60,
    ENOSYS: 38,
    ENOTCONN: 107,
    ENOTDIR: 20,
    ENOTEMPTY: 39,
    ENOTSOCK: 88,
    ENOTSUP: 95,
    ENOTTY: 25,
    ENXIO: 6,
    EOPNOTSUPP: 95,
    EOVERFLOW: 75,
    EPERM: 1,
    EPIPE: 32,
    EPROTO: 71,
    EPROTONOSUPPORT: 93,
    EPROTOTYPE: 91,
    ERANGE: 34,
    EROFS: 30,
    ESPIPE: 29,
    ESRCH: 3,
    ESTALE: 116,
    ETIME: 62,
    ETIMEDOUT: 110,
    ETXTBSY: 26,
    EWOULDBLOCK: 11,
    EXDEV: 18,
  };
  return numbers;
}

/** error_str() for a positive errno number. */
export function errnoStr(n: number): string {
  if (n === 0) return "no error";
  if (byNumber === undefined) {
    const e = errnos();
    byNumber = new Map();
    for (const [name, text] of table()) {
      const k = e[name];
      if (k !== undefined && !byNumber.has(k)) byNumber.set(k, text);
    }
  }
  return byNumber.get(n) ?? "unknown error";
}

/** Errno number of anything thrown by node:fs / node:net / sys, or 0. */
export function errnoOf(e: unknown): number {
  if (e && typeof e === "object") {
    const o = e as { code?: unknown; errno?: unknown };
    const n = typeof o.code === "string" ? errnos()[o.code] : undefined;
    if (n !== undefined) return n;
    if (typeof o.errno === "number") return Math.abs(o.errno);
  }
  return 0;
}

/**
 * Errno name of anything thrown ("ENOENT"), or "" when it carries none: the one
 * way to ask what a caught error was (node:fs, node:net, node:dns and sys's
 * SysError all carry it as .code), instead of casting at each catch.
 */
export function errnoName(e: unknown): string {
  if (e && typeof e === "object") {
    const o = e as { code?: unknown };
    if (typeof o.code === "string") return o.code;
  }
  return "";
}

/** DJB's wording for a thrown error: "file does not exist", "temporary failure", ... */
export function errorStr(e: unknown): string {
  const n = errnoOf(e);
  if (n) return errnoStr(n);
  return "unknown error";
}

/** error_temp(): errors that DJB's programs treat as temporary. */
let temp: Set<number> | undefined;
const tempNames = (): string[] => [
  "EINTR",
  "ENOMEM",
  "ETXTBSY",
  "EIO",
  "ETIMEDOUT",
  "EWOULDBLOCK",
  "EAGAIN",
  "EDEADLK",
  "EBUSY",
  "ENFILE",
  "EMFILE",
  "EFBIG",
  "ENOSPC",
  "ENETDOWN",
  "ENETUNREACH",
  "ENETRESET",
  "ECONNABORTED",
  "ECONNRESET",
  "ENOBUFS",
  "ETOOMANYREFS",
  "ECONNREFUSED",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "EPROCLIM",
  "EUSERS",
  "EDQUOT",
  "ESTALE",
  "ENOLCK",
];

export function errorTemp(e: unknown): boolean {
  if (temp === undefined) {
    const byName = errnos();
    temp = new Set();
    for (const k of tempNames()) if (byName[k] !== undefined) temp.add(byName[k]);
  }
  return temp.has(errnoOf(e));
}

/** An error carrying an errno, as thrown by sys for failed libc calls. */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  constructor(syscall: string, errno: number) {
    const e = errnos();
    const code = Object.keys(e).find((k) => e[k] === errno) ?? `E${errno}`;
    super(`${syscall}: ${errnoStr(errno)}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}
