// SPDX-License-Identifier: MIT
// checkpassword: the checkpassword interface (checkpassword(8); D. J. Bernstein's
// interface.html and checkpassword.c): name, password and timestamp on fd 3,
// checked against the shadow database; on success exec the program as the user.
// Not root (qmail-smtpd's SMTP AUTH runs it as qmaild), it asks qmail-authd(8)
// instead, and runs the program as itself: it is never setuid (qmail-authd.ts says why).
import { execArgs, execEnv } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { closeSync, readSync } from "@qts/sys/fs";
import { getpwnam, type Passwd } from "@qts/sys/pwd";
import { askAuthd, authdSocket } from "../lib/auth/authd-proto.ts";
import { CP, checkPassword, splitUp, UPMAX } from "../lib/auth/passcheck.ts";
import { qmailHome } from "../lib/home.ts";

export const usage = "checkpassword prog";

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
      return CP.TEMP;
    }
    if (r === 0) break;
    len += r;
    if (len >= up.length) {
      up.fill(0);
      return CP.BAD;
    }
  }
  try {
    closeSync(3);
  } catch {}
  return up.subarray(0, len);
}

/** Runs prog as pw, as far as this process may: root changes ids and must enter the home; others try. */
function runAs(pw: Passwd, root: boolean, up: Buffer, argv: string[], env: Env): number {
  if (root) {
    // prot_gid, prot_uid: the account's primary group only
    try {
      (process.setgroups as (g: number[]) => void)([pw.gid]);
      (process.setgid as (g: number) => void)(pw.gid);
      (process.setuid as (u: number) => void)(pw.uid);
    } catch {
      return CP.BAD;
    }
  }
  try {
    process.chdir(pw.dir);
  } catch {
    if (root) return CP.TEMP;
  }
  const childEnv: Env = { ...env, USER: pw.name, HOME: pw.dir, SHELL: pw.shell };
  const args = execArgs(argv);
  prepareExec(inheritedFds());
  up.fill(0);
  pathexec(args[0] as string | Buffer, args, execEnv(childEnv));
  return CP.TEMP;
}

/** Not root: qmail-authd decides; on its yes, the passwd entry (readable by all) gives USER, HOME, SHELL. */
async function viaAuthd(up: Buffer, name: Buffer, argv: string[], env: Env): Promise<number> {
  let code: number;
  try {
    code = await askAuthd(authdSocket(qmailHome(env)), up);
  } finally {
    up.fill(0);
  }
  if (code !== CP.OK) return code;
  let pw: Passwd | undefined;
  try {
    pw = getpwnam(name);
  } catch {
    return CP.TEMP;
  }
  if (!pw) return CP.TEMP;
  return runAs(pw, false, up, argv, env);
}

export function main(argv: string[], env: Env): number | Promise<number> {
  setProg("checkpassword");
  if (argv.length === 0) return CP.MISUSE;
  const got = readUp();
  if (typeof got === "number") return got;
  const up = got;
  let async = false;
  try {
    const f = splitUp(up);
    if (!f) return CP.MISUSE;
    if ((process.geteuid?.() ?? 0) !== 0) {
      async = true;
      // the name outlives the zeroed buffer: qmail-authd's yes is about it
      return viaAuthd(up, Buffer.from(f.name), argv, env);
    }
    const v = checkPassword(f.name, f.password);
    if (v.code !== CP.OK || !v.pw) return v.code;
    return runAs(v.pw, true, up, argv, env);
  } finally {
    if (!async) up.fill(0);
  }
}
