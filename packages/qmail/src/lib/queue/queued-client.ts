// SPDX-License-Identifier: MIT
// Opening the queue the way qmail-queued(8) describes:
// root and qmailq write it directly (lib/queue/queue.ts); anyone else talks to
// qmail-queued over its socket, and when qmail-queued is not reachable,
// writes a drop file that qmail-queued drains later. All three look alike
// to the caller: put the message, end it, give the envelope, get the code.
import { errnoName } from "@qts/core/errstr";
import { join } from "@qts/core/path";
import { O_CLOEXEC, O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } from "@qts/sys/consts";
import {
  closeSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "@qts/sys/fs";
import { linkFd, openTmpfile } from "@qts/sys/tmpfile";
import { IdsError, type QmailIds, qmailIds } from "../ids.ts";
import { nextQp } from "./qp.ts";
import { QQ } from "./qq.ts";
import { cleanupOnDeath, EnvelopeParser, mayWriteQueue, QQError, QueueWriter } from "./queue.ts";
import { dropLimit, queuedDrop, queuedSocket } from "./queued-paths.ts";
import { frameHeader, MAX_FRAME } from "./queued-proto.ts";

/**
 * One message being queued. Each call returns -1 to go on, or the final code
 * (qmail-queue's exit code; after a final code the rest is ignored).
 */
export interface Injection {
  /** The pid the Received line names: the "qp" of qmail-smtpd's reply. */
  readonly pid: number;
  put(b: Uint8Array): number | Promise<number>;
  messageEnd(): number | Promise<number>;
  envelope(b: Uint8Array): number | Promise<number>;
  envelopeEnd(): number | Promise<number>;
  /** Gives up (the caller could not read its input): 54 and the like. */
  abort(code: number): number;
}

/** The queue written by this process (root or qmailq). */
export class DirectInjection implements Injection {
  readonly pid: number;
  constructor(private w: QueueWriter) {
    this.pid = w.pid;
  }
  private guard(f: () => number | undefined): number {
    try {
      return f() ?? -1;
    } catch (e) {
      if (e instanceof QQError) return e.code;
      throw e;
    }
  }
  put(b: Uint8Array): number {
    return this.guard(() => void this.w.put(b));
  }
  messageEnd(): number {
    return this.guard(() => void this.w.messageEnd());
  }
  envelope(b: Uint8Array): number {
    return this.w.envelope(b);
  }
  envelopeEnd(): number {
    return this.w.envelopeEnd();
  }
  abort(code: number): number {
    return this.w.abort(code);
  }
}

type Sock = Bun.Socket<undefined>;

/** A client of qmail-queued's socket (Bun.connect: node:net alone costs more to load than qmail-queue's work). */
export class SocketInjection implements Injection {
  private code = -1;
  /** The digits after the code byte: the qp qmail-queued gave the message. */
  private qp = "";
  private parser = new EnvelopeParser();
  private wake: (() => void) | undefined;
  private closed = false;
  private sock!: Sock;

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The qp the Received line names (qmail-queued's answer; this pid before the answer, or from an older daemon). */
  get pid(): number {
    return /^\d{1,16}$/.test(this.qp) ? Number(this.qp) : process.pid;
  }

  private onData(d: Uint8Array): void {
    let at = 0;
    if (this.code < 0 && d.length > 0) {
      this.code = d[0] as number;
      at = 1;
    }
    if (this.qp.length < 20) this.qp += Buffer.from(d.subarray(at, at + 20)).toString("latin1");
    this.poke();
  }

  private onClose(): void {
    this.closed = true;
    this.poke();
  }

  /**
   * Connects; undefined when qmail-queued is not there (no socket, refused,
   * not allowed); 71 when it took the connection and closed it at once, which
   * is how it says "not now" to a caller over its limits (qmail-queued(8)).
   */
  static connect(path: string): Promise<SocketInjection | number | undefined> {
    const inj = new SocketInjection();
    return new Promise((ok) => {
      Bun.connect({
        unix: path,
        socket: {
          open: (s) => {
            inj.sock = s;
            ok(inj);
          },
          data: (_s, d) => inj.onData(d),
          drain: () => inj.poke(),
          end: () => inj.onClose(),
          close: () => inj.onClose(),
          error: () => inj.onClose(),
          connectError: (_s, e) => ok(errnoName(e) === "ECONNRESET" ? QQ.TEMP_REFUSED : undefined),
        },
      }).catch(() => ok(undefined));
    });
  }

  private wait(): Promise<void> {
    return new Promise<void>((ok) => {
      this.wake = ok;
    });
  }

  private async send(b: Uint8Array): Promise<number> {
    let rest = b;
    for (;;) {
      if (this.code >= 0) return this.finish();
      if (this.closed) return this.lost();
      if (rest.length === 0) return -1;
      const n = this.sock.write(rest);
      if (n < 0) return this.lost();
      rest = rest.subarray(n);
      if (rest.length > 0) await this.wait();
    }
  }

  private finish(): number {
    this.sock.terminate();
    return this.code;
  }

  // qmail-queued went away without an answer: nothing is known to be queued. A write can fail
  // before the answer waiting behind it (71 to a refused client) is read: give it a moment.
  private async lost(): Promise<number> {
    if (this.code < 0 && !this.closed) await Promise.race([this.wait(), Bun.sleep(500)]);
    this.sock.terminate();
    return this.code >= 0 ? this.code : QQ.BUG;
  }

  async put(b: Uint8Array): Promise<number> {
    for (let at = 0; at < b.length; at += MAX_FRAME) {
      const part = b.subarray(at, at + MAX_FRAME);
      const r = await this.send(Buffer.concat([frameHeader(part.length), part]));
      if (r >= 0) return r;
    }
    return -1;
  }

  messageEnd(): Promise<number> {
    return this.send(frameHeader(0));
  }

  async envelope(b: Uint8Array): Promise<number> {
    const r = this.parser.feed(b, () => {});
    if (r > 0) {
      this.sock.terminate();
      return r;
    }
    const s = await this.send(r === 0 ? b.subarray(0, b.length - this.parser.rest) : b);
    if (s >= 0 || r < 0) return s;
    this.sock.flush();
    // after a 0 the qp follows, then qmail-queued hangs up
    while ((this.code < 0 || this.code === 0) && !this.closed) await this.wait();
    return this.code >= 0 ? this.finish() : this.lost();
  }

  envelopeEnd(): number {
    if (this.code >= 0) return this.finish();
    this.sock.terminate();
    return QQ.READ;
  }

  abort(code: number): number {
    this.sock.terminate();
    return code;
  }
}

function hex(n: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
}

// Partial `t` files of this process (only where O_TMPFILE is missing): removed however it exits
// by exit(); a signal's default death leaves them to qmail-queued, which removes the files of
// writers that are gone.
const partial = new Set<string>();
let exitHook = false;
function removePartial(): void {
  for (const p of partial)
    try {
      unlinkSync(p);
    } catch {}
  partial.clear();
}

/**
 * qmail-queued is down: the message goes into the drop directory, written by
 * this process into a file it creates there itself, mode 0640 (group qmail
 * from the setgid directory), so that nobody but its owner could have written
 * it: qmail-queued(8) queues only such files, as their owner. The file has no
 * name while it is written (O_TMPFILE), so a message that is not completed
 * (an error, a disconnect, a kill, even SIGKILL) leaves nothing behind; once
 * the envelope is complete it is fsynced and named `<pid>.<random>`. Where the
 * filesystem has no O_TMPFILE it is written as `t<pid>.<random>` and renamed.
 * The envelope is checked here as qmail-queue would, so 11 and 91 come now; a
 * stream bigger than qmail-queued would take (dropLimit) gets 71.
 */
export class DropInjection implements Injection {
  private parser = new EnvelopeParser();
  private buf = Buffer.allocUnsafe(MAX_FRAME + 4);
  private used = 0;
  private size = 0;
  private done = false;

  private constructor(
    private fd: number,
    private tmp: string | undefined,
    private final: string,
    private limit: number,
    /** The qp the caller reports (lib/queue/qp.ts); qmail-queued's Received line names its own pid. */
    readonly pid: number,
  ) {}

  /** opts.tmpfile false: the `t` file's way, as where O_TMPFILE is missing (tests). */
  static open(home: string, ids?: QmailIds, opts: { tmpfile?: boolean } = {}): DropInjection | number {
    const drop = queuedDrop(home);
    const name = `${process.pid}.${hex(16)}`;
    let fd: number;
    let tmp: string | undefined;
    try {
      if (opts.tmpfile === false) throw Object.assign(new Error("no O_TMPFILE"), { code: "EOPNOTSUPP" });
      fd = openTmpfile(drop, 0o600);
    } catch (e) {
      const code = errnoName(e);
      if (code !== "EOPNOTSUPP" && code !== "EISDIR" && code !== "EINVAL") return isDir(home) ? QQ.QUEUE : QQ.HOME;
      tmp = join(drop, `t${name}`);
      try {
        fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
      } catch {
        return isDir(home) ? QQ.QUEUE : QQ.HOME;
      }
      partial.add(tmp);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", removePartial);
      }
    }
    const d = new DropInjection(fd, tmp, join(drop, name), dropLimit(home), nextQp());
    try {
      // qmail-queued reads the file through group qmail, which the setgid directory gives it;
      // without it the file would be refused, so say so now.
      if (ids && fstatSync(fd).gid !== ids.gid.qmail) return d.abort(QQ.QUEUE);
      fchmodSync(fd, 0o640);
    } catch {
      return d.abort(QQ.QUEUE);
    }
    return d;
  }

  private write(b: Uint8Array): number {
    this.size += b.length;
    if (this.size > this.limit) return this.abort(QQ.TEMP_REFUSED);
    try {
      let at = 0;
      while (at < b.length) at += writeSync(this.fd, b, at, b.length - at);
      return -1;
    } catch {
      return this.abort(QQ.WRITE);
    }
  }

  private flush(): number {
    if (this.used === 0) return -1;
    const r = this.write(frameHeader(this.used));
    if (r >= 0) return r;
    const n = this.used;
    this.used = 0;
    return this.write(this.buf.subarray(0, n));
  }

  put(b: Uint8Array): number {
    if (this.done) return QQ.BUG;
    let at = 0;
    while (at < b.length) {
      const n = Math.min(MAX_FRAME - this.used, b.length - at);
      this.buf.set(b.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === MAX_FRAME) {
        const r = this.flush();
        if (r >= 0) return r;
      }
    }
    return -1;
  }

  messageEnd(): number {
    if (this.done) return QQ.BUG;
    const r = this.flush();
    return r >= 0 ? r : this.write(frameHeader(0));
  }

  envelope(b: Uint8Array): number {
    if (this.done) return QQ.BUG;
    const r = this.parser.feed(b, () => {});
    if (r > 0) return this.abort(r);
    const w = this.write(r === 0 ? b.subarray(0, b.length - this.parser.rest) : b);
    if (w >= 0 || r < 0) return w;
    try {
      fsyncSync(this.fd);
      if (this.tmp === undefined) linkFd(this.fd, this.final);
      else renameSync(this.tmp, this.final);
      // The directory is not ours to open; on ext4 and xfs a second fsync of
      // the file commits the journal that holds the new name.
      fsyncSync(this.fd);
    } catch {
      return this.abort(QQ.WRITE);
    }
    if (this.tmp !== undefined) partial.delete(this.tmp);
    this.done = true;
    closeSync(this.fd);
    return QQ.OK;
  }

  envelopeEnd(): number {
    if (this.done) return QQ.OK;
    return this.abort(QQ.READ);
  }

  abort(code: number): number {
    if (this.done) return code;
    this.done = true;
    if (this.tmp !== undefined) {
      try {
        unlinkSync(this.tmp);
      } catch {}
      partial.delete(this.tmp);
    }
    try {
      closeSync(this.fd);
    } catch {}
    return code;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Opens the queue for one message, by the path this process is entitled to:
 * directly as root or qmailq, else qmail-queued's socket, else the drop
 * directory. Returns an Injection, or a qmail-queue exit code when even
 * opening failed (61 home, 62-64 queue, 55 unknown qmail users).
 */
export async function openQueue(home: string, ids?: QmailIds): Promise<Injection | number> {
  let qids: QmailIds;
  try {
    qids = ids ?? qmailIds(home);
  } catch (e) {
    if (e instanceof IdsError) return QQ.CONFIG;
    throw e;
  }
  if (mayWriteQueue(qids)) {
    // this process is the queue's client and qmail-queue at once: its exit is the client's going away
    cleanupOnDeath();
    try {
      return new DirectInjection(QueueWriter.open({ home, uid: process.getuid?.() ?? 0, pid: nextQp(), ids: qids }));
    } catch (e) {
      if (e instanceof QQError) return e.code;
      throw e;
    }
  }
  const s = await SocketInjection.connect(queuedSocket(home));
  if (s !== undefined) return s;
  return DropInjection.open(home, qids);
}
