// SPDX-License-Identifier: MIT
// Maildir delivery (maildir(5); qmail-local.c maildir_child):
// tmp/<time>.<pid>.<host> created exclusively, Return-Path + Delivered-To +
// the message as is, fsync, link into new/, fsync new/ (the link-sync patch),
// unlink tmp. Any failure removes the tmp file and defers.
import { errnoName, errorTemp } from "@qts/core/errstr";
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  unlinkSync,
} from "@qts/sys/fs";
import { LocalExit, type Message, ReadError, temp } from "./local-message.ts";
import { Out } from "./mbox.ts";

function exists(path: Buffer): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    return errnoName(e) !== "ENOENT";
  }
}

/** gethostname into qmail-local's 64-byte buffer. */
export function maildirHost(): string {
  // node:os on use: a delivery to a Maildir asks, a start does not (BENCHMARKS.md, "Start-up: lazy modules").
  return (require("node:os") as typeof import("node:os")).hostname().slice(0, 64);
}

export interface MaildirOptions {
  /** Seconds, for tests; default now. */
  now?: () => number;
  /** qmail-local's alarm(86400) around the write; checked between chunks (no signal can interrupt a Bun write). */
  timeoutMs?: number;
  /**
   * The name's middle part instead of the pid: a qmail-local that serves many deliveries
   * (qmail-local -W) gives "pid_n", n counting its deliveries, so two of them within one second
   * never meet (maildir(5): the name only has to be unique on this host).
   */
  pid?: string;
}

/**
 * chdir(dir) as qmail-local's maildir child does it, without moving this
 * process: the directory must exist, be a directory and be searchable.
 * A temporary error defers as any maildir trouble; any other is "Unable to
 * chdir to maildir".
 */
function checkDir(dir: Buffer): void {
  try {
    accessSync(dir, constants.X_OK);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error("ENOTDIR"), { code: "ENOTDIR" });
  } catch (e) {
    if (errorTemp(e)) throw temp("Temporary error on maildir delivery. (#4.3.0)");
    throw temp("Unable to chdir to maildir. (#4.2.1)");
  }
}

const deliveryFailed = () => temp("Temporary error on maildir delivery. (#4.3.0)");

/**
 * maildir_child's first loop: <time>.<pid>.<host>, unused in tmp/ and new/ (at makes a path in the
 * maildir); tried three times, two seconds apart, before the delivery defers.
 */
function freshName(at: (p: string) => Buffer, o: MaildirOptions): string {
  const now = o.now ?? (() => Math.floor(Date.now() / 1000));
  const host = maildirHost();
  for (let loop = 0; ; loop++) {
    const name = `${now()}.${o.pid ?? process.pid}.${host}`;
    // One qmail-local has one pid for all its lines (C forks a child each time): a second delivery into the
    // same maildir within the same second must not meet the first one's new/ file.
    if (!exists(at(`tmp/${name}`)) && !exists(at(`new/${name}`))) return name;
    if (loop === 2) throw deliveryFailed();
    Bun.sleepSync(2000);
  }
}

/** maildir_child's writes to the tmp file on fd: Return-Path, Delivered-To, the message; then fsync and close. */
function writeTmp(fd: number, msg: Message, rpline: Buffer, dtline: Buffer, timeoutMs: number): void {
  try {
    const out = new Out(fd);
    out.put(rpline);
    out.put(dtline);
    const deadline = Date.now() + timeoutMs;
    for (const chunk of msg.chunks()) {
      if (Date.now() > deadline) throw temp("Timeout on maildir delivery. (#4.3.0)");
      out.put(chunk);
    }
    out.flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a directory, so a link made in it is on disk. */
function fsyncDir(path: Buffer): void {
  const d = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/**
 * Delivers the message into the maildir dir (a path relative to the home, as
 * bytes, ending in "/"). Returns the name used, "new/<time>.<pid>.<host>".
 * Throws LocalExit(111).
 */
export function maildirDeliver(
  dir: Buffer,
  msg: Message,
  rpline: Buffer,
  dtline: Buffer,
  o: MaildirOptions = {},
): string {
  msg.rewind();
  checkDir(dir);
  const at = (p: string) => Buffer.concat([dir, Buffer.from(p, "latin1")]);
  const name = freshName(at, o);
  const tmpName = at(`tmp/${name}`);
  const newName = at(`new/${name}`);
  let fd: number;
  try {
    fd = openSync(tmpName, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch {
    throw deliveryFailed();
  }
  try {
    writeTmp(fd, msg, rpline, dtline, o.timeoutMs ?? 86_400_000);
    linkSync(tmpName, newName);
    fsyncDir(at("new"));
  } catch (e) {
    try {
      unlinkSync(tmpName);
    } catch {}
    if (e instanceof ReadError) throw temp("Unable to read message. (#4.3.0)");
    if (e instanceof LocalExit) throw e;
    throw deliveryFailed();
  }
  try {
    unlinkSync(tmpName);
  } catch {}
  return `new/${name}`;
}

/** maildirmake: dir and dir/{tmp,new,cur}, mode 0700 (before umask). Throws the failing step's error. */
export function maildirMake(dir: string): void {
  const step = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      throw Object.assign(e as object, { step: what });
    }
  };
  step("mkdir", () => mkdirSync(dir, 0o700));
  step("chdir", () => process.chdir(dir));
  step("tmp", () => mkdirSync("tmp", 0o700));
  step("new", () => mkdirSync("new", 0o700));
  step("cur", () => mkdirSync("cur", 0o700));
}

/** A message found by maildir_scan: its path relative to the maildir and its mtime (seconds). */
export interface MaildirEntry {
  path: string;
  mtime: number;
}

/**
 * maildir_clean: removes tmp/ files last accessed more than 36 hours ago
 * (129600 s). Run with the maildir as cwd. Errors are ignored.
 */
export function maildirClean(nowSec = Math.floor(Date.now() / 1000)): void {
  let names: string[];
  try {
    names = readdirSync("tmp");
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(".")) continue;
    try {
      const st = statSync(`tmp/${n}`);
      if (nowSec > Math.floor(st.atimeMs / 1000) + 129600) unlinkSync(`tmp/${n}`);
    } catch {}
  }
}

/** A maildir_scan failure: "unable to scan $MAILDIR/new: <err>". */
export class ScanError extends Error {
  constructor(
    readonly subdir: string,
    readonly err: unknown,
  ) {
    super(`unable to scan $MAILDIR/${subdir}`);
  }
}

/**
 * maildir_scan: the messages in new/ and/or cur/ (not dot files) whose mtime
 * is before now, oldest first (ties in directory order). Run with the maildir
 * as cwd.
 */
export function maildirScan(flagnew: boolean, flagcur: boolean, nowSec = Math.floor(Date.now() / 1000)) {
  const out: MaildirEntry[] = [];
  for (const sub of [flagnew ? "new" : "", flagcur ? "cur" : ""]) {
    if (!sub) continue;
    let names: string[];
    try {
      names = readdirSync(sub);
    } catch (e) {
      throw new ScanError(sub, e);
    }
    for (const n of names) {
      if (n.startsWith(".")) continue;
      try {
        const m = Math.floor(statSync(`${sub}/${n}`).mtimeMs / 1000);
        if (m < nowSec) out.push({ path: `${sub}/${n}`, mtime: m });
      } catch {}
    }
  }
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.mtime - b.e.mtime || a.i - b.i)
    .map((x) => x.e);
}
