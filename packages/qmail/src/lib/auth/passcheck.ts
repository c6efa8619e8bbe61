// SPDX-License-Identifier: MIT
// The password check of checkpassword(8) and qmail-authd(8), in one place: the
// passwd entry, the shadow hash, crypt(3) of libcrypt, a constant-time
// comparison, and a hash computed anyway when there is nothing to compare with.
import { timingSafeEqual } from "node:crypto";
import { errnoName } from "@qts/core/errstr";
import { accessSync, closeSync, constants } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { getpwnam, type Passwd } from "@qts/sys/pwd";
import { crypt, getspnam } from "@qts/sys/shadow";
import { reap } from "@qts/sys/waitpid";
import { childEnv, devNull, outcome, startChild, waitChildSync, writeFully } from "../child.ts";

/** The checkpassword interface's exit codes (checkpassword(8)). */
export const CP = { OK: 0, BAD: 1, MISUSE: 2, TEMP: 111 } as const;

/** checkpassword.c's up[513]: at most 512 bytes of name, password and timestamp. */
export const UPMAX = 512;

/**
 * A yescrypt setting at Debian's default cost, hashed against when there is
 * no usable stored hash (no such user, a locked or odd entry, an account that
 * may not log in this way), so that the answer takes about as long as for a
 * real user with a wrong password.
 */
const DUMMY = Buffer.from("$y$j9T$u0pG6bpm1vO2cHQX4hFfK.$");

/** name NUL password NUL ...: both NULs must be there, else undefined (misuse). Views into up, no copies. */
export function splitUp(up: Buffer): { name: Buffer; password: Buffer } | undefined {
  const n1 = up.indexOf(0);
  if (up.length === 0 || n1 < 0 || n1 + 1 >= up.length) return undefined;
  const n2 = up.indexOf(0, n1 + 1);
  if (n2 < 0) return undefined;
  return { name: up.subarray(0, n1), password: up.subarray(n1 + 1, n2) };
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

export interface CheckOpts {
  /** Accounts with uid 0 never pass (qmail-authd(8)): answered 1 after the same work as a wrong password. */
  refuseRoot?: boolean;
  /**
   * When the shadow file cannot be read, ask this setgid-shadow helper instead
   * (PAM's unix_chkpwd, which checks only its caller's own password).
   */
  helper?: string;
}

export interface Verdict {
  /** CP.OK, CP.BAD or CP.TEMP. */
  code: number;
  /** The account, when code is CP.OK. */
  pw?: Passwd;
  /** Why it failed, for a log line (never the password). */
  why?: string;
}

/**
 * Checks password against name's stored hash. A locked (`!`, `*`) or empty
 * hash, a missing user and (with refuseRoot) a uid 0 account all cost one
 * crypt against DUMMY and answer CP.BAD, like a wrong password. CP.TEMP when
 * the databases cannot be read. The caller owns and zeroes the buffers.
 */
export function checkPassword(name: Buffer, password: Buffer, opts: CheckOpts = {}): Verdict {
  let pw: Passwd | undefined;
  let stored: Buffer | undefined;
  try {
    pw = getpwnam(name);
    if (pw) stored = getspnam(name) ?? (shadowReadable() ? Buffer.from(pw.passwd, "latin1") : undefined);
  } catch {
    // the databases cannot be read (not root: EACCES): a temporary problem, not a wrong password
    if (pw && opts.helper) return viaHelper(opts.helper, pw, password, opts);
    crypt(password, DUMMY);
    return { code: CP.TEMP, why: "unable to read the shadow file" };
  }
  let why: string | undefined;
  if (!pw) why = "no such user";
  else if (opts.refuseRoot && pw.uid === 0) why = "uid 0";
  else if (!stored || stored.length === 0 || stored[0] === 0x21 || stored[0] === 0x2a) why = "no usable password";
  let encrypted = why === undefined && stored ? crypt(password, stored) : undefined;
  const usable = encrypted !== undefined;
  if (!usable) {
    encrypted = crypt(password, DUMMY);
    why ??= "crypt failed";
  }
  const ok = usable && sameBytes(encrypted as Buffer, stored as Buffer);
  if (!ok || !pw) return { code: CP.BAD, why: why ?? "wrong password" };
  return { code: CP.OK, pw };
}

/**
 * Runs file with input on its standard input (0 and 1 elsewhere /dev/null), through lib/child.ts's one
 * spawn path; its raw wait status, or undefined when it could not start. Killed after ms.
 */
function runBounded(file: string, args: string[], input: Buffer, ms: number): number | undefined {
  const [r, w] = pipe();
  const nul = devNull();
  let pid: number;
  try {
    pid = startChild({
      file,
      args,
      env: childEnv({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }),
      fds: [
        [0, r],
        [1, nul],
        [2, nul],
      ],
    });
  } catch {
    closeSync(w);
    return undefined;
  } finally {
    closeSync(r);
    closeSync(nul);
  }
  try {
    writeFully(w, input);
  } catch {
    // it stopped reading: its status says what it made of that
  } finally {
    closeSync(w);
  }
  for (const end = Date.now() + ms; Date.now() < end; Bun.sleepSync(5)) {
    const st = reap(pid);
    if (st) return st.status;
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
  return waitChildSync(pid);
}

/**
 * PAM's unix_chkpwd (pam_unix(8)): setgid shadow, password on standard input,
 * exit 0 when it is right. It checks only the password of the user running
 * it (unix_chkpwd.c refuses another name unless run by root).
 */
function viaHelper(helper: string, pw: Passwd, password: Buffer, opts: CheckOpts): Verdict {
  if (opts.refuseRoot && pw.uid === 0) return { code: CP.BAD, why: "uid 0" };
  const input = Buffer.alloc(password.length + 1);
  password.copy(input);
  try {
    const status = runBounded(helper, [pw.name, "nonull"], input, 20_000);
    if (status === undefined) return { code: CP.TEMP, why: `unable to run ${helper}` };
    const end = outcome(status);
    if (!end.crashed && end.code === 0) return { code: CP.OK, pw };
    // PAM_AUTH_ERR (7) is a wrong password; another user's password it cannot check
    // (PAM_AUTHINFO_UNAVAIL, 9), nor anything else it says: not an answer, a temporary failure
    if (!end.crashed && end.code === 7) return { code: CP.BAD, why: `refused by ${helper}` };
    return { code: CP.TEMP, why: `${helper} ${end.crashed ? "crashed" : `exit ${end.code}`}` };
  } finally {
    input.fill(0);
  }
}
