// SPDX-License-Identifier: MIT
// qbiff.c: tell the recipient's terminals that a message arrived (as
// `|qbiff` in a .qmail file), on each one where the user said `biff y`.
import { rawEnv } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { EXIT_OK } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from "@qts/sys/fs";
import { H, known } from "../lib/inject/header.ts";
import { headerbody, lines, printable, skipName } from "../lib/inject/headerbody.ts";

export const usage = "qbiff";

/** glibc's _PATH_UTMP, which qbiff.c opens as UTMP_FILE. */
const UTMP = "/var/run/utmp";
// struct utmp on Linux (glibc, x86_64 and arm64 alike): 384 bytes; ut_type at 0, ut_line[32] at 8,
// ut_user[32] at 44. USER_PROCESS entries are logins (notqmail's UTMP_TYPE_MATCHES).
const UT_SIZE = 384;
const UT_LINE = 8;
const UT_USER = 44;
const UT_NAMESIZE = 32;
const USER_PROCESS = 7;

function cstring(b: Buffer, at: number, size: number): string {
  const end = b.indexOf(0, at);
  return b.toString("latin1", at, end < 0 || end > at + size ? at + size : end);
}

/** The terminal lines (under /dev) of user's logins. */
function ttys(user: string): string[] {
  let u: Buffer;
  try {
    u = readFileSync(UTMP);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (let at = 0; at + UT_SIZE <= u.length; at += UT_SIZE) {
    if (u.readInt16LE(at) !== USER_PROCESS) continue;
    if (cstring(u, at + UT_USER, UT_NAMESIZE) !== user) continue;
    out.push(cstring(u, at + UT_LINE, 32));
  }
  return out;
}

/** The Subject field's value and the body, after four blanks, cut at 78 bytes; undefined if stdin fails. */
function summary(): string | undefined {
  let text = "    ";
  const add = (s: string) => {
    if (text.length < 78) text = (text + s).slice(0, 78);
  };
  try {
    for (const part of headerbody(lines(0))) {
      if ("field" in part) {
        if (known(part.field) === H.SUBJECT) add(part.field.slice(skipName(part.field)));
      } else if ("body" in part) add(part.body);
    }
  } catch {
    return undefined;
  }
  return text;
}

/** Writes woof on terminal line (under /dev) if the user owns it and said `biff y`; silent otherwise. */
function bark(line: string, woof: Buffer, uid: number): void {
  // Only a plain name under /dev: no absolute path, nothing empty, no dot.
  if (line === "" || line.startsWith("/") || line.includes(".")) return;
  let fd: number;
  try {
    fd = openSync(line, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND);
  } catch {
    return;
  }
  try {
    const st = fstatSync(fd);
    // `biff y` sets the owner's execute bit on the terminal; and it must be the user's own.
    if (st.mode & 0o100 && st.uid === uid) writeSync(fd, woof);
  } catch {}
  closeSync(fd);
}

// Every failure is a silent exit 0: a biff must never hold up a delivery.
export function main(_argv: string[], env: Env): number {
  setProg("qbiff");
  try {
    process.chdir("/dev");
  } catch {
    return EXIT_OK;
  }
  const e = rawEnv(env);
  const { USER: user, SENDER: sender, LOCAL: userext } = e;
  if (user === undefined || sender === undefined || userext === undefined) return EXIT_OK;
  if (user.length > UT_NAMESIZE) return EXIT_OK;
  const tofrom = printable(`*** TO <${userext}> FROM <${sender}>`, "_");
  const text = summary();
  if (text === undefined) return EXIT_OK;
  const woof = Buffer.from(`\r\n\x07${tofrom}\r\n${printable(text, "/")}\r\n`, "latin1");

  const uid = process.getuid?.() ?? -1;
  for (const line of ttys(user)) bark(line, woof, uid);
  return EXIT_OK;
}
