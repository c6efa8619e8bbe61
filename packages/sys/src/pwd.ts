// SPDX-License-Identifier: MIT
import { CString, type Pointer, ptr, read } from "bun:ffi";
import { SysError } from "@qts/core/errstr";
import { clearErrno, cstr, errno, libc } from "./ffi.ts";

const c = libc({
  getpwnam: { args: ["ptr"], returns: "ptr" },
  getpwuid: { args: ["u32"], returns: "ptr" },
  getgrnam: { args: ["ptr"], returns: "ptr" },
  getgrgid: { args: ["u32"], returns: "ptr" },
  getgrouplist: { args: ["ptr", "u32", "ptr", "ptr"], returns: "i32" },
});

export interface Passwd {
  name: string;
  passwd: string;
  uid: number;
  gid: number;
  gecos: string;
  dir: string;
  shell: string;
}

export interface Group {
  name: string;
  gid: number;
  members: string[];
}

function str(p: Pointer | null): string {
  return p ? new CString(p).toString() : "";
}

// x86_64 glibc struct passwd: name 0, passwd 8, uid 16, gid 20, gecos 24, dir 32, shell 40.
function passwdAt(p: Pointer): Passwd {
  return {
    name: str(read.ptr(p, 0) as Pointer),
    passwd: str(read.ptr(p, 8) as Pointer),
    uid: read.u32(p, 16),
    gid: read.u32(p, 20),
    gecos: str(read.ptr(p, 24) as Pointer),
    dir: str(read.ptr(p, 32) as Pointer),
    shell: str(read.ptr(p, 40) as Pointer),
  };
}

// struct group: name 0, passwd 8, gid 16, mem 24 (char**, NULL-terminated).
function groupAt(p: Pointer): Group {
  const members: string[] = [];
  const mem = read.ptr(p, 24) as Pointer;
  for (let i = 0; mem && i < 65536; i++) {
    const m = read.ptr(mem, i * 8) as Pointer;
    if (!m) break;
    members.push(str(m));
  }
  return { name: str(read.ptr(p, 0) as Pointer), gid: read.u32(p, 16), members };
}

function lookup<T>(call: () => Pointer | null, at: (p: Pointer) => T, name: string): T | undefined {
  clearErrno();
  const p = call();
  if (p) return at(p);
  const e = errno();
  // "not found" is null with errno 0 (or ENOENT/ESRCH/EBADF/EPERM by POSIX); anything else is a failure.
  if (e && e !== 2 && e !== 3 && e !== 9 && e !== 1) throw new SysError(name, e);
  return undefined;
}

/** getpwnam through NSS; undefined when there is no such user. A Uint8Array name is passed byte for byte. */
export function getpwnam(name: string | Uint8Array): Passwd | undefined {
  const n = typeof name === "string" ? cstr(name) : Buffer.concat([name, Buffer.from([0])]);
  return lookup(() => c().getpwnam(n) as Pointer | null, passwdAt, "getpwnam");
}

export function getpwuid(uid: number): Passwd | undefined {
  return lookup(() => c().getpwuid(uid) as Pointer | null, passwdAt, "getpwuid");
}

export function getgrnam(name: string): Group | undefined {
  return lookup(() => c().getgrnam(cstr(name)) as Pointer | null, groupAt, "getgrnam");
}

export function getgrgid(gid: number): Group | undefined {
  return lookup(() => c().getgrgid(gid) as Pointer | null, groupAt, "getgrgid");
}

/** getgrouplist(user, gid): every group the user is in, gid first. */
export function getgrouplist(user: string, gid: number): number[] {
  let n = 64;
  for (let tries = 0; tries < 8; tries++) {
    const groups = new Uint32Array(n);
    const count = new Int32Array([n]);
    const r = c().getgrouplist(cstr(user), gid, ptr(groups), ptr(count));
    const got = count[0] as number;
    if (r >= 0) return Array.from(groups.subarray(0, got));
    n = Math.max(got, n * 2);
  }
  throw new SysError("getgrouplist", 34);
}
