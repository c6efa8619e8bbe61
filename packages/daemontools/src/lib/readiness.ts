// SPDX-License-Identifier: MIT
// Readiness, in s6's form (s6-supervise(8), "notification-fd"), beside daemontools' files:
// - DIR/notification-fd names a descriptor; supervise gives ./run the write end of a pipe there,
//   and the service is ready once it writes a newline to it.
// - supervise records the moment in DIR/supervise/ready (TAI64N of readiness, 12 bytes, then the
//   pid it is for, 4 bytes little-endian, as in supervise/status); supervise/status stays the 18
//   bytes that daemontools' svc, svok and svstat read.
// - supervise/event/ holds FIFOs of waiters (svwait); supervise writes one letter to each on every
//   event, as s6-supervise does through its event fifodir: s start, u up, U ready, d down,
//   D down and finished (daemontools has no ./finish, so it follows d), x supervise exits.
import { errnoName } from "@qts/core/errstr";
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "@qts/sys/fs";
import { pack, type Tain, unpack } from "@qts/tai64/tai64";

export const NOTIFICATION_FILE = "notification-fd";
export const READY_FILE = "supervise/ready";
export const EVENT_DIR = "supervise/event";
const READY_SIZE = 16;

/**
 * The descriptor named by ./notification-fd: a number, undefined when the file is absent, or an
 * Error whose message says what is wrong with it (then the service runs without readiness).
 */
export function notificationFd(dir = "."): number | undefined | Error {
  let text: string;
  try {
    text = readFileSync(`${dir}/${NOTIFICATION_FILE}`, "latin1");
  } catch (e) {
    if (errnoName(e) === "ENOENT") return undefined;
    return new Error(`unable to read ${NOTIFICATION_FILE}: ${errnoName(e)}`);
  }
  const t = text.replace(/\n$/, "");
  if (!/^\d{1,9}$/.test(t)) return new Error(`${NOTIFICATION_FILE} is not a descriptor number`);
  return Number(t);
}

/** Writes supervise/ready for pid, readiness at when (atomically: .new, then rename). */
export function writeReady(when: Tain, pid: number): void {
  const b = new Uint8Array(READY_SIZE);
  pack(when, b, 0);
  new DataView(b.buffer).setUint32(12, pid >>> 0, true);
  const fd = openSync(`${READY_FILE}.new`, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
  try {
    writeSync(fd, b);
  } finally {
    closeSync(fd);
  }
  renameSync(`${READY_FILE}.new`, READY_FILE);
}

/** The first size bytes of path, or undefined when it is absent or shorter (a status-like record). */
export function readExact(path: string, size: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const b = new Uint8Array(size);
  let n = 0;
  try {
    n = readSync(fd, b, 0, size, null);
  } catch {
  } finally {
    closeSync(fd);
  }
  return n === size ? b : undefined;
}

/** DIR/supervise/ready (DIR the current directory by default), or undefined when absent or short. */
export function readReady(dir = "."): { when: Tain; pid: number } | undefined {
  const b = readExact(`${dir}/${READY_FILE}`, READY_SIZE);
  if (!b) return undefined;
  return { when: unpack(b, 0), pid: new DataView(b.buffer).getUint32(12, true) };
}

/** Creates supervise/event (supervise, at start). */
export function makeEventDir(): void {
  try {
    mkdirSync(EVENT_DIR, 0o700);
  } catch {}
}

/** Writes the event letter to each waiter's FIFO; a FIFO nobody reads any more is removed. */
export function sendEvent(letter: string): void {
  let names: string[];
  try {
    names = readdirSync(EVENT_DIR);
  } catch {
    return;
  }
  const b = Buffer.from(letter, "latin1");
  for (const n of names) {
    const p = `${EVENT_DIR}/${n}`;
    let fd: number;
    try {
      fd = openSync(p, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if (errnoName(e) === "ENXIO") {
        try {
          unlinkSync(p);
        } catch {}
      }
      continue;
    }
    try {
      writeSync(fd, b);
    } catch {}
    closeSync(fd);
  }
}
