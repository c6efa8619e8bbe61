// SPDX-License-Identifier: MIT
import { die, dieSys, dieUnable, setProg, warnSys } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { flock, LOCK_EX } from "@qts/sys/flock";
import { closeSync, constants, fsyncSync, openSync, readFileSync, readSync, renameSync, unlinkSync } from "@qts/sys/fs";
import { dateFromLine } from "../lib/date822.ts";
import { maildirClean, maildirScan, ScanError } from "../lib/local/maildir.ts";
import { FromQuoter, Out } from "../lib/local/mbox.ts";

export const usage = "maildir2mbox";

/** The From_ line for a maildir message whose first line may be qmail-local's Return-Path. */
function fromLine(first: Buffer | undefined, mtime: number): Buffer {
  let who = "XXX";
  const rp = Buffer.from("Return-Path: <");
  if (first && first.length >= rp.length && first.subarray(0, rp.length).equals(rp)) {
    if (first[14] === 0x3e) who = "MAILER-DAEMON";
    // Everything between "<" and the last two bytes (">\n"), blanks made "-".
    else
      who = first
        .subarray(14, Math.max(14, first.length - 2))
        .toString("latin1")
        .replace(/[ \t]/g, "-");
  }
  return Buffer.from(`From ${who} ${dateFromLine(mtime * 1000)}\n`, "latin1");
}

function need(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined) die(EXIT_TEMP, `${name} not set`);
  return v;
}

function scan(maildir: string): ReturnType<typeof maildirScan> {
  try {
    process.chdir(maildir);
  } catch (e) {
    dieUnable(EXIT_TEMP, `chdir to ${maildir}`, e);
  }
  maildirClean();
  try {
    return maildirScan(true, true);
  } catch (e) {
    if (e instanceof ScanError) dieSys(EXIT_TEMP, e.err, e.message);
    throw e;
  }
}

// $MAIL locked (the lock is held until exit), opened for reading, and $MAILTMP created.
function openBoth(mbox: string, mboxtmp: string): { oldfd: number; newfd: number } {
  try {
    const lockfd = openSync(
      mbox,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK,
      0o600,
    );
    flock(lockfd, LOCK_EX);
  } catch (e) {
    dieUnable(EXIT_TEMP, `lock ${mbox}`, e);
  }
  let oldfd: number;
  try {
    oldfd = openSync(mbox, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieUnable(EXIT_TEMP, `read ${mbox}`, e);
  }
  let newfd: number;
  try {
    newfd = openSync(mboxtmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    dieUnable(EXIT_TEMP, `create ${mboxtmp}`, e);
  }
  return { oldfd, newfd };
}

/** Writes through f, dying as maildir2mbox does when $MAILTMP cannot take them. */
function wr(mboxtmp: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    dieUnable(EXIT_TEMP, `write to ${mboxtmp}`, e);
  }
}

function copyOld(oldfd: number, out: Out, mbox: string, mboxtmp: string): void {
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n = 0;
    try {
      n = readSync(oldfd, buf, 0, buf.length, null);
    } catch (e) {
      dieUnable(EXIT_TEMP, `read ${mbox}`, e);
    }
    if (n === 0) break;
    wr(mboxtmp, () => out.put(buf, 0, n));
  }
  closeSync(oldfd);
}

function appendMessage(m: { path: string; mtime: number }, out: Out, mboxtmp: string): void {
  let text: Buffer;
  try {
    text = readFileSync(m.path);
  } catch (e) {
    dieUnable(EXIT_TEMP, `read $MAILDIR/${m.path}`, e);
  }
  const nl = text.indexOf(10);
  const first = nl < 0 ? undefined : text.subarray(0, nl + 1);
  wr(mboxtmp, () => out.put(fromLine(first, m.mtime)));
  // A message whose first line has no newline contributes no body (getln found no complete line).
  if (first) {
    const q = new FromQuoter(out);
    wr(mboxtmp, () => {
      q.write(text);
      q.end();
    });
  }
  wr(mboxtmp, () => out.put(Buffer.from("\n")));
}

// maildir2mbox.c: $MAILDIR's new/ and cur/ messages appended to $MAIL through $MAILTMP, then removed.
export function main(_argv: string[], env: Env): number {
  setProg("maildir2mbox");
  process.umask(0o077);
  const mbox = need(env, "MAIL");
  const mboxtmp = need(env, "MAILTMP");
  const found = scan(need(env, "MAILDIR"));
  if (found.length === 0) return EXIT_OK;

  const { oldfd, newfd } = openBoth(mbox, mboxtmp);
  const out = new Out(newfd);
  copyOld(oldfd, out, mbox, mboxtmp);
  for (const m of found) appendMessage(m, out, mboxtmp);
  wr(mboxtmp, () => {
    out.flush();
    fsyncSync(newfd);
    closeSync(newfd);
  });
  try {
    renameSync(mboxtmp, mbox);
  } catch (e) {
    dieUnable(EXIT_TEMP, `move ${mboxtmp} to ${mbox}`, e);
  }
  for (const m of found) {
    try {
      unlinkSync(m.path);
    } catch (e) {
      warnSys(e, "$MAILDIR/", m.path, " will be delivered twice; unable to unlink");
    }
  }
  return EXIT_OK;
}
