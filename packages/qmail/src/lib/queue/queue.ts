// SPDX-License-Identifier: MIT
// qmail-queue's algorithm (qmail-queue(8), qmail-queue.c), as a library: the program
// qmail-queue, qmail-queued and in-process injectors (QmailQueue) share it.
// Only a caller that may write the queue (root or qmailq) uses it directly.
import { join } from "@qts/core/path";
import { exit } from "@qts/core/run";
import { O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_WRONLY } from "@qts/sys/consts";
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "@qts/sys/fs";
import { AUTO_SPLIT } from "../conf.ts";
import { date822 } from "../date822.ts";
import type { QmailIds } from "../ids.ts";
import { QQ } from "./qq.ts";

/** qmail-queue.c ADDR: an envelope address of this many bytes or more is refused with 11. */
export const ADDR = 1003;
/** qmail-queue.c DEATH: 24 hours, then exit 52 (below qmail-send's 36-hour OSSIFIED). */
export const DEATH_MS = 86_400_000;

const OPEN_EXCL = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
const BUF = 65536;

/** The messages this process has opened and not yet finished (committed, refused or cleaned up). */
const live = new Set<QueueWriter>();

/**
 * Removes the files of every unfinished message of this process, as
 * qmail-queue.c's die_read() does when its client goes away. C gets that for
 * free: the client's death is qmail-queue's EOF. Here the client is this
 * process, so its own exit (and a deadly signal) must do it.
 */
export function abandonAll(): void {
  for (const w of live) w.abort(QQ.READ);
}

// Signals whose default action ends the process and that a program may catch, with their numbers.
const DEADLY = [
  ["SIGHUP", 1],
  ["SIGINT", 2],
  ["SIGUSR1", 10],
  ["SIGUSR2", 12],
  ["SIGALRM", 14],
  ["SIGTERM", 15],
] as const;
let armed = false;

/** The signals this process was started with ignored (/proc/self/status SigIgn): nohup's SIGHUP stays ignored. */
function ignoredAtStart(): bigint {
  try {
    const m = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "latin1"));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * Once per process: at exit, and at a deadly signal nobody else handles,
 * remove the unfinished messages first; the signal then ends the process as
 * it would have (re-raised with the default action). A program with its own
 * handler (qmail-send's SIGTERM) keeps it, and its exit still cleans up.
 * SIGKILL cannot be caught: its leftovers wait for qmail-send's 36-hour
 * cleanup of mess/ (qmail-clean's ossified files).
 */
export function cleanupOnDeath(): void {
  if (armed) return;
  armed = true;
  process.once("exit", abandonAll);
  const ign = ignoredAtStart();
  for (const [sig, n] of DEADLY) {
    if (process.listenerCount(sig) > 0 || (ign >> BigInt(n - 1)) & 1n) continue;
    const h = (): void => {
      abandonAll();
      process.removeListener(sig, h);
      process.kill(process.pid, sig);
      // should the default action not come (the runtime kept a handler), end as a shell reports a signal death
      setImmediate(() => exit(128 + n));
    };
    process.on(sig, h);
  }
}

/** A qmail-queue exit code raised inside the algorithm. */
export class QQError extends Error {
  constructor(readonly code: number) {
    super(`qq ${code}`);
  }
}

/** The Received line qmail-queue puts first (qmail-queue.c receivedfmt; date per the localtime patch). */
export function receivedLine(pid: number, uid: number, ids: QmailIds, nowMs: number): string {
  let who: string;
  if (uid === ids.uid.alias) who = "by alias";
  else if (uid === ids.uid.qmaild) who = "from network";
  else if (uid === ids.uid.qmails) who = "for bounce";
  else who = `by uid ${uid}`;
  return `Received: (qmail ${pid} invoked ${who}); ${date822(nowMs)}\n`;
}

/** Whether this process may write the queue itself: root or qmailq (qmail-queued(8)). */
export function mayWriteQueue(ids: QmailIds): boolean {
  const euid = process.geteuid?.() ?? -1;
  return euid === 0 || euid === ids.uid.qmailq;
}

function fsyncDir(path: string): void {
  const fd = openSync(path, O_DIRECTORY | O_CLOEXEC);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** triggerpull.c: one byte into lock/trigger without blocking; no reader, no effect. */
export function triggerPull(queueDir: string): void {
  try {
    const fd = openSync(join(queueDir, "lock/trigger"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    try {
      writeSync(fd, Buffer.alloc(1));
    } catch {}
    closeSync(fd);
  } catch {}
}

enum St {
  Start,
  Addr,
  Next,
  Done,
}

/**
 * qmail-queue's envelope reader as a streaming state machine: `F` sender
 * `\0` (`T` recip `\0`)* `\0`. It copies the records out as they come
 * (without the final `\0`) and decides 91 (format), 11 (address of 1003
 * bytes or more) or 0 (complete) as early as qmail-queue.c does.
 */
export class EnvelopeParser {
  private st = St.Start;
  private len = 0;
  /** Bytes of the last chunk after the terminating NUL (ignored, as qmail-queue never reads them). */
  rest = 0;

  get done(): boolean {
    return this.st === St.Done;
  }

  /** Feeds bytes; out receives the bytes to store. Returns -1 for "more", else the final code. */
  feed(b: Uint8Array, out: (b: Uint8Array) => void): number {
    let i = 0;
    const n = b.length;
    while (i < n) {
      switch (this.st) {
        case St.Start:
          if (b[i] !== 0x46) return QQ.ENVELOPE;
          i = this.record(b, i, out);
          break;
        case St.Next:
          if (b[i] === 0) {
            this.st = St.Done;
            this.rest = n - i - 1;
            return QQ.OK;
          }
          if (b[i] !== 0x54) return QQ.ENVELOPE;
          i = this.record(b, i, out);
          break;
        case St.Addr:
          i = this.addr(b, i, out);
          if (this.len >= ADDR) return QQ.ADDR_TOO_LONG;
          break;
        default:
          return QQ.OK;
      }
    }
    return this.st === St.Done ? QQ.OK : -1;
  }

  /** An `F` or `T` at b[i] starts a record: copied out, its address follows. Returns the next index. */
  private record(b: Uint8Array, i: number, out: (b: Uint8Array) => void): number {
    this.st = St.Addr;
    this.len = 0;
    out(b.subarray(i, i + 1));
    return i + 1;
  }

  /**
   * Address bytes from b[i]: copied out up to and with their NUL (then the next record), or as far as
   * the address may still grow (len reaches ADDR when it may not). Returns the next index.
   */
  private addr(b: Uint8Array, i: number, out: (b: Uint8Array) => void): number {
    const end = Math.min(b.length, i + (ADDR - this.len));
    const z = b.indexOf(0, i);
    if (z >= 0 && z < end) {
      out(b.subarray(i, z + 1));
      this.len += z - i;
      this.st = St.Next;
      return z + 1;
    }
    out(b.subarray(i, end));
    this.len += end - i;
    return end;
  }
}

export interface WriterOpts {
  home: string;
  /** The uid recorded in the Received line and in intd's `u` record: the kernel's word on the caller. */
  uid: number;
  /** The pid recorded (`qmail <pid>`, intd's `p`). */
  pid: number;
  ids: QmailIds;
  /** Time of the Received line and of the pid file name; default now. */
  nowMs?: number;
}

/**
 * One message on its way into the queue, step by step as qmail-queue.c:
 * open() makes pid/ → mess/N and writes the Received line; put() appends the
 * message; messageEnd() fsyncs it and opens intd/N; envelope() streams fd 1's
 * bytes into intd/N and, at the final NUL, fsyncs and links todo/N (the commit
 * point). Failures are QQError codes; 53 and 54 remove what was made first.
 */
export class QueueWriter {
  readonly queue: string;
  readonly num: bigint;
  readonly pid: number;
  private messFd: number;
  private intdFd = -1;
  private messFn: string;
  private intdFn: string;
  private todoFn: string;
  private buf = Buffer.allocUnsafe(BUF);
  private used = 0;
  private parser = new EnvelopeParser();
  private closed = false;
  private chown: boolean;

  private constructor(
    private opts: WriterOpts,
    queue: string,
    fd: number,
    num: bigint,
  ) {
    this.queue = queue;
    this.pid = opts.pid;
    this.messFd = fd;
    this.num = num;
    this.messFn = join(queue, "mess", String(num % BigInt(AUTO_SPLIT)), String(num));
    this.intdFn = join(queue, "intd", String(num));
    this.todoFn = join(queue, "todo", String(num));
    this.chown = process.geteuid?.() === 0;
  }

  static open(opts: WriterOpts): QueueWriter {
    const now = opts.nowMs ?? Date.now();
    const queue = join(opts.home, "queue");
    if (!isDir(opts.home)) throw new QQError(QQ.HOME);
    if (!isDir(queue)) throw new QQError(QQ.QUEUE);
    const start = Math.floor(now / 1000);
    let fd = -1;
    let pidFn = "";
    for (let seq = 1; seq < 10; seq++) {
      pidFn = join(queue, "pid", `${opts.pid}.${start}.${seq}`);
      try {
        fd = openSync(pidFn, OPEN_EXCL, 0o644);
        break;
      } catch {}
    }
    if (fd < 0) throw new QQError(QQ.PID);
    let num: bigint;
    try {
      num = fstatSync(fd, { bigint: true }).ino;
    } catch {
      closeSync(fd);
      throw new QQError(QQ.PID);
    }
    const w = new QueueWriter(opts, queue, fd, num);
    live.add(w);
    try {
      w.own(fd);
    } catch {
      w.close();
      rmQuiet(pidFn);
      throw new QQError(QQ.PID);
    }
    try {
      linkSync(pidFn, w.messFn);
      // link-sync patch: the new name must survive a crash.
      fsyncDir(join(queue, "mess", String(num % BigInt(AUTO_SPLIT))));
    } catch {
      w.close();
      rmQuiet(w.messFn);
      rmQuiet(pidFn);
      throw new QQError(QQ.MESS);
    }
    try {
      unlinkSync(pidFn);
    } catch {
      w.cleanup();
      w.close();
      throw new QQError(QQ.PID);
    }
    w.put(Buffer.from(receivedLine(opts.pid, opts.uid, opts.ids, now), "latin1"));
    return w;
  }

  /** Files we create belong to qmailq with mode 0644, whoever we run as (C: setuid qmailq, umask 033). */
  private own(fd: number): void {
    if (this.chown) fchownSync(fd, this.opts.ids.uid.qmailq, this.opts.ids.gid.qmail);
    fchmodSync(fd, 0o644);
  }

  private flush(fd: number): void {
    let at = 0;
    try {
      while (at < this.used) at += writeSync(fd, this.buf, at, this.used - at);
    } catch {
      this.used = 0;
      this.fail(QQ.WRITE);
    }
    this.used = 0;
  }

  private append(fd: number, b: Uint8Array): void {
    if (b.length >= BUF) {
      this.flush(fd);
      let at = 0;
      try {
        while (at < b.length) at += writeSync(fd, b, at, b.length - at);
      } catch {
        this.fail(QQ.WRITE);
      }
      return;
    }
    if (this.used + b.length > BUF) this.flush(fd);
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  /** Appends message bytes (bounded buffer: at most 64 KiB held). */
  put(b: Uint8Array): void {
    if (this.closed) return;
    this.append(this.messFd, b);
  }

  /** End of the message: flush and fsync it, create intd/N with its u and p records. */
  messageEnd(): void {
    this.flush(this.messFd);
    try {
      fsyncSync(this.messFd);
    } catch {
      this.fail(QQ.WRITE);
    }
    try {
      this.intdFd = openSync(this.intdFn, OPEN_EXCL, 0o644);
    } catch {
      this.intdFd = -1;
      this.close();
      throw new QQError(QQ.INTD);
    }
    try {
      this.own(this.intdFd);
    } catch {
      this.fail(QQ.WRITE);
    }
    this.append(this.intdFd, Buffer.from(`u${this.opts.uid}\0p${this.opts.pid}\0`, "latin1"));
  }

  private readonly emit = (b: Uint8Array) => this.append(this.intdFd, b);

  /** Envelope bytes (qmail-queue's fd 1). Returns -1 for "more", else the final code (0 = queued). */
  envelope(b: Uint8Array): number {
    if (this.closed) return QQ.BUG;
    try {
      const r = this.parser.feed(b, this.emit);
      if (r < 0) return r;
      if (r !== QQ.OK) {
        // qmail-queue.c exits 11 and 91 without cleanup and leaves the files to qmail-send's
        // 36-hour cleanup; here nothing refused stays on disk.
        this.cleanup();
        this.close();
        return r;
      }
      return this.commit();
    } catch (e) {
      if (e instanceof QQError) return e.code;
      throw e;
    }
  }

  /** End of the envelope stream: 54 unless the final NUL came. */
  envelopeEnd(): number {
    if (this.closed) return QQ.BUG;
    if (this.parser.done) return QQ.OK;
    return this.abort(QQ.READ);
  }

  private commit(): number {
    this.flush(this.intdFd);
    try {
      fsyncSync(this.intdFd);
    } catch {
      this.fail(QQ.WRITE);
    }
    try {
      linkSync(this.intdFn, this.todoFn);
    } catch {
      this.close();
      return QQ.TODO;
    }
    try {
      // link-sync: todo/N is the commit point; it must be on disk before we say 0.
      fsyncDir(join(this.queue, "todo"));
    } catch {
      this.close();
      return QQ.TODO;
    }
    this.close();
    triggerPull(this.queue);
    return QQ.OK;
  }

  /** qmail-queue.c cleanup(): truncate and unlink intd/N, then mess/N. */
  cleanup(): void {
    if (this.intdFd >= 0) {
      try {
        ftruncateSync(this.intdFd, 0);
      } catch {}
      try {
        unlinkSync(this.intdFn);
      } catch {
        return;
      }
    }
    try {
      ftruncateSync(this.messFd, 0);
    } catch {}
    try {
      unlinkSync(this.messFn);
    } catch {}
  }

  private fail(code: number): never {
    this.cleanup();
    this.close();
    throw new QQError(code);
  }

  /** Gives up with code: 53 and 54 clean up first (die_write, die_read); others leave the files (sigalrm). */
  abort(code: number): number {
    if (this.closed) return code;
    if (code === QQ.WRITE || code === QQ.READ) this.cleanup();
    this.close();
    return code;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    try {
      closeSync(this.messFd);
    } catch {}
    if (this.intdFd >= 0)
      try {
        closeSync(this.intdFd);
      } catch {}
  }
}

function rmQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {}
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
