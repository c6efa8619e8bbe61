// SPDX-License-Identifier: MIT
// qmail-queued: queues mail for callers that may not write the queue
// (qmail-queued(8)). The caller's uid comes from SO_PEERCRED, or from the
// owner of a drop file that only its owner can have written; the bytes go
// through qmail-queue's algorithm (lib/queue/queue.ts) as they arrive, so a client
// costs a 4-byte header, a 64 KiB buffer and three fds, for at most
// qmail-queue's 24 hours.
import { errnoName } from "@qts/core/errstr";
import { join } from "@qts/core/path";
import { O_CLOEXEC, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } from "@qts/sys/consts";
import { lockExNb } from "@qts/sys/flock";
import {
  closeSync,
  type Dir,
  fstatSync,
  lstatSync,
  opendirSync,
  openSync,
  readSync,
  rmdirSync,
  type Stats,
  unlinkSync,
} from "@qts/sys/fs";
import { getrlimit, RLIMIT } from "@qts/sys/rlimit";
import type { QmailIds } from "../ids.ts";
import { listenReplacing, peerOf } from "../net/unixlisten.ts";
import { nextQp } from "./qp.ts";
import { QQ } from "./qq.ts";
import { DEATH_MS, QQError, QueueWriter } from "./queue.ts";
import { dropLimit, queuedDrop, queuedSocket } from "./queued-paths.ts";
import { FrameParser } from "./queued-proto.ts";

export interface QueuedOpts {
  home: string;
  ids: QmailIds;
  /** Clients served at once; more get 71 (temporarily refused). Lowered to fit the descriptor limit. */
  maxClients?: number;
  /** Clients at once per ordinary uid (not root or a qmail user). */
  maxPerUid?: number;
  /** Slots that ordinary uids together leave to root and qmail's users, and qmail's users to the others. */
  reserve?: number;
  /** How often the drop directory is drained. */
  drainMs?: number;
  /** Life of one client, as qmail-queue's DEATH. */
  deathMs?: number;
  /** After its answer, how long a client may take to hang up. */
  lingerMs?: number;
  /** Biggest drop file taken; default dropLimit() (control/databytes), read at each drain. */
  dropMax?: number;
  /** Warnings (one line each, no newline). */
  log?: (line: string) => void;
}

interface Client {
  uid: number;
  pid: number;
  /** The message's qp, from this daemon's own numbers (lib/queue/qp.ts), as C's is its qmail-queue's pid. */
  qp: number;
  w?: QueueWriter;
  parser: FrameParser;
  code: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Refused, waiting to be read (one of REFUSED_MAX). */
  refused?: boolean;
}

const DROP_NAME = /^\d{1,10}\.[0-9a-f]{32}$/;
const DROP_TMP = /^t(\d{1,10})\.[0-9a-f]{32}$/;
// qmail-send's OSSIFIED: a drop file still being written after this long is a leftover.
const OSSIFIED_MS = 36 * 3600 * 1000;
// Linux's PID_MAX_LIMIT: no process has a bigger pid.
const PID_MAX = 4194304;
/**
 * Mode bits a writer's drop file never has: set-id and sticky bits, execute
 * bits, group write and anything for others. With none of them, only the
 * owner (or root) can have written the file's bytes, and group qmail reads it.
 */
const FOREIGN_BITS = 0o7137;
/** The drain yields the event loop after this long, so sockets are served between its slices. */
const SLICE_MS = 10;
/** Refused clients that may wait (uncounted) to read their 71; past that many, closed at once. */
const REFUSED_MAX = 64;
/** How long a refused client may take to read its 71. */
const REFUSED_LINGER_MS = 1000;
/** Descriptors kept aside for Bun, the lock, the drain, the queue's directory fsyncs and the refused. */
const FD_RESERVE = 64 + REFUSED_MAX;
/** A client holds up to three: its socket, mess/N and intd/N. */
const FD_PER_CLIENT = 3;
/** Names of junk qmail-queued may not remove, logged once each (a bounded memory). */
const LOGGED_MAX = 1000;

/** Another qmail-queued holds the home's lock. */
export class LockError extends Error {
  constructor(
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`unable to acquire ${path}`);
  }
}

/** Whether process pid may still be running (kill(pid, 0): only ESRCH says it is gone). */
function alive(pid: number): boolean {
  if (pid < 1 || pid > PID_MAX) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoName(e) !== "ESRCH";
  }
}

/**
 * A partial drop file (only where O_TMPFILE is missing): its writer removes it unless killed, so it is
 * removed here once the writer is gone or the file is older than OSSIFIED_MS.
 */
function removeAbandoned(path: string, st: Stats, writer: number): undefined {
  if (!alive(writer) || Date.now() - st.mtimeMs > OSSIFIED_MS)
    try {
      unlinkSync(path);
    } catch {}
  return undefined;
}

function yieldLoop(): Promise<void> {
  return new Promise((ok) => setTimeout(ok, 0));
}

export class Queued {
  private clients = 0;
  private ordinary = 0;
  private refused = 0;
  private perUid = new Map<number, number>();
  private server: ReturnType<typeof Bun.listen<Client>> | undefined;
  private drainTimer: ReturnType<typeof setInterval> | undefined;
  private soonTimer: ReturnType<typeof setTimeout> | undefined;
  private lockFd = -1;
  private readonly o: Required<Omit<QueuedOpts, "dropMax">> & { dropMax?: number };
  private privileged: Set<number>;
  private draining: Promise<number> | undefined;
  private again = false;
  private stopped = false;
  /** The drop file being queued, aborted (files removed) if we stop meanwhile. */
  private current: QueueWriter | undefined;
  /** Junk we could not remove and have said so: name → inode. */
  private logged = new Map<string, number>();

  constructor(opts: QueuedOpts) {
    this.o = {
      maxClients: 500,
      maxPerUid: 40,
      reserve: 0,
      drainMs: 60_000,
      deathMs: DEATH_MS,
      lingerMs: 10_000,
      log: () => {},
      ...opts,
    };
    // Never so many clients that accept() could meet EMFILE: Bun retries a failed accept at
    // once, for ever, so a flood up to the limit would spin. Each refused client is closed at
    // once, so the clients counted here are all the descriptors a flood can hold.
    try {
      const soft = Number(getrlimit(RLIMIT.NOFILE).soft);
      const fit = Math.floor((soft - FD_RESERVE) / FD_PER_CLIENT);
      if (Number.isFinite(fit)) this.o.maxClients = Math.max(1, Math.min(this.o.maxClients, fit));
    } catch {}
    if (opts.reserve === undefined) this.o.reserve = Math.ceil(this.o.maxClients / 5);
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
    this.server = listenReplacing<Client>(queuedSocket(this.o.home), {
      open: (s) => this.guard(s, () => this.open(s)),
      data: (s, d) => this.guard(s, () => this.data(s, d)),
      end: (s) => this.guard(s, () => this.end(s)),
      close: (s) => this.guard(s, () => this.close(s)),
      error: (s) => this.guard(s, () => this.close(s)),
    });
    void this.drain();
    // A client that met the dead socket just before the rename may finish its drop file after
    // the drain above: look again soon rather than at the next tick.
    this.soonTimer = setTimeout(() => void this.drain(), 2000);
    this.drainTimer = setInterval(() => void this.drain(), this.o.drainMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.drainTimer);
    clearTimeout(this.soonTimer);
    this.current?.abort(QQ.READ);
    this.current = undefined;
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

  /**
   * Whether uid may have one more client: all clients at most maxClients; each ordinary uid
   * at most maxPerUid (and half their room), and all of them together leave `reserve` slots to root and qmail's
   * users (qmaild: mail from the network); each of those leaves `reserve` to everyone else.
   */
  private admits(uid: number): boolean {
    if (this.clients >= this.o.maxClients) return false;
    const mine = this.perUid.get(uid) ?? 0;
    const room = this.o.maxClients - this.o.reserve;
    if (this.privileged.has(uid)) return mine < room;
    // One ordinary uid never takes more than half of what all of them may have.
    return mine < Math.min(this.o.maxPerUid, Math.max(1, room >> 1)) && this.ordinary < room;
  }

  private open(s: Bun.Socket<Client>): void {
    const { uid, pid } = peerOf(s);
    const cl: Client = { uid: -2, pid: 0, qp: 0, parser: new FrameParser(), code: -1 };
    s.data = cl;
    // Refused: the answer, and the slot is free at once (it was never counted). A few refused
    // clients at a time get a second to read the byte; the others are closed at once, and a client
    // that has not read the byte by then sees ECONNRESET, which it takes as 71.
    if (uid < 0 || !this.admits(uid)) {
      cl.code = uid < 0 ? QQ.BUG : QQ.TEMP_REFUSED;
      s.write(Buffer.of(cl.code));
      if (this.refused >= REFUSED_MAX) {
        s.terminate();
        return;
      }
      this.refused++;
      cl.refused = true;
      s.shutdown();
      cl.timer = setTimeout(() => s.terminate(), REFUSED_LINGER_MS);
      return;
    }
    cl.uid = uid;
    cl.pid = pid;
    this.clients++;
    if (!this.privileged.has(uid)) this.ordinary++;
    this.perUid.set(uid, (this.perUid.get(uid) ?? 0) + 1);
    cl.timer = setTimeout(() => {
      if (cl.code < 0) this.reply(s, cl.w ? cl.w.abort(QQ.TIMEOUT) : QQ.TIMEOUT);
    }, this.o.deathMs);
  }

  private data(s: Bun.Socket<Client>, d: Buffer): void {
    const cl = s.data;
    if (!cl || cl.code >= 0) return;
    // The queue's files (and their fsync) only once bytes come: a connection alone costs nothing.
    if (!cl.w) {
      try {
        // The message's qp is this daemon's own number (lib/queue/qp.ts), as C's is its qmail-queue's pid.
        cl.qp = nextQp();
        cl.w = QueueWriter.open({ home: this.o.home, uid: cl.uid, pid: cl.qp, ids: this.o.ids });
      } catch (e) {
        if (!(e instanceof QQError)) throw e;
        this.reply(s, e.code);
        return;
      }
    }
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
    if (!cl || cl.uid === -3) return;
    clearTimeout(cl.timer);
    if (cl.refused) this.refused--;
    if (cl.code < 0 && cl.w) cl.parser.end(cl.w);
    if (cl.uid >= 0) {
      this.clients--;
      if (!this.privileged.has(cl.uid)) this.ordinary--;
      const n = (this.perUid.get(cl.uid) ?? 1) - 1;
      if (n > 0) this.perUid.set(cl.uid, n);
      else this.perUid.delete(cl.uid);
    }
    cl.uid = -3;
  }

  /**
   * Queues every finished drop file, each as its owner; removes partial files
   * whose writer is gone (or older than 36 hours) and junk. One round at a
   * time: a call during a round makes one more round. Resolves with the number
   * queued.
   */
  drain(): Promise<number> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    const run = async () => {
      let n = 0;
      try {
        do {
          this.again = false;
          n += await this.round();
        } while (this.again && !this.stopped);
      } catch (e) {
        this.o.log(`warning: internal error: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        this.draining = undefined;
      }
      return n;
    };
    this.draining = run();
    return this.draining;
  }

  private async round(): Promise<number> {
    let dir: Dir;
    try {
      dir = opendirSync(queuedDrop(this.o.home));
    } catch {
      return 0;
    }
    const limit = this.o.dropMax ?? dropLimit(this.o.home);
    const seen = new Set<string>();
    let n: number;
    try {
      n = await this.walk(dir, limit, seen);
    } finally {
      dir.closeSync();
    }
    // Forget what was logged about names that are gone, so a new one by the same name is said again.
    if (seen.size < LOGGED_MAX) for (const k of this.logged.keys()) if (!seen.has(k)) this.logged.delete(k);
    return n;
  }

  /** One pass over the drop directory: each entry in turn (its name into seen), until stopped. Returns the number queued. */
  private async walk(dir: Dir, limit: number, seen: Set<string>): Promise<number> {
    let n = 0;
    let slice = performance.now();
    for (;;) {
      if (this.stopped) break;
      if (performance.now() - slice > SLICE_MS) {
        await yieldLoop();
        slice = performance.now();
      }
      const ent = dir.readSync();
      if (!ent) break;
      const name = ent.name;
      if (seen.size < LOGGED_MAX) seen.add(name);
      const r = await this.entry(name, limit);
      if (r === "stop") break;
      if (r === "queued") {
        n++;
        // A message costs two fsyncs: let the clients in before the next.
        await yieldLoop();
        slice = performance.now();
      }
    }
    return n;
  }

  /** Removes something in the drop directory that is no writer's finished or partial file; if it may not, says so once. */
  private junk(name: string, st: Stats, why: string): undefined {
    const path = join(queuedDrop(this.o.home), name);
    try {
      if (st.isDirectory()) rmdirSync(path);
      else unlinkSync(path);
      this.logged.delete(name);
      this.o.log(`warning: removed ${name}: ${why}`);
    } catch (e) {
      if (errnoName(e) === "ENOENT") return undefined;
      const known = this.logged.get(name);
      if (known === st.ino) return undefined;
      // Past LOGGED_MAX names, more junk is not said at all rather than said on every drain.
      if (known === undefined && this.logged.size >= LOGGED_MAX) return undefined;
      this.logged.set(name, st.ino);
      this.o.log(`warning: unable to remove ${name}: ${why}`);
    }
    return undefined;
  }

  /**
   * Why a drop file is not its owner's own (undefined: it is). The owner is
   * the Received line's uid, so the file must be one that nobody else can have
   * written: a plain file, one name (a link elsewhere may have been written
   * through), no write bit beyond the owner's (a victim's 0666 or 0664 file
   * renamed in by someone who rewrote it), not root's or qmailq's (they write
   * the queue themselves and never leave drop files), and small enough.
   */
  private refusal(st: Stats, limit: number): string | undefined {
    if (!st.isFile()) return "not a regular file";
    if (st.nlink !== 1) return `${st.nlink} links`;
    if (st.mode & FOREIGN_BITS) return `mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}`;
    if (st.uid === 0 || st.uid === this.o.ids.uid.qmailq) return `owned by uid ${st.uid}`;
    if (st.size > limit) return `${st.size} bytes, more than ${limit}`;
    return undefined;
  }

  private async entry(name: string, limit: number): Promise<"queued" | "stop" | undefined> {
    const path = join(queuedDrop(this.o.home), name);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    const t = DROP_TMP.exec(name);
    if (t && st.isFile()) return removeAbandoned(path, st, Number(t[1]));
    if (!DROP_NAME.test(name)) return this.junk(name, st, "not a drop file");
    const why = this.refusal(st, limit);
    if (why) return this.junk(name, st, why);
    let fd: number;
    try {
      fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    } catch (e) {
      if (errnoName(e) === "ENOENT") return;
      return this.junk(name, st, "unreadable");
    }
    let code: number | "stop" | undefined;
    try {
      code = await this.queueOpened(name, fd, st, limit);
    } finally {
      closeSync(fd);
    }
    if (code === undefined || code === "stop") return code;
    return this.settle(name, path, code);
  }

  /**
   * The opened drop file queued, once it proves to be the file checked (st) and still passes: its qq
   * code; undefined when it was junk instead, "stop" when queueing failed outright.
   */
  private async queueOpened(name: string, fd: number, st: Stats, limit: number): Promise<number | "stop" | undefined> {
    const fst = fstatSync(fd);
    const why = fst.ino !== st.ino || fst.dev !== st.dev ? "replaced while being opened" : this.refusal(fst, limit);
    if (why) return this.junk(name, fst, why);
    try {
      return await this.queue(fd, fst.uid, limit);
    } catch (e) {
      this.o.log(`warning: unable to queue ${name}: ${e instanceof Error ? e.message : String(e)}`);
      return "stop";
    }
  }

  /** After qq said code: queue trouble (53, 6x) keeps the file for the next round; anything else is final. */
  private settle(name: string, path: string, code: number): "queued" | "stop" | undefined {
    if (this.stopped) return "stop";
    if (code === QQ.WRITE || (code >= 61 && code <= 66)) {
      this.o.log(`warning: unable to queue ${name}: qq ${code}`);
      return "stop";
    }
    if (code !== QQ.OK) this.o.log(`warning: dropping malformed ${name}: qq ${code}`);
    try {
      unlinkSync(path);
    } catch {}
    return code === QQ.OK ? "queued" : undefined;
  }

  /**
   * Copies one drop file into the queue as uid, in slices: the event loop
   * serves the socket between them. The Received line's pid and date are this
   * process's and now, as qmail-queue writes its own. At most limit bytes are
   * read, however the file grows meanwhile.
   */
  private async queue(fd: number, uid: number, limit: number): Promise<number> {
    let w: QueueWriter;
    try {
      w = QueueWriter.open({ home: this.o.home, uid, pid: nextQp(), ids: this.o.ids });
    } catch (e) {
      if (e instanceof QQError) return e.code;
      throw e;
    }
    this.current = w;
    try {
      const p = new FrameParser();
      const buf = Buffer.allocUnsafe(65536);
      let total = 0;
      let slice = performance.now();
      for (;;) {
        let k: number;
        try {
          k = readSync(fd, buf, 0, buf.length, null);
        } catch {
          return w.abort(QQ.READ);
        }
        if (k === 0) return p.end(w);
        total += k;
        if (total > limit) return w.abort(QQ.READ);
        const r = p.feed(buf.subarray(0, k), w);
        if (r >= 0) return r;
        if (performance.now() - slice > SLICE_MS) {
          await yieldLoop();
          if (this.stopped) return w.abort(QQ.READ);
          slice = performance.now();
        }
      }
    } finally {
      this.current = undefined;
    }
  }
}
