// SPDX-License-Identifier: MIT
// The two-way copy loop of recordio.c, fixcrio.c and mconnect-io.c (their
// doit(): iopause on four descriptors), and the fork those programs make
// before it: here a copy of our own executable, started with the pipes.
import { errnoName } from "@qts/core/errstr";
import { dup2 } from "@qts/sys/dup";
import { inheritFd } from "@qts/sys/exec";
import { closeSync, readSync, writeSync } from "@qts/sys/fs";
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

/** One direction of the copy: reading (0), writing its pending chunk (1), or done (-1). */
class Direction {
  state: 0 | 1 | -1 = 0;
  private pending = new Uint8Array(0);
  private readonly buf: Uint8Array;

  constructor(
    readonly s: Side,
    chunk: number,
  ) {
    this.buf = new Uint8Array(chunk);
  }

  /** What to wait for: its input while reading, its output while writing. */
  want(): { fd: number; events: number } | undefined {
    if (this.state === 0) return { fd: this.s.from, events: POLL_IN };
    if (this.state === 1) return { fd: this.s.to, events: POLL_OUT };
    return undefined;
  }

  /** Reads a chunk: false at the end of the input (or an error), true otherwise. */
  read(): boolean {
    const n = readOnce(this.s.from, this.buf);
    if (n === -2) return true;
    if (n <= 0) return false;
    const chunk = this.buf.subarray(0, n);
    this.s.seen?.(chunk);
    this.pending = this.s.filter ? this.s.filter.put(chunk).slice() : chunk.slice();
    this.state = this.pending.length > 0 ? 1 : 0;
    return true;
  }

  /** Writes what it can of the pending chunk: false on a write error that stops the loop. */
  write(stopOnWriteError: boolean): boolean {
    const n = writeOnce(this.s.to, this.pending);
    if (n < 0) {
      if (stopOnWriteError) return false;
      this.pending = new Uint8Array(0);
    } else this.pending = this.pending.subarray(n);
    if (this.pending.length === 0) this.state = 0;
    return true;
  }
}

/**
 * Copies left.from -> left.to and right.from -> right.to at once, one buffer
 * per direction: a direction reads again only once its last chunk is written.
 * Returns when right.from ends (or, with stopOnWriteError, a write fails).
 */
export function relay(left: Side, right: Side, o: RelayOptions): void {
  const l = new Direction(left, o.chunk);
  const r = new Direction(right, o.chunk);
  for (;;) {
    const who = [l, r].filter((x) => x.state !== -1);
    const ready = pollMany(
      who.map((x) => x.want() as { fd: number; events: number }),
      3600_000,
    );
    for (let i = 0; i < who.length; i++) {
      if (ready[i] && !step(who[i] as Direction, who[i] === r, o)) return;
    }
  }
}

/** x's descriptor is ready: one read or write. Returns false when the loop ends. */
function step(x: Direction, right: boolean, o: RelayOptions): boolean {
  if (x.state === 1) return x.write(o.stopOnWriteError);
  if (x.read()) return true;
  if (right) {
    o.onRightEof?.();
    return false;
  }
  x.state = -1;
  if (o.closeLeftAtEof) closeSync(x.s.to);
  o.onLeftEof?.();
  return true;
}

/** The variable that tells a copy of our executable it is the copying half (its value: the program's pid). */
export const RELAY_VAR = "QTS_RELAY";

/**
 * The fork of recordio and fixcrio: the copying half runs as a copy of our own
 * executable named prog, with our descriptors 0-2, the write end of the
 * program's input pipe on 3 and the read end of its output pipe on 4; this
 * process then gets the other ends as 0 and 1, ready to exec the program.
 * fail gets what could not be done ("fork"), for "unable to fork: ...".
 */
export function forkRelay(prog: string, fail: (what: string, e: unknown) => never): void {
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
    fail("create pipe", e);
  }
  try {
    spawn(process.execPath, [prog], [`${RELAY_VAR}=${process.pid}`], {
      dup2: [
        [3, inW],
        [4, outR],
      ],
    });
  } catch (e) {
    fail("fork", e);
  }
  closeSync(inW);
  closeSync(outR);
  try {
    dup2(inR, 0);
    dup2(outW, 1);
  } catch (e) {
    fail("move descriptors", e);
  }
  closeSync(inR);
  closeSync(outW);
}
