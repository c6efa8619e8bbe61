// SPDX-License-Identifier: MIT
// qmail-send's queue manager (qmail-send(8), qmail-send.c): todo scan, info and
// channel files, schedule and retries, deliveries through the spawners,
// bounces, cleanup. The structure is qmail-send.c's: one loop that does a
// little of each job per turn and sleeps until a file descriptor, a signal
// or the next scheduled time wakes it. Strings hold bytes as latin1.
// Here: controls, the loop, the spawner and qmail-clean protocols, jobs,
// deliveries and passes. Beside it, each named after qmail-send.c's part:
// send-todo.ts (todo_do), send-pqueue.ts (the pq* queues, prioq.c),
// send-bounce.ts (addbounce, injectbounce), send-subdirs.ts (readsubdir.c),
// send-rewrite.ts (rewrite, senderadd), send-files.ts (fmtqfn.c, getinfo).
import { writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { signalReady } from "@qts/core/ready";
import { worked } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { setBlocking } from "@qts/sys/exec";
import { lockExNb } from "@qts/sys/flock";
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from "@qts/sys/fs";
import { Control } from "../control.ts";
import { readFd } from "../spawn/spawn.ts";
import { addbounce, type BounceContext, type BounceControls, injectbounce } from "./send-bounce.ts";
import { CHANNELS, chanaddr, fmtqfn, getinfo, now, queueFileExists } from "./send-files.ts";
import { type PqElt, PrioQueues, type Prioq, SLEEP_SYSFAIL } from "./send-pqueue.ts";
import { ConstMap, type RewriteConf, verpSender } from "./send-rewrite.ts";
import { Entry, ReadSubdir } from "./send-subdirs.ts";
import { logsafe, Todo } from "./send-todo.ts";

const SLEEP_FUZZ = 1;
const SLEEP_FOREVER = 86400;
const SLEEP_CLEANUP = 76431;
// 36 hours; must exceed qmail-queue's 24-hour alarm.
const OSSIFIED = 129600;
const REPORTMAX = 10000;

const chanstatusmsg = [" local ", " remote "];
const tochan = [" to local ", " to remote "];
const chanfdout = [1, 3];
const chanfdin = [2, 4];
const chanskip = [10, 20];
const FD_LOG = 0;
const FD_TOCLEAN = 5;
const FD_FROMCLEAN = 6;

/** wakeup, or pe's time if that comes first. */
function earlier(wakeup: number, pe: PqElt | undefined): number {
  return pe && wakeup > pe.dt ? pe.dt : wakeup;
}

function sleepSync(sec: number): void {
  Bun.sleepSync(sec * 1000);
}

/** The controls that the todo processing (rewriting) and the bounces read; HUP replaces locals and vdoms. */
type SendControls = RewriteConf & BounceControls;

interface Job {
  refs: number;
  id: number;
  channel: number;
  retry: number;
  sender: string;
  numtodo: number;
  flaghiteof: boolean;
  flagdying: boolean;
}

interface Del {
  used: boolean;
  j: number;
  delid: number;
  mpos: number;
  recip: string;
}

interface Pass {
  id: number;
  j: number;
  data: Buffer;
  pos: number;
  mpos: number;
}

export class QmailSend {
  // controls
  private lifetime = 604800;
  private concurrency = [10, 20];
  private me: string | undefined;
  private readonly ctl: SendControls = {
    envnoathost: "",
    bouncefrom: "",
    bouncehost: "",
    doublebounceto: "",
    locals: new ConstMap([], false),
    percenthack: new ConstMap([], false),
    vdoms: new ConstMap([], true),
  };

  private flagexitasap = false;
  private flagrunasap = false;
  private flagreadasap = false;
  private flagspawnalive = [true, true];
  private recent = now();

  private commBuf: (Buffer | null)[] = [null, null];
  private commPos = [0, 0];

  private flagcleanup = false;
  private cleanupdir: ReadSubdir;
  private cleanuptime = 0;

  private readonly pq = new PrioQueues((s) => this.log(s));

  private jo: Job[] = [];
  private d: Del[][] = [[], []];
  private masterdelid = 1;
  private concurrencyused = [0, 0];
  private dline: number[][] = [[], []];
  private inbox: (Buffer | null)[][] = [[], []];

  private pass: (Pass | null)[] = [null, null];

  private readonly todo: Todo;
  private readonly bounce: BounceContext;

  private wake: (() => void) | null = null;

  constructor(
    private readonly home: string,
    env: Env,
  ) {
    this.cleanupdir = new ReadSubdir("mess", (d) => this.pausedir(d));
    const log = (s: string) => this.log(s);
    this.todo = new Todo({
      ctl: this.ctl,
      pq: this.pq,
      log,
      pausedir: (d) => this.pausedir(d),
      notify: () => this.notify(),
      clean: (fn) => this.clean(fn),
    });
    this.bounce = { home, env, ctl: this.ctl, log };
  }

  // ------------------------------------------------------------ logging

  private log(s: string): void {
    try {
      writeAll(FD_LOG, Buffer.from(s, "latin1"));
    } catch {}
  }

  private pausedir(dir: string): void {
    this.log(`alert: unable to opendir ${dir}, sleeping...\n`);
    sleepSync(10);
  }

  // ------------------------------------------------------------ controls

  /** getcontrols(); false when a control file cannot be read. */
  getcontrols(): boolean {
    try {
      const c = new Control(this.home);
      this.me = c.me();
      this.lifetime = c.int("queuelifetime", 604800);
      this.concurrency[0] = c.int("concurrencylocal", 10);
      this.concurrency[1] = c.int("concurrencyremote", 20);
      const ctl = this.ctl;
      ctl.envnoathost = c.lineDefault("envnoathost", true, "envnoathost");
      ctl.bouncefrom = c.lineDefault("bouncefrom", false, "MAILER-DAEMON");
      ctl.bouncehost = c.lineDefault("bouncehost", true, "bouncehost");
      const dbh = c.lineDefault("doublebouncehost", true, "doublebouncehost");
      ctl.doublebounceto = `${c.lineDefault("doublebounceto", false, "postmaster")}@${dbh}`;
      const locals = this.readLocals(c);
      if (!locals) return false;
      ctl.locals = locals;
      ctl.percenthack = new ConstMap(c.lines("percenthack") ?? [], false);
      ctl.vdoms = new ConstMap(c.lines("virtualdomains") ?? [], true);
      return true;
    } catch {
      return false;
    }
  }

  /** control/locals, or control/me as read at start-up (control_init runs once, HUP does not reread me). */
  private readLocals(c: Control): ConstMap | undefined {
    const l = c.lines("locals");
    if (l) return new ConstMap(l, false);
    return this.me === undefined ? undefined : new ConstMap([this.me], false);
  }

  /** SIGHUP: locals and virtualdomains only. */
  private reread(): void {
    const c = new Control(this.home);
    let locals: ConstMap | undefined;
    try {
      locals = this.readLocals(c);
    } catch {}
    if (!locals) {
      this.log("alert: unable to reread control/locals\n");
      return;
    }
    let vd: string[] | undefined;
    try {
      vd = c.lines("virtualdomains") ?? [];
    } catch {
      this.log("alert: unable to reread control/virtualdomains\n");
      return;
    }
    this.ctl.locals = locals;
    this.ctl.vdoms = new ConstMap(vd, true);
  }

  // ------------------------------------------------------------ communication

  private spawndied(c: number): void {
    this.log("alert: oh no! lost spawn connection! dying...\n");
    this.flagspawnalive[c] = false;
    this.flagexitasap = true;
  }

  private cleandied(): void {
    this.log("alert: oh no! lost qmail-clean connection! dying...\n");
    this.flagexitasap = true;
  }

  private commCanwrite(c: number): boolean {
    return !this.commBuf[c];
  }

  private commWrite(c: number, delnum: number, id: number, sender: string, recip: string): void {
    if (this.commBuf[c]) return;
    this.commBuf[c] = Buffer.concat([
      Buffer.from([delnum]),
      Buffer.from(`${fmtqfn("", id, true)}\0${verpSender(sender, recip)}\0${recip}\0`, "latin1"),
    ]);
    this.commPos[c] = 0;
    this.commDo();
  }

  /** Non-blocking writes of the pending command to each spawner. */
  private commDo(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      const b = this.commBuf[c];
      if (!this.flagspawnalive[c] || !b) continue;
      try {
        const w = writeSync(chanfdout[c] as number, b, this.commPos[c] as number);
        this.commPos[c] = (this.commPos[c] as number) + w;
        if (this.commPos[c] === b.length) this.commBuf[c] = null;
      } catch (e) {
        // EAGAIN: the spawner's pipe is full, try again; only EPIPE means it is gone (qmail-send.c comm_do).
        if (errnoName(e) === "EPIPE") this.spawndied(c);
      }
    }
  }

  /** One request to qmail-clean and its one-byte answer (blocking, as in qmail-send.c); true on "+". */
  private clean(fn: string): boolean {
    try {
      writeAll(FD_TOCLEAN, Buffer.from(`${fn}\0`, "latin1"));
    } catch {
      this.cleandied();
      return false;
    }
    const ch = Buffer.alloc(1);
    let n = 0;
    for (;;) {
      try {
        n = readSync(FD_FROMCLEAN, ch, 0, 1, null);
        break;
      } catch (e) {
        const err = errnoName(e);
        if (err === "EAGAIN" || err === "EINTR") continue;
        n = 0;
        break;
      }
    }
    if (n !== 1) {
      this.cleandied();
      return false;
    }
    if (ch[0] === 0x2b) return true;
    this.log(`warning: qmail-clean unable to clean up ${fn}\n`);
    return false;
  }

  // ------------------------------------------------------------ cleanups

  private cleanupWakeup(wakeup: number): number {
    if (this.flagcleanup) wakeup = 0;
    return Math.min(wakeup, this.cleanuptime);
  }

  private cleanupDo(): void {
    if (!this.flagcleanup) {
      if (this.recent < this.cleanuptime) return;
      this.cleanupdir = new ReadSubdir("mess", (d) => this.pausedir(d));
      this.flagcleanup = true;
    }
    const r = this.cleanupdir.next();
    if (r === Entry.END) {
      this.flagcleanup = false;
      this.cleanuptime = this.recent + SLEEP_CLEANUP;
      return;
    }
    if (r !== Entry.ID) return;
    const id = this.cleanupdir.id;
    try {
      const st = statSync(fmtqfn("mess/", id, true));
      if (this.recent <= Math.floor(st.atimeMs / 1000) + OSSIFIED) return;
    } catch {
      return;
    }
    for (const fn of [fmtqfn("info/", id, true), fmtqfn("todo/", id, false)]) {
      try {
        statSync(fn);
        return;
      } catch (e) {
        if (errnoName(e) !== "ENOENT") return;
      }
    }
    this.clean(fmtqfn("foop/", id, false));
  }

  // ------------------------------------------------------------ jobs

  private jobAvail(): boolean {
    return this.jo.some((j) => !j.refs);
  }

  private jobOpen(id: number, channel: number): number {
    const j = this.jo.findIndex((x) => !x.refs);
    if (j < 0) return -1;
    const x = this.jo[j] as Job;
    x.refs = 1;
    x.id = id;
    x.channel = channel;
    x.numtodo = 0;
    x.flaghiteof = false;
    return j;
  }

  /** job_close(): the last reference gone, the message waits for its next pass, or its channel is done. */
  private jobClose(j: number): void {
    const x = this.jo[j] as Job;
    if (0 < --x.refs) return;
    if (x.flaghiteof && !x.numtodo) this.jobChannelDone(x);
    else this.pq.chan[x.channel]?.insert({ id: x.id, dt: x.retry });
  }

  /** job_close() once every recipient on the channel is done: its file goes, and with no other channel, the message. */
  private jobChannelDone(x: Job): void {
    const pe = { id: x.id, dt: x.retry };
    const fn = fmtqfn(chanaddr[x.channel] as string, x.id, true);
    try {
      unlinkSync(fn);
    } catch {
      this.log(`warning: unable to unlink ${fn}; will try again later\n`);
      pe.dt = now() + SLEEP_SYSFAIL;
      this.pq.chan[x.channel]?.insert(pe);
      return;
    }
    for (let c = 0; c < CHANNELS; ++c) {
      if (c === x.channel) continue;
      const fn2 = fmtqfn(chanaddr[c] as string, x.id, true);
      try {
        statSync(fn2);
        return; // more channels going
      } catch (e) {
        if (errnoName(e) !== "ENOENT") {
          this.log(`warning: unable to stat ${fn2}\n`);
          break;
        }
      }
    }
    pe.dt = now();
    this.pq.done.insert(pe);
  }

  // ------------------------------------------------------------ deliveries

  private delStatus(): void {
    let s = "status:";
    for (let c = 0; c < CHANNELS; ++c) s += `${chanstatusmsg[c]}${this.concurrencyused[c]}/${this.concurrency[c]}`;
    if (this.flagexitasap) s += " exitasap";
    this.log(`${s}\n`);
  }

  private delInit(): void {
    for (let c = 0; c < CHANNELS; ++c)
      this.d[c] = Array.from({ length: this.concurrency[c] as number }, () => ({
        used: false,
        j: 0,
        delid: 0,
        mpos: 0,
        recip: "",
      }));
    this.delStatus();
  }

  private delCanexit(): boolean {
    for (let c = 0; c < CHANNELS; ++c) if (this.flagspawnalive[c] && this.concurrencyused[c]) return false;
    return true;
  }

  private delAvail(c: number): boolean {
    return (
      (this.flagspawnalive[c] as boolean) &&
      this.commCanwrite(c) &&
      (this.concurrencyused[c] as number) < (this.concurrency[c] as number)
    );
  }

  private delStart(j: number, mpos: number, recip: string): void {
    const x = this.jo[j] as Job;
    const c = x.channel;
    if (!this.flagspawnalive[c] || !this.commCanwrite(c)) return;
    const dc = this.d[c] as Del[];
    const i = dc.findIndex((e) => !e.used);
    if (i < 0) return;
    const del = dc[i] as Del;
    del.recip = recip;
    del.j = j;
    ++x.refs;
    del.delid = this.masterdelid++;
    del.mpos = mpos;
    del.used = true;
    this.concurrencyused[c] = (this.concurrencyused[c] as number) + 1;
    this.commWrite(c, i, x.id, x.sender, recip);
    this.log(`starting delivery ${del.delid}: msg ${x.id}${tochan[c]}${logsafe(recip)}\n`);
    this.delStatus();
  }

  /** The record's T becomes D in place. */
  private markdone(c: number, id: number, pos: number): void {
    const fn = fmtqfn(chanaddr[c] as string, id, true);
    try {
      const fd = openSync(fn, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        fstatSync(fd);
        if (writeSync(fd, "D", pos) === 1) return;
      } finally {
        closeSync(fd);
      }
    } catch {}
    this.log(`warning: trouble marking ${fn}; message will be delivered twice!\n`);
  }

  /** del_dochan(): a spawner's bytes gathered into reports, each ending at its NUL; EOF means the spawner died. */
  private delDochan(c: number, chunk: Buffer | null): void {
    if (!chunk) {
      this.spawndied(c);
      return;
    }
    const dline = this.dline[c] as number[];
    for (const ch of chunk) {
      dline.push(ch);
      // qmail-lspawn and qmail-rspawn keep reports short, but rspawn is not trusted.
      if (dline.length > REPORTMAX) dline.length = REPORTMAX;
      if (ch || dline.length <= 1) continue;
      this.delReport(c, dline);
      dline.length = 0;
    }
  }

  /** del_dochan() on one whole report: delivery number, K (success), Z (deferral) or D (failure), text. */
  private delReport(c: number, dline: number[]): void {
    const del = (this.d[c] as Del[])[dline[0] as number];
    if (!del?.used) {
      this.log("warning: internal error: delivery report out of range\n");
      return;
    }
    const x = this.jo[del.j] as Job;
    let letter = String.fromCharCode(dline[1] as number);
    const z = dline.indexOf(0, 2);
    let text = Buffer.from(dline.slice(2, z < 0 ? dline.length : z)).toString("latin1");
    if (letter === "Z" && x.flagdying) {
      letter = "D";
      text += "I'm not going to try again; this message has been in the queue too long.\n";
    }
    const n = del.delid;
    switch (letter) {
      case "K":
        this.log(`delivery ${n}: success: ${logsafe(text)}\n`);
        this.markdone(c, x.id, del.mpos);
        --x.numtodo;
        break;
      case "Z":
        this.log(`delivery ${n}: deferral: ${logsafe(text)}\n`);
        break;
      case "D":
        this.log(`delivery ${n}: failure: ${logsafe(text)}\n`);
        addbounce(this.bounce, x.id, del.recip, text);
        this.markdone(c, x.id, del.mpos);
        --x.numtodo;
        break;
      default:
        this.log(`delivery ${n}: report mangled, will defer\n`);
    }
    this.jobClose(del.j);
    del.used = false;
    this.concurrencyused[c] = (this.concurrencyused[c] as number) - 1;
    this.delStatus();
  }

  private delDo(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      const box = this.inbox[c] as (Buffer | null)[];
      while (box.length && this.flagspawnalive[c]) this.delDochan(c, box.shift() as Buffer | null);
      if (!this.flagspawnalive[c]) box.length = 0;
    }
  }

  // ------------------------------------------------------------ passes

  /** pass_updatetimeout(): at once if a pass can go on, else when the next message on a queue is due. */
  private passWakeup(wakeup: number): number {
    if (this.flagexitasap) return wakeup;
    for (let c = 0; c < CHANNELS; ++c) if (this.pass[c] && this.delAvail(c)) return 0;
    if (this.jobAvail())
      for (let c = 0; c < CHANNELS; ++c) if (!this.pass[c]) wakeup = earlier(wakeup, this.pq.chan[c]?.min());
    return earlier(earlier(wakeup, this.pq.fail.min()), this.pq.done.min());
  }

  private nextretry(birth: number, c: number): number {
    // squareroot(): result^2 <= age < (result + 1)^2; a birth in the future counts as age 0.
    const age = this.recent - birth;
    let n = 0;
    if (age > 0) {
      n = Math.floor(Math.sqrt(age));
      while (n * n > age) n--;
      while ((n + 1) * (n + 1) <= age) n++;
    }
    n += chanskip[c] as number;
    return birth + n * n;
  }

  /** pass_dochan(): one record of the channel's current pass per call; a new pass takes the next due message. */
  private passDochan(c: number): void {
    if (this.flagexitasap) return;
    const p = this.pass[c] ?? this.passStart(c);
    if (!p) return;
    if (!this.delAvail(c)) return;
    const z = p.data.indexOf(0, p.pos);
    if (z < 0) {
      (this.jo[p.j] as Job).flaghiteof = true;
      this.jobClose(p.j);
      this.pass[c] = null;
      return;
    }
    const line = p.data.subarray(p.pos, z + 1);
    switch (line[0]) {
      case 0x54: // T
        ++(this.jo[p.j] as Job).numtodo;
        this.delStart(p.j, p.mpos, line.subarray(1, line.length - 1).toString("latin1"));
        break;
      case 0x44: // D
        break;
      default:
        this.log(`warning: unknown record type in ${fmtqfn(chanaddr[c] as string, p.id, true)}!\n`);
        this.jobClose(p.j);
        this.pass[c] = null;
        return;
    }
    p.pos = z + 1;
    p.mpos += line.length;
  }

  /** pass_dochan()'s start of a pass: the due message's channel file and info read, and a job opened for it. */
  private passStart(c: number): Pass | null {
    if (!this.jobAvail()) return null;
    const q = this.pq.chan[c] as Prioq;
    const pe = q.min();
    if (!pe || pe.dt > this.recent) return null;
    const fn = fmtqfn(chanaddr[c] as string, pe.id, true);
    q.delmin();
    let data: Buffer;
    let info: ReturnType<typeof getinfo>;
    try {
      data = readFileSync(fn);
      info = getinfo(pe.id);
    } catch {
      info = undefined;
      data = Buffer.alloc(0);
    }
    if (!info) {
      this.log(`warning: trouble opening ${fn}; will try again later\n`);
      q.insert({ id: pe.id, dt: this.recent + SLEEP_SYSFAIL });
      return null;
    }
    const j = this.jobOpen(pe.id, c);
    const x = this.jo[j] as Job;
    x.retry = this.nextretry(info.birth, c);
    x.flagdying = this.recent > info.birth + this.lifetime;
    x.sender = info.sender;
    const p = { id: pe.id, j, data, pos: 0, mpos: 0 };
    this.pass[c] = p;
    return p;
  }

  /** messdone(): every channel done and todo/N gone: the bounce goes out, info/N and then the message are removed. */
  private async messdone(id: number): Promise<void> {
    const fail = () => this.pq.done.insert({ id, dt: now() + SLEEP_SYSFAIL });
    const fn = fmtqfn("info/", id, true);
    for (const f of [fmtqfn(chanaddr[0], id, true), fmtqfn(chanaddr[1], id, true), fmtqfn("todo/", id, false), fn]) {
      const there = queueFileExists(f);
      if (there === undefined) {
        this.log(`warning: unable to stat ${f}; will try again later\n`);
        fail();
        return;
      }
      // a channel file or todo/N still there is a false alarm; no info/N, the message is gone already
      if (there !== (f === fn)) return;
    }
    if (!(await injectbounce(this.bounce, id))) {
      fail();
      return;
    }
    this.log(`end msg ${id}\n`);
    try {
      unlinkSync(fn);
    } catch {
      this.log(`warning: unable to unlink ${fn}; will try again later\n`);
      fail();
      return;
    }
    this.clean(fmtqfn("foop/", id, false));
  }

  private async passDo(): Promise<void> {
    for (let c = 0; c < CHANNELS; ++c) this.passDochan(c);
    const f = this.pq.fail.min();
    if (f && f.dt <= this.recent) {
      this.pq.fail.delmin();
      this.pq.add(f.id);
    }
    const d = this.pq.done.min();
    if (d && d.dt <= this.recent) {
      this.pq.done.delmin();
      await this.messdone(d.id);
    }
  }

  // ------------------------------------------------------------ main loop

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async sleep(sec: number): Promise<void> {
    if (sec <= 0) {
      await new Promise<void>((r) => setImmediate(r));
      return;
    }
    // A command still waiting for room in a spawner's pipe is retried soon (select on writability in C).
    const ms = this.commBuf.some((b) => b) ? 20 : sec * 1000;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private hasEvents(): boolean {
    return (
      (this.todo.pulled && !this.flagexitasap) ||
      this.flagrunasap ||
      this.flagreadasap ||
      (this.inbox[0] as unknown[]).length > 0 ||
      (this.inbox[1] as unknown[]).length > 0
    );
  }

  /**
   * qmail-send.c's main() after chdir to the queue; returns the exit code. ready (a descriptor) hears a newline
   * once the spawners have said their concurrency.
   */
  async run(ready?: number): Promise<number> {
    // Caught from the start, as qmail-send.c does before taking the mutex.
    this.catchSignals();
    const trouble = this.lockMutex() ?? this.spawnerConcurrency();
    if (trouble) {
      this.log(`alert: cannot start: ${trouble}\n`);
      return 111;
    }
    // Both spawners answered: the helpers are up (supervise(8), notification-fd).
    signalReady(ready);
    const numjobs = (this.concurrency[0] as number) + (this.concurrency[1] as number);
    this.jo = Array.from({ length: numjobs }, () => ({
      refs: 0,
      id: 0,
      channel: 0,
      retry: 0,
      sender: "",
      numtodo: 0,
      flaghiteof: false,
      flagdying: false,
    }));
    this.listenSpawners();
    this.pq.start((d) => this.pausedir(d));
    // The trigger is open before the first status line, so a pull right after it is not lost.
    this.todo.triggerSet();
    this.delInit();
    this.todo.nextrun = now();
    this.cleanuptime = now();
    while (!this.flagexitasap || !this.delCanexit()) await this.turn();
    this.pq.finish();
    this.log("status: exiting\n");
    return 0;
  }

  /** SIGTERM: exit once the deliveries are done; SIGALRM: retry everything now; SIGHUP: reread controls. */
  private catchSignals(): void {
    process.on("SIGTERM", () => {
      this.flagexitasap = true;
      this.notify();
    });
    process.on("SIGALRM", () => {
      this.flagrunasap = true;
      this.notify();
    });
    process.on("SIGHUP", () => {
      this.flagreadasap = true;
      this.notify();
    });
  }

  /** lock/sendmutex taken, so that only one qmail-send runs on the queue; the trouble, if any. */
  private lockMutex(): string | undefined {
    let fd: number;
    try {
      fd = openSync("lock/sendmutex", constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return "unable to open mutex";
    }
    try {
      // the descriptor stays open, and the lock held, for the process's life
      lockExNb(fd);
    } catch {
      return "qmail-send is already running";
    }
    return undefined;
  }

  /** Each spawner's first byte: the most deliveries it can run at once, a cap on concurrencylocal or remote. */
  private spawnerConcurrency(): string | undefined {
    for (let c = 0; c < CHANNELS; ++c) {
      const ch = Buffer.alloc(1);
      let r = 0;
      for (;;) {
        try {
          r = readSync(chanfdin[c] as number, ch, 0, 1, null);
          break;
        } catch (e) {
          const err = errnoName(e);
          if (err === "EINTR" || err === "EAGAIN") continue;
          r = -1;
          break;
        }
      }
      if (r < 1) return "hath the daemon spawn no fire?";
      const u = ch[0] as number;
      if ((this.concurrency[c] as number) > u) this.concurrency[c] = u;
    }
    return undefined;
  }

  /** The spawners' reports gathered as they come; commands to them are written without blocking. */
  private listenSpawners(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      try {
        setBlocking(chanfdout[c] as number, false);
      } catch {
        this.spawndied(c);
      }
      const box = this.inbox[c] as (Buffer | null)[];
      readFd(
        chanfdin[c] as number,
        (chunk) => {
          box.push(chunk);
          this.notify();
        },
        () => {
          box.push(null);
          this.notify();
        },
        true,
      );
    }
  }

  /** One turn of main()'s loop: the flags from signals, a sleep until something is due, a little of each job. */
  private async turn(): Promise<void> {
    this.recent = now();
    if (this.flagrunasap) {
      this.flagrunasap = false;
      this.pq.run(this.recent);
    }
    if (this.flagreadasap) {
      this.flagreadasap = false;
      this.reread();
    }
    let wakeup = this.recent + SLEEP_FOREVER;
    wakeup = this.passWakeup(wakeup);
    if (!this.flagexitasap) wakeup = this.todo.wakeup(wakeup);
    wakeup = this.cleanupWakeup(wakeup);
    if (!this.hasEvents()) await this.sleep(wakeup <= this.recent ? 0 : wakeup - this.recent + SLEEP_FUZZ);
    else await new Promise<void>((r) => setImmediate(r));
    // Each turn is work (a trigger, a report, a retry due): the trim waits for quiet (core/rest.ts).
    worked();
    this.recent = now();
    this.commDo();
    this.delDo();
    if (!this.flagexitasap) this.todo.step(this.recent);
    await this.passDo();
    this.cleanupDo();
  }
}
