// SPDX-License-Identifier: MIT
// qmail-queued: queues mail for callers that may not write the queue
// (DESIGN.md "The queue and privileges"). The caller's uid and pid come from
// SO_PEERCRED, or from a drop file's owner; the bytes go through qmail-queue's
// algorithm (lib/queue.ts) as they arrive, so a client costs a 4-byte header,
// a 64 KiB buffer and two fds, for at most qmail-queue's 24 hours.
import {
  chmodSync,
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
} from "node:fs";
import { join } from "node:path";
import { QQ } from "@qts/core/exit";
import { lockExNb } from "@qts/sys/flock";
import { peercred } from "@qts/sys/peercred";
import type { QmailIds } from "./ids.ts";
import { nextQp } from "./qp.ts";
import { DEATH_MS, QQError, QueueWriter } from "./queue.ts";
import { queuedDrop, queuedSocket } from "./queued-paths.ts";
import { FrameParser } from "./queued-proto.ts";

export interface QueuedOpts {
  home: string;
  ids: QmailIds;
  /** Clients served at once; more get 71 (temporarily refused). */
  maxClients?: number;
  /** Clients at once per ordinary uid (not root or a qmail user). */
  maxPerUid?: number;
  /** How often the drop directory is drained. */
  drainMs?: number;
  /** Life of one client, as qmail-queue's DEATH. */
  deathMs?: number;
  /** After its answer, how long a client may take to hang up. */
  lingerMs?: number;
  /** Warnings (one line each, no newline). */
  log?: (line: string) => void;
}

interface Client {
  uid: number;
  /** The message's qp, from this daemon's own numbers (lib/qp.ts), as C's is its qmail-queue's pid. */
  qp: number;
  w?: QueueWriter;
  parser: FrameParser;
  code: number;
  timer?: ReturnType<typeof setTimeout>;
}

// the number is the writer's qp (lib/qp.ts): a pid, or a pid plus a multiple of 2^22
const DROP_NAME = /^(\d{1,16})\.[0-9a-f]{32}$/;
const DROP_TMP = /^t\d{1,16}\.[0-9a-f]{32}$/;
// qmail-send's OSSIFIED: a drop file still being written after this long is a leftover.
const OSSIFIED_MS = 36 * 3600 * 1000;
const O_RDONLY = 0;
/** drainOne: leave the file for later. */
const SKIP = -1;
const O_NOFOLLOW = 0o400000;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/** Another qmail-queued holds the home's lock. */
export class LockError extends Error {
  constructor(
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`unable to acquire ${path}`);
  }
}

export class Queued {
  private clients = 0;
  private perUid = new Map<number, number>();
  private server: ReturnType<typeof Bun.listen<Client>> | undefined;
  private drainTimer: ReturnType<typeof setInterval> | undefined;
  private soonTimer: ReturnType<typeof setTimeout> | undefined;
  private lockFd = -1;
  private readonly o: Required<QueuedOpts>;
  private privileged: Set<number>;

  constructor(opts: QueuedOpts) {
    this.o = {
      maxClients: 500,
      maxPerUid: 40,
      drainMs: 60_000,
      deathMs: DEATH_MS,
      lingerMs: 10_000,
      log: () => {},
      ...opts,
    };
    const u = opts.ids.uid;
    this.privileged = new Set([0, u.alias, u.qmaild, u.qmails, u.qmailq, u.qmailr, u.qmaill, u.qmailp]);
  }

  /** Takes the lock (one qmail-queued per home; LockError when another holds it), binds the socket, drains the drop directory. */
  start(): void {
    const dir = join(this.o.home, "queued");
    this.lockFd = openSync(join(dir, "lock"), "a", 0o600);
    try {
      lockExNb(this.lockFd);
    } catch (e) {
      throw new LockError(join(dir, "lock"), e);
    }
    const path = queuedSocket(this.o.home);
    // Bound under a temporary name, made 0777, then renamed over the old one: a client meets
    // either the old (dead) socket or the new one, never one it may not connect to.
    const tmp = `${path}.${process.pid}`;
    try {
      unlinkSync(tmp);
    } catch {}
    this.server = Bun.listen<Client>({
      unix: tmp,
      socket: {
        open: (s) => this.guard(s, () => this.open(s)),
        data: (s, d) => this.guard(s, () => this.data(s, d)),
        end: (s) => this.guard(s, () => this.end(s)),
        close: (s) => this.guard(s, () => this.close(s)),
        error: (s) => this.guard(s, () => this.close(s)),
      },
    });
    chmodSync(tmp, 0o777);
    renameSync(tmp, path);
    this.drain();
    // A client that met the dead socket just before the rename may finish its drop file after
    // the drain above: look again soon rather than at the next tick.
    this.soonTimer = setTimeout(() => this.drain(), 2000);
    this.drainTimer = setInterval(() => this.drain(), this.o.drainMs);
  }

  stop(): void {
    clearInterval(this.drainTimer);
    clearTimeout(this.soonTimer);
    this.server?.stop(true);
    this.server = undefined;
    try {
      unlinkSync(queuedSocket(this.o.home));
    } catch {}
    if (this.lockFd >= 0) closeSync(this.lockFd);
    this.lockFd = -1;
  }

  /** A bug met by one client must not take the daemon (and everyone's mail) down: that client gets 81. */
  private guard(s: Bun.Socket<Client>, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.o.log(`warning: internal error: ${e instanceof Error ? e.message : String(e)}`);
      try {
        const cl = s.data;
        if (cl && cl.code < 0) {
          cl.w?.abort(QQ.READ);
          this.reply(s, QQ.BUG);
        }
      } catch {}
    }
  }

  private open(s: Bun.Socket<Client>): void {
    let uid = -1;
    try {
      uid = peercred((s as unknown as { fd: number }).fd).uid;
    } catch {}
    const cl: Client = { uid, qp: 0, parser: new FrameParser(), code: -1 };
    s.data = cl;
    if (uid < 0) {
      this.reply(s, QQ.BUG);
      return;
    }
    this.clients++;
    this.perUid.set(uid, (this.perUid.get(uid) ?? 0) + 1);
    if (
      this.clients > this.o.maxClients ||
      (!this.privileged.has(uid) && (this.perUid.get(uid) ?? 0) > this.o.maxPerUid)
    ) {
      this.reply(s, QQ.TEMP_REFUSED);
      return;
    }
    try {
      cl.qp = nextQp();
      cl.w = QueueWriter.open({ home: this.o.home, uid, pid: cl.qp, ids: this.o.ids });
    } catch (e) {
      if (!(e instanceof QQError)) throw e;
      this.reply(s, e.code);
      return;
    }
    cl.timer = setTimeout(() => {
      if (cl.code < 0) this.reply(s, cl.w ? cl.w.abort(QQ.TIMEOUT) : QQ.TIMEOUT);
    }, this.o.deathMs);
  }

  private data(s: Bun.Socket<Client>, d: Buffer): void {
    const cl = s.data;
    if (!cl || cl.code >= 0 || !cl.w) return;
    const r = cl.parser.feed(d, cl.w);
    if (r >= 0) this.reply(s, r);
  }

  /** The client finished sending: the envelope is complete or it is a read error (54). */
  private end(s: Bun.Socket<Client>): void {
    const cl = s.data;
    if (!cl || cl.code >= 0) return;
    this.reply(s, cl.w ? cl.parser.end(cl.w) : QQ.READ);
  }

  /**
   * One byte, qmail-queue's exit code, and after a 0 the message's qp in
   * decimal; then wait (bounded) for the client to hang up, so it reads the answer.
   */
  private reply(s: Bun.Socket<Client>, code: number): void {
    const cl = s.data;
    cl.code = code;
    clearTimeout(cl.timer);
    s.write(code === 0 && cl.qp ? Buffer.from(`\0${cl.qp}`, "latin1") : Buffer.of(code));
    s.flush();
    s.shutdown();
    cl.timer = setTimeout(() => s.end(), this.o.lingerMs);
  }

  private close(s: Bun.Socket<Client>): void {
    const cl = s.data;
    if (!cl || cl.uid === -2) return;
    clearTimeout(cl.timer);
    if (cl.code < 0 && cl.w) cl.parser.end(cl.w);
    if (cl.uid >= 0) {
      this.clients--;
      const n = (this.perUid.get(cl.uid) ?? 1) - 1;
      if (n > 0) this.perUid.set(cl.uid, n);
      else this.perUid.delete(cl.uid);
    }
    cl.uid = -2;
  }

  /** Queues every finished drop file, each as its owner; removes leftovers older than 36 hours. */
  drain(): number {
    const drop = queuedDrop(this.o.home);
    let names: string[];
    try {
      names = readdirSync(drop);
    } catch {
      return 0;
    }
    let n = 0;
    for (const name of names) {
      const path = join(drop, name);
      if (DROP_TMP.test(name)) {
        try {
          if (Date.now() - lstatSync(path).mtimeMs > OSSIFIED_MS) unlinkSync(path);
        } catch {}
        continue;
      }
      const m = DROP_NAME.exec(name);
      if (!m) continue;
      let code: number;
      try {
        code = this.drainOne(path, Number(m[1]));
      } catch (e) {
        this.o.log(`warning: unable to queue ${name}: ${e instanceof Error ? e.message : String(e)}`);
        break;
      }
      // Queue trouble (53, 6x): keep the file for the next round. Anything else is final.
      if (code === QQ.WRITE || (code >= 61 && code <= 66)) {
        this.o.log(`warning: unable to queue ${name}: qq ${code}`);
        break;
      }
      if (code === SKIP) {
        this.o.log(`warning: unable to read ${name}`);
        continue;
      }
      if (code === QQ.OK) n++;
      else this.o.log(`warning: dropping malformed ${name}: qq ${code}`);
      try {
        unlinkSync(path);
      } catch {}
    }
    return n;
  }

  private drainOne(path: string, pid: number): number {
    let fd: number;
    try {
      fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    } catch (e) {
      // Unreadable (not group qmail?) or gone: never remove what we could not read.
      const code = (e as { code?: string }).code;
      return code === "ELOOP" ? QQ.READ : SKIP;
    }
    try {
      const st = fstatSync(fd);
      // Only the kernel's word on the owner counts; a hard link could carry someone else's file.
      if (!st.isFile() || st.nlink !== 1) return QQ.READ;
      let w: QueueWriter;
      try {
        w = QueueWriter.open({ home: this.o.home, uid: st.uid, pid, ids: this.o.ids, nowMs: st.mtimeMs });
      } catch (e) {
        if (e instanceof QQError) return e.code;
        throw e;
      }
      const p = new FrameParser();
      const buf = Buffer.allocUnsafe(65536);
      for (;;) {
        let k: number;
        try {
          k = readSync(fd, buf, 0, buf.length, null);
        } catch {
          return w.abort(QQ.READ);
        }
        if (k === 0) return p.end(w);
        const r = p.feed(buf.subarray(0, k), w);
        if (r >= 0) return r;
      }
    } finally {
      closeSync(fd);
    }
  }
}
