// SPDX-License-Identifier: MIT
// svwait [ -U | -u | -d | -D ] [ -a | -o ] [ -t timeout ] dir ...: waits until the services are up
// (-u), up and ready (-U), down (-d) or down and finished (-D), all of them (-a) or one (-o), as
// s6-svwait(8) does. It subscribes to supervise's events (a FIFO in DIR/supervise/event, see
// supervise(8)) before it reads the state, so nothing happens unseen, and sleeps in poll(2) until
// an event comes: no polling. A supervise without an event directory (daemontools' own) is
// checked every 100 ms instead. Exit: 0 the condition holds, 99 timeout, 100 usage, 111 error
// (no supervise, or it exited while waited for).
import { die, dieUnable, dieUsage, setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { mkfifo } from "@qts/sys/fifo";
import { closeSync, constants, openSync, readSync, statSync, unlinkSync } from "@qts/sys/fs";
import { POLL_IN, pollMany } from "@qts/sys/poll";
import { EVENT_DIR, notificationFd, readExact, readReady } from "../lib/readiness.ts";
import { decodeStatus, STATUS_SIZE } from "../lib/status.ts";

export const usage = "svwait [ -U | -u | -d | -D ] [ -a | -o ] [ -t timeout ] dir ...";

const EXIT_TIMEOUT = 99;
const EXIT_ERROR = 111;
const FALLBACK_MS = 100;

interface Watch {
  dir: string;
  fifo?: string;
  rfd?: number;
  wfd?: number;
}

/** The longest poll(2) timeout. */
const POLL_MAX = 2 ** 31 - 1;

function options(argv: string[]): { want: "u" | "U" | "d" | "D"; any: boolean; timeout: number; rest: string[] } {
  let want: "u" | "U" | "d" | "D" = "u";
  let any = false;
  let timeout = 0;
  const { opts, rest } = getopt(argv, "UudDaot:");
  for (const o of opts) {
    if (o.opt === "U" || o.opt === "u" || o.opt === "d" || o.opt === "D") want = o.opt;
    else if (o.opt === "a") any = false;
    else if (o.opt === "o") any = true;
    else if (o.opt === "t" && /^\d+$/.test(o.arg ?? "")) timeout = Number(o.arg);
    else dieUsage(usage);
  }
  if (rest.length === 0) dieUsage(usage);
  return { want, any, timeout, rest };
}

/** Sleeps until an event on one of the watches' FIFOs (at most left ms, 100 ms without events), then reads it away. */
function sleepForEvents(watches: Watch[], left: number): void {
  const fds = watches.flatMap((w) => (w.rfd === undefined ? [] : [w.rfd]));
  const fallback = fds.length < watches.length;
  const ms = Math.min(left === Number.POSITIVE_INFINITY ? POLL_MAX : left, fallback ? FALLBACK_MS : POLL_MAX);
  const ready = pollMany(
    fds.map((fd) => ({ fd, events: POLL_IN })),
    Math.ceil(ms),
  );
  fds.forEach((fd, i) => {
    if (ready[i]) drain(fd);
  });
}

export function main(argv: string[], _env: Env): number {
  setProg("svwait");
  const { want, any, timeout, rest } = options(argv);
  const deadline = timeout > 0 ? Date.now() + timeout : Number.POSITIVE_INFINITY;
  const watches: Watch[] = rest.map((dir) => subscribe(dir));
  try {
    for (;;) {
      const met = watches.map((w) => holds(w.dir, want));
      if (any ? met.some((m) => m) : met.every((m) => m)) return EXIT_OK;
      const left = deadline - Date.now();
      if (left <= 0) die(EXIT_TIMEOUT, "timed out");
      sleepForEvents(watches, left);
    }
  } finally {
    for (const w of watches) unsubscribe(w);
  }
}

/** A FIFO of ours in DIR/supervise/event, opened for reading (and by us for writing, so no EOF). */
function subscribe(dir: string): Watch {
  const w: Watch = { dir };
  const fifo = `${dir}/${EVENT_DIR}/svwait:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  try {
    mkfifo(fifo, 0o600);
  } catch (e) {
    if (errnoName(e) === "ENOENT") {
      // No event directory: a supervise that does not send events (or none at all: holds() says).
      if (!isDir(`${dir}/supervise`)) die(EXIT_ERROR, "supervise not running in ", dir);
      return w;
    }
    dieUnable(EXIT_ERROR, `subscribe to ${dir}/${EVENT_DIR}`, e);
  }
  w.fifo = fifo;
  try {
    w.rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    w.wfd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    unsubscribe(w);
    dieUnable(EXIT_ERROR, `open ${fifo}`, e);
  }
  return w;
}

function unsubscribe(w: Watch): void {
  for (const fd of [w.rfd, w.wfd]) if (fd !== undefined) closeSync(fd);
  w.rfd = w.wfd = undefined;
  if (w.fifo) {
    try {
      unlinkSync(w.fifo);
    } catch {}
  }
}

function drain(fd: number): void {
  const b = Buffer.alloc(256);
  for (;;) {
    try {
      if (readSync(fd, b, 0, b.length, null) <= 0) return;
    } catch {
      return;
    }
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Whether dir is in the wanted state now; dies when no supervise runs there. */
function holds(dir: string, want: "u" | "U" | "d" | "D"): boolean {
  try {
    closeSync(openSync(`${dir}/supervise/ok`, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch (e) {
    if (errnoName(e) === "ENXIO" || errnoName(e) === "ENOENT") die(EXIT_ERROR, "supervise not running in ", dir);
    dieUnable(EXIT_ERROR, `open ${dir}/supervise/ok`, e);
  }
  const pid = readPid(dir);
  if (want === "d" || want === "D") return pid === 0;
  if (pid === 0) return false;
  if (want === "u") return true;
  // Up and ready: ready as supervise recorded it for this pid, or at once without a (valid)
  // notification-fd, as s6-supervise counts such a service ready when it starts.
  if (typeof notificationFd(dir) !== "number") return true;
  return readReady(dir)?.pid === pid;
}

function readPid(dir: string): number {
  const b = readExact(`${dir}/supervise/status`, STATUS_SIZE);
  if (!b) dieUnable(EXIT_ERROR, `read ${dir}/supervise/status`);
  return decodeStatus(b).pid;
}
