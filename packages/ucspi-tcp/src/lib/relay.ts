// SPDX-License-Identifier: MIT
// The two-way copy loop of recordio.c, fixcrio.c and mconnect-io.c (their
// doit(): iopause on four descriptors), and the fork those programs make
// before it: here a copy of our own executable, started with the pipes.
import { closeSync, readSync, writeSync } from "node:fs";
import { errnoName } from "@qts/core/errstr";
import { dup2 } from "@qts/sys/dup";
import { inheritFd } from "@qts/sys/exec";
import { pipe } from "@qts/sys/pipe";
import { POLL_IN, POLL_OUT, pollMany } from "@qts/sys/poll";
import { spawn } from "@qts/sys/posixspawn";
import type { Filter } from "./crlf.ts";

export interface Side {
  /** Read from here ... */
  from: number;
  /** ... and write to here. */
  to: number;
  /** Applied to each chunk read (recordio: none). */
  filter?: Filter;
  /** Called with each chunk as read (recordio's transcript). */
  seen?: (chunk: Uint8Array) => void;
}

export interface RelayOptions {
  /** Bytes per read: the C buffers' sizes (256 in recordio and fixcrio), which show in recordio's transcript. */
  chunk: number;
  /** At the end of left.from: close left.to (recordio, fixcrio) or just stop reading (mconnect-io). */
  closeLeftAtEof: boolean;
  /** A write error: ends the loop (recordio, fixcrio) or loses that chunk (mconnect-io). */
  stopOnWriteError: boolean;
  onLeftEof?: () => void;
  /** The loop ends when right.from ends, after this. */
  onRightEof?: () => void;
}

function readOnce(fd: number, buf: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = errnoName(e);
      if (code === "EINTR" || code === "EAGAIN") return -2;
      return -1;
    }
  }
}

function writeOnce(fd: number, b: Uint8Array): number {
  try {
    return writeSync(fd, b);
  } catch (e) {
    const code = errnoName(e);
    if (code === "EINTR" || code === "EAGAIN") return 0;
    return -1;
  }
}

/**
 * Copies left.from -> left.to and right.from -> right.to at once, one buffer
 * per direction: a direction reads again only once its last chunk is written.
 * Returns when right.from ends (or, with stopOnWriteError, a write fails).
 */
export function relay(left: Side, right: Side, o: RelayOptions): void {
  const sides = [left, right].map((s) => ({
    s,
    state: 0 as 0 | 1 | -1, // 0 reading, 1 writing, -1 done
    pending: new Uint8Array(0),
    buf: new Uint8Array(o.chunk),
  }));
  const r = sides[1] as (typeof sides)[0];
  for (;;) {
    const want: { fd: number; events: number }[] = [];
    const who: [(typeof sides)[0], boolean][] = [];
    for (const x of sides) {
      if (x.state === 0) {
        want.push({ fd: x.s.from, events: POLL_IN });
        who.push([x, true]);
      } else if (x.state === 1) {
        want.push({ fd: x.s.to, events: POLL_OUT });
        who.push([x, false]);
      }
    }
    const ready = pollMany(want, 3600_000);
    for (let i = 0; i < who.length; i++) {
      if (!ready[i]) continue;
      const [x, reading] = who[i] as [(typeof sides)[0], boolean];
      if (reading) {
        const n = readOnce(x.s.from, x.buf);
        if (n === -2) continue;
        if (n <= 0) {
          if (x === r) {
            o.onRightEof?.();
            return;
          }
          x.state = -1;
          if (o.closeLeftAtEof) closeSync(x.s.to);
          o.onLeftEof?.();
          continue;
        }
        const chunk = x.buf.subarray(0, n);
        x.s.seen?.(chunk);
        x.pending = x.s.filter ? x.s.filter.put(chunk).slice() : chunk.slice();
        x.state = x.pending.length > 0 ? 1 : 0;
      } else {
        const n = writeOnce(x.s.to, x.pending);
        if (n < 0) {
          if (o.stopOnWriteError) return;
          x.pending = new Uint8Array(0);
        } else x.pending = x.pending.subarray(n);
        if (x.pending.length === 0) x.state = 0;
      }
    }
  }
}

/** The variable that tells a copy of our executable it is the copying half (its value: the program's pid). */
export const RELAY_VAR = "QTS_RELAY";

/**
 * The fork of recordio and fixcrio: the copying half runs as a copy of our own
 * executable named prog, with our descriptors 0-2, the write end of the
 * program's input pipe on 3 and the read end of its output pipe on 4; this
 * process then gets the other ends as 0 and 1, ready to exec the program.
 */
export function forkRelay(prog: string, fail: (step: string, e: unknown) => never): void {
  for (const fd of [0, 1, 2]) {
    try {
      inheritFd(fd);
    } catch {}
  }
  let inR = -1;
  let inW = -1;
  let outR = -1;
  let outW = -1;
  try {
    [inR, inW] = pipe();
    [outR, outW] = pipe();
  } catch (e) {
    fail("unable to create pipe", e);
  }
  try {
    spawn(process.execPath, [prog], [`${RELAY_VAR}=${process.pid}`], {
      dup2: [
        [3, inW],
        [4, outR],
      ],
    });
  } catch (e) {
    fail("unable to fork", e);
  }
  closeSync(inW);
  closeSync(outR);
  try {
    dup2(inR, 0);
    dup2(outW, 1);
  } catch (e) {
    fail("unable to move descriptors", e);
  }
  closeSync(inR);
  closeSync(outW);
}
