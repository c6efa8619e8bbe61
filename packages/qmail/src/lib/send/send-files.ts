// SPDX-License-Identifier: MIT
// Queue file names (fmtqfn.c): mess, info, local and remote are split into
// <N % 23>/ subdirectories; todo, intd, bounce and the clean requests are not.
import { errnoName } from "@qts/core/errstr";
import { closeSync, fstatSync, openSync, readSync, statSync } from "@qts/sys/fs";
import { AUTO_SPLIT } from "../conf.ts";

/** fmtqfn: dir + (split ? N%23 + "/" : "") + N. */
export function fmtqfn(dir: string, id: number, split: boolean): string {
  return split ? `${dir}${id % AUTO_SPLIT}/${id}` : `${dir}${id}`;
}

// ---- what qmail-send's parts (send.ts, send-pqueue.ts, send-todo.ts, send-bounce.ts) share

/** qmail-send.c's CHANNELS: 0 local, 1 remote. */
export const CHANNELS = 2;
/** qmail-send.c's chanaddr[]: each channel's directory of recipient lists. */
export const chanaddr = ["local/", "remote/"] as const;

/** The time in seconds, as qmail-send.c's now(). */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** getinfo() of qmail-send.c: the sender from info/N's F record and the message's birth (the file's mtime). */
export function getinfo(id: number): { sender: string; birth: number } | undefined {
  const fn = fmtqfn("info/", id, true);
  let fd: number;
  try {
    fd = openSync(fn, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const buf = Buffer.alloc(1024);
    let data = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      data = Buffer.concat([data, buf.subarray(0, n)]);
      if (data.indexOf(0) >= 0) break;
    }
    const z = data.indexOf(0);
    if (z < 0 || data[0] !== 0x46) return undefined;
    return { sender: data.subarray(1, z).toString("latin1"), birth: Math.floor(st.mtimeMs / 1000) };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A queue file's stat: true if it exists, false if not, undefined on any other error. */
export function queueFileExists(fn: string): boolean | undefined {
  try {
    statSync(fn);
    return true;
  } catch (e) {
    return errnoName(e) === "ENOENT" ? false : undefined;
  }
}
