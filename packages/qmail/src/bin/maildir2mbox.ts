// SPDX-License-Identifier: MIT
import { closeSync, constants, fsyncSync, openSync, readFileSync, readSync, renameSync, unlinkSync } from "node:fs";
import { die, dieSys, setProg, warnSys } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { flock, LOCK_EX } from "@qts/sys/flock";
import { dateFromLine } from "../lib/date822.ts";
import { maildirClean, maildirScan, ScanError } from "../lib/maildir.ts";
import { FromQuoter, Out } from "../lib/mbox.ts";

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

// maildir2mbox.c: $MAILDIR's new/ and cur/ messages appended to $MAIL through $MAILTMP, then removed.
export function main(_argv: string[], env: Env): number {
  setProg("maildir2mbox");
  process.umask(0o077);
  const mbox = env.MAIL;
  if (mbox === undefined) die(EXIT_TEMP, "MAIL not set");
  const mboxtmp = env.MAILTMP;
  if (mboxtmp === undefined) die(EXIT_TEMP, "MAILTMP not set");
  const maildir = env.MAILDIR;
  if (maildir === undefined) die(EXIT_TEMP, "MAILDIR not set");
  try {
    process.chdir(maildir);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to chdir to ", maildir);
  }
  maildirClean();
  let found: ReturnType<typeof maildirScan>;
  try {
    found = maildirScan(true, true);
  } catch (e) {
    if (e instanceof ScanError) dieSys(EXIT_TEMP, e.err, e.message);
    throw e;
  }
  if (found.length === 0) return EXIT_OK;

  let lockfd: number;
  try {
    lockfd = openSync(mbox, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
    flock(lockfd, LOCK_EX);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to lock ", mbox);
  }
  let oldfd: number;
  try {
    oldfd = openSync(mbox, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to read ", mbox);
  }
  let newfd: number;
  try {
    newfd = openSync(mboxtmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to create ", mboxtmp);
  }
  const out = new Out(newfd);
  const wr = (f: () => void) => {
    try {
      f();
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to write to ", mboxtmp);
    }
  };
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n = 0;
    try {
      n = readSync(oldfd, buf, 0, buf.length, null);
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to read ", mbox);
    }
    if (n === 0) break;
    wr(() => out.put(buf, 0, n));
  }
  closeSync(oldfd);

  for (const m of found) {
    let text: Buffer;
    try {
      text = readFileSync(m.path);
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to read $MAILDIR/", m.path);
    }
    const nl = text.indexOf(10);
    const first = nl < 0 ? undefined : text.subarray(0, nl + 1);
    wr(() => out.put(fromLine(first, m.mtime)));
    // A message whose first line has no newline contributes no body (getln found no complete line).
    if (first) {
      const q = new FromQuoter(out);
      wr(() => {
        q.write(text);
        q.end();
      });
    }
    wr(() => out.put(Buffer.from("\n")));
  }
  wr(() => {
    out.flush();
    fsyncSync(newfd);
    closeSync(newfd);
  });
  try {
    renameSync(mboxtmp, mbox);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to move ", mboxtmp, " to ", mbox);
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
