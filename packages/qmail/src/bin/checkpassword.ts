// SPDX-License-Identifier: MIT
// checkpassword: the checkpassword interface (checkpassword(8); D. J. Bernstein's
// interface.html and checkpassword.c): name, password and timestamp on fd 3,
// checked against the shadow database; on success exec the program as the user.
import { timingSafeEqual } from "node:crypto";
import { accessSync, closeSync, constants, readSync } from "node:fs";
import { execArgs, execEnv } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { getpwnam } from "@qts/sys/pwd";
import { crypt, getspnam } from "@qts/sys/shadow";

export const usage = "checkpassword prog";

// The interface's exit codes: 1 the password is unacceptable, 2 misuse, 111 a temporary problem.
const BAD = 1;
const MISUSE = 2;
const TEMP = 111;

/** checkpassword.c's up[513]: at most 512 bytes of name, password and timestamp; more is refused (1). */
const UPMAX = 512;

/**
 * A yescrypt setting at Debian's default cost, hashed against when there is
 * no usable stored hash (no such user, a locked or odd entry), so that the
 * answer takes about as long as for a real user with a wrong password.
 */
const DUMMY = Buffer.from("$y$j9T$u0pG6bpm1vO2cHQX4hFfK.$");

function readUp(): Buffer | number {
  const up = Buffer.alloc(UPMAX + 1);
  let len = 0;
  for (;;) {
    let r: number;
    try {
      r = readSync(3, up, len, up.length - len, null);
    } catch (e) {
      if (errnoName(e) === "EINTR") continue;
      up.fill(0);
      return TEMP;
    }
    if (r === 0) break;
    len += r;
    if (len >= up.length) {
      up.fill(0);
      return BAD;
    }
  }
  try {
    closeSync(3);
  } catch {}
  return up.subarray(0, len);
}

/** Compares without an early exit, so the time taken says nothing about where the strings differ. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

class Unreadable extends Error {}

/** glibc's getspnam says "not found" when it may not read /etc/shadow: tell the two apart. */
function shadowReadable(): boolean {
  try {
    accessSync("/etc/shadow", constants.R_OK);
  } catch (e) {
    if (errnoName(e) === "ENOENT") return true;
    throw new Unreadable();
  }
  return true;
}

export function main(argv: string[], env: Env): number {
  setProg("checkpassword");
  if (argv.length === 0) return MISUSE;
  const got = readUp();
  if (typeof got === "number") return got;
  const up = got;
  try {
    // name NUL password NUL (timestamp NUL ...): both NULs must be there
    const n1 = up.indexOf(0);
    if (up.length === 0 || n1 < 0 || n1 + 1 >= up.length) return MISUSE;
    const n2 = up.indexOf(0, n1 + 1);
    if (n2 < 0) return MISUSE;
    const name = up.subarray(0, n1);
    const password = up.subarray(n1 + 1, n2);

    let pw: ReturnType<typeof getpwnam>;
    let stored: Buffer | undefined;
    try {
      pw = getpwnam(name);
      if (pw) stored = getspnam(name) ?? (shadowReadable() ? Buffer.from(pw.passwd, "latin1") : undefined);
    } catch {
      // the databases cannot be read (not root: EACCES): a temporary problem, not a wrong password
      crypt(password, DUMMY);
      return TEMP;
    }
    let encrypted = stored && stored.length > 0 ? crypt(password, stored) : undefined;
    const usable = encrypted !== undefined && stored !== undefined;
    if (!usable) encrypted = crypt(password, DUMMY);
    const ok = usable && sameBytes(encrypted as Buffer, stored as Buffer);
    if (!ok || !pw) return BAD;

    // prot_gid, prot_uid: the account's primary group only
    try {
      (process.setgroups as (g: number[]) => void)([pw.gid]);
      (process.setgid as (g: number) => void)(pw.gid);
      (process.setuid as (u: number) => void)(pw.uid);
    } catch {
      return BAD;
    }
    try {
      process.chdir(pw.dir);
    } catch {
      return TEMP;
    }
    const childEnv: Env = { ...env, USER: pw.name, HOME: pw.dir, SHELL: pw.shell };
    const args = execArgs(argv);
    prepareExec(inheritedFds());
    up.fill(0);
    pathexec(args[0] as string | Buffer, args, execEnv(childEnv));
    return TEMP;
  } finally {
    up.fill(0);
  }
}
