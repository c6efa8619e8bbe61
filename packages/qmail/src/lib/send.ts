// SPDX-License-Identifier: MIT
// qmail-send's queue manager (qmail-send(8), qmail-send.c): todo scan, info and
// channel files, schedule and retries, deliveries through the spawners,
// bounces, cleanup. The structure is qmail-send.c's: one loop that does a
// little of each job per turn and sleeps until a file descriptor, a signal
// or the next scheduled time wakes it. Strings hold bytes as latin1.
import {
  closeSync,
  constants,
  type Dir,
  fstatSync,
  fsyncSync,
  opendirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { writeAll } from "@qts/core/die";
import { signalReady } from "@qts/core/ready";
import { setBlocking } from "@qts/sys/exec";
import { lockExNb } from "@qts/sys/flock";
import { Control } from "./control.ts";
import { date822 } from "./date822.ts";
import { QmailQueue } from "./qmail.ts";
import { fmtqfn, SPLIT } from "./send-files.ts";
import { quote, quote2 } from "./send-quote.ts";
import { ConstMap, rewrite, stripVdomPrepend, verpSender } from "./send-rewrite.ts";
import { readFd } from "./spawn.ts";

const SLEEP_TODO = 1500;
const SLEEP_FUZZ = 1;
const SLEEP_FOREVER = 86400;
const SLEEP_CLEANUP = 76431;
const SLEEP_SYSFAIL = 123;
// 36 hours; must exceed qmail-queue's 24-hour alarm.
const OSSIFIED = 129600;
const REPORTMAX = 10000;

const CHANNELS = 2;
const chanaddr = ["local/", "remote/"];
const chanstatusmsg = [" local ", " remote "];
const tochan = [" to local ", " to remote "];
const chanfdout = [1, 3];
const chanfdin = [2, 4];
const chanskip = [10, 20];
const FD_LOG = 0;
const FD_TOCLEAN = 5;
const FD_FROMCLEAN = 6;

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function sleepSync(sec: number): void {
  Bun.sleepSync(sec * 1000);
}

function code(e: unknown): string {
  return (e as { code?: string }).code ?? "";
}

/** logsafe(): \n becomes /, and bytes below 33, above 126 or % become _ (qsutil.c). */
export function logsafe(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) out += "/";
    else if (c === 37 || c < 33 || c > 126) out += "_";
    else out += s[i];
  }
  return out;
}

/** addbounce()'s text for one failed recipient. */
export function bounceEntry(recip: string, report: string): string {
  let t = `<${recip}`.replace(/\n/g, "_");
  t += `>:\n${report}`;
  if (report && !report.endsWith("\n")) t += "\n";
  const b = Buffer.from(t, "latin1");
  for (let pos = b.length - 2; pos > 0; --pos) if (b[pos] === 10 && b[pos - 1] === 10) b[pos] = 0x2f;
  return `${b.toString("latin1")}\n`;
}

interface PqElt {
  id: number;
  dt: number;
}

/** prioq.c: a binary min-heap on dt. */
class Prioq {
  p: PqElt[] = [];
  insert(e: PqElt): void {
    const p = this.p;
    let j = p.length;
    p.push(e);
    while (j > 0) {
      const i = (j - 1) >> 1;
      if ((p[i] as PqElt).dt <= e.dt) break;
      p[j] = p[i] as PqElt;
      j = i;
    }
    p[j] = e;
  }
  min(): PqElt | undefined {
    return this.p[0];
  }
  delmin(): void {
    const p = this.p;
    const last = p.pop();
    if (!p.length || !last) return;
    let j = 0;
    for (;;) {
      let i = 2 * j + 1;
      if (i >= p.length) break;
      if (i + 1 < p.length && (p[i + 1] as PqElt).dt < (p[i] as PqElt).dt) i++;
      if (last.dt <= (p[i] as PqElt).dt) break;
      p[j] = p[i] as PqElt;
      j = i;
    }
    p[j] = last;
  }
}

/** readsubdir.c: walks dir/0 .. dir/22, one entry per call. */
class ReadSubdir {
  private pos = 0;
  private dir: Dir | null = null;
  constructor(
    private readonly name: string,
    private readonly pause: (d: string) => void,
  ) {}
  /** 1 with id, 0 at the end, -1 nothing this time, -2 a name that is not a number. */
  next(): { r: number; id: number } {
    if (!this.dir) {
      if (this.pos >= SPLIT) return { r: 0, id: 0 };
      const dn = `${this.name}/${this.pos}`;
      for (;;) {
        try {
          this.dir = opendirSync(dn);
          break;
        } catch {
          this.pause(dn);
        }
      }
      this.pos++;
      return { r: -1, id: 0 };
    }
    let d: ReturnType<Dir["readSync"]>;
    try {
      d = this.dir.readSync();
    } catch {
      d = null;
    }
    if (!d) {
      try {
        this.dir.closeSync();
      } catch {}
      this.dir = null;
      return { r: -1, id: 0 };
    }
    if (!/^\d+$/.test(d.name)) return { r: -2, id: 0 };
    return { r: 1, id: Number(d.name) };
  }
}

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
  private envnoathost = "";
  private bouncefrom = "";
  private bouncehost = "";
  private doublebounceto = "";
  private locals = new ConstMap([], false);
  private percenthack = new ConstMap([], false);
  private vdoms = new ConstMap([], true);

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

  private pqdone = new Prioq();
  private pqchan = [new Prioq(), new Prioq()];
  private pqfail = new Prioq();

  private jo: Job[] = [];
  private d: Del[][] = [[], []];
  private masterdelid = 1;
  private concurrencyused = [0, 0];
  private dline: number[][] = [[], []];
  private inbox: (Buffer | null)[][] = [[], []];

  private pass: (Pass | null)[] = [null, null];

  private tododir: Dir | null = null;
  private nexttodorun = 0;
  private triggerFd = -1;
  private triggerPulled = false;

  private wake: (() => void) | null = null;

  constructor(
    private readonly home: string,
    private readonly env: Record<string, string | undefined>,
  ) {
    this.cleanupdir = new ReadSubdir("mess", (d) => this.pausedir(d));
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
      this.envnoathost = c.lineDefault("envnoathost", true, "envnoathost");
      this.bouncefrom = c.lineDefault("bouncefrom", false, "MAILER-DAEMON");
      this.bouncehost = c.lineDefault("bouncehost", true, "bouncehost");
      const dbh = c.lineDefault("doublebouncehost", true, "doublebouncehost");
      this.doublebounceto = `${c.lineDefault("doublebounceto", false, "postmaster")}@${dbh}`;
      const locals = this.readLocals(c);
      if (!locals) return false;
      this.locals = locals;
      this.percenthack = new ConstMap(c.lines("percenthack") ?? [], false);
      this.vdoms = new ConstMap(c.lines("virtualdomains") ?? [], true);
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
    this.locals = locals;
    this.vdoms = new ConstMap(vd, true);
  }

  // ------------------------------------------------------------ info

  private getinfo(id: number): { sender: string; birth: number } | undefined {
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
        if (code(e) === "EPIPE") this.spawndied(c);
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
        if (code(e) === "EAGAIN" || code(e) === "EINTR") continue;
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
    const { r, id } = this.cleanupdir.next();
    if (r === 0) {
      this.flagcleanup = false;
      this.cleanuptime = this.recent + SLEEP_CLEANUP;
      return;
    }
    if (r !== 1) return;
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
        if (code(e) !== "ENOENT") return;
      }
    }
    this.clean(fmtqfn("foop/", id, false));
  }

  // ------------------------------------------------------------ priority queues

  private pqadd(id: number): void {
    let fn = fmtqfn("info/", id, true);
    const fail = () => {
      this.log(`warning: unable to stat ${fn}; will try again later\n`);
      this.pqfail.insert({ id, dt: now() + SLEEP_SYSFAIL });
    };
    try {
      statSync(fn);
    } catch (e) {
      if (code(e) !== "ENOENT") {
        fail();
        return;
      }
      return;
    }
    fn = fmtqfn("todo/", id, false);
    try {
      statSync(fn);
      // qmail-send crashed while writing info: the todo scan does it again.
      return;
    } catch (e) {
      if (code(e) !== "ENOENT") {
        fail();
        return;
      }
    }
    const pe: (PqElt | undefined)[] = [];
    for (let c = 0; c < CHANNELS; ++c) {
      fn = fmtqfn(chanaddr[c] as string, id, true);
      try {
        const st = statSync(fn);
        pe[c] = { id, dt: Math.floor(st.mtimeMs / 1000) };
      } catch (e) {
        if (code(e) !== "ENOENT") {
          fail();
          return;
        }
      }
    }
    for (let c = 0; c < CHANNELS; ++c) if (pe[c]) this.pqchan[c]?.insert(pe[c] as PqElt);
    if (!pe[0] && !pe[1]) this.pqdone.insert({ id, dt: now() });
  }

  private pqstart(): void {
    const rs = new ReadSubdir("info", (d) => this.pausedir(d));
    for (;;) {
      const { r, id } = rs.next();
      if (r === 0) break;
      if (r > 0) this.pqadd(id);
    }
  }

  /** On exit, each pending retry time becomes the channel file's mtime. */
  private pqfinish(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      const q = this.pqchan[c] as Prioq;
      for (let pe = q.min(); pe; pe = q.min()) {
        q.delmin();
        const fn = fmtqfn(chanaddr[c] as string, pe.id, true);
        try {
          utimesSync(fn, pe.dt, pe.dt);
        } catch {
          this.log(`warning: unable to utime ${fn}; message will be retried too soon\n`);
        }
      }
    }
  }

  private pqrun(): void {
    for (const q of this.pqchan) for (const e of q.p) e.dt = this.recent;
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

  private jobClose(j: number): void {
    const x = this.jo[j] as Job;
    if (0 < --x.refs) return;
    const pe = { id: x.id, dt: x.retry };
    if (x.flaghiteof && !x.numtodo) {
      const fn = fmtqfn(chanaddr[x.channel] as string, x.id, true);
      try {
        unlinkSync(fn);
      } catch {
        this.log(`warning: unable to unlink ${fn}; will try again later\n`);
        pe.dt = now() + SLEEP_SYSFAIL;
        this.pqchan[x.channel]?.insert(pe);
        return;
      }
      for (let c = 0; c < CHANNELS; ++c) {
        if (c === x.channel) continue;
        const fn2 = fmtqfn(chanaddr[c] as string, x.id, true);
        try {
          statSync(fn2);
          return; // more channels going
        } catch (e) {
          if (code(e) !== "ENOENT") {
            this.log(`warning: unable to stat ${fn2}\n`);
            break;
          }
        }
      }
      pe.dt = now();
      this.pqdone.insert(pe);
      return;
    }
    this.pqchan[x.channel]?.insert(pe);
  }

  // ------------------------------------------------------------ bounces

  private addbounce(id: number, recip: string, report: string): void {
    const text = Buffer.from(bounceEntry(stripVdomPrepend(recip, this.vdoms), report), "latin1");
    const fn = fmtqfn("bounce/", id, false);
    let fd: number;
    for (;;) {
      try {
        fd = openSync(fn, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_CREAT, 0o600);
        break;
      } catch {
        this.log("alert: unable to append to bounce message; HELP! sleeping...\n");
        sleepSync(10);
      }
    }
    let pos = 0;
    while (pos < text.length) {
      try {
        pos += writeSync(fd, text, pos);
      } catch {
        this.log("alert: unable to append to bounce message; HELP! sleeping...\n");
        sleepSync(10);
      }
    }
    closeSync(fd);
  }

  private async injectbounce(id: number): Promise<boolean> {
    const info = this.getinfo(id);
    if (!info) return false;
    let sender = info.sender;
    // owner-@host-@[] -> owner-@host
    if (sender.endsWith("-@[]")) sender = sender.slice(0, -4);
    const fn2 = fmtqfn("bounce/", id, false);
    const fn = fmtqfn("mess/", id, true);
    try {
      statSync(fn2);
    } catch (e) {
      if (code(e) === "ENOENT") return true;
      this.log(`warning: unable to stat ${fn2}\n`);
      return false;
    }
    if (sender === "#@[]") this.log(`triple bounce: discarding ${fn2}\n`);
    else {
      let qq: QmailQueue;
      try {
        qq = new QmailQueue({ home: this.home, env: this.env });
      } catch {
        this.log("warning: unable to start qmail-queue, will try later\n");
        return false;
      }
      const bouncesender = sender ? "" : "#@[]";
      const bouncerecip = sender ? sender : this.doublebounceto;
      const put = (s: string) => qq.put(Buffer.from(s, "latin1"));
      await put(`Date: ${date822(Date.now())}\n`);
      await put(`From: ${quote(this.bouncefrom)}@${this.bouncehost}\nTo: ${quote2(bouncerecip)}\n`);
      await put(`Subject: failure notice\n\nHi. This is the qmail-send program at ${this.bouncehost}`);
      await put(
        sender
          ? ".\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n"
          : ".\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n",
      );
      let ok = await this.copyFile(fn2, qq);
      await put(
        sender
          ? "--- Below this line is a copy of the message.\n\n"
          : "--- Below this line is the original bounce.\n\n",
      );
      await put(`Return-Path: <${quote2(sender)}>\n`);
      ok = (await this.copyFile(fn, qq)) && ok;
      // qmail_fail(): without the envelope qmail-queue queues nothing.
      if (ok) {
        qq.from(bouncesender);
        qq.to(bouncerecip);
      }
      const r = await qq.close();
      if (!ok || r.text) {
        this.log("warning: trouble injecting bounce message, will try later\n");
        return false;
      }
      // the qp the bounce's Received line names (known once it is queued: qmail-queued's own number)
      this.log(`bounce msg ${id} qp ${r.pid}\n`);
    }
    try {
      unlinkSync(fn2);
    } catch {
      this.log(`warning: unable to unlink ${fn2}\n`);
      return false;
    }
    return true;
  }

  private async copyFile(fn: string, qq: QmailQueue): Promise<boolean> {
    let fd: number;
    try {
      fd = openSync(fn, "r");
    } catch {
      return false;
    }
    try {
      const buf = Buffer.alloc(65536);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) break;
        await qq.put(Buffer.from(buf.subarray(0, n)));
      }
      return true;
    } catch {
      return false;
    } finally {
      closeSync(fd);
    }
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
      const delnum = dline[0] as number;
      const del = (this.d[c] as Del[])[delnum];
      if (!del?.used) this.log("warning: internal error: delivery report out of range\n");
      else {
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
            this.addbounce(x.id, del.recip, text);
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
      dline.length = 0;
    }
  }

  private delDo(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      const box = this.inbox[c] as (Buffer | null)[];
      while (box.length && this.flagspawnalive[c]) this.delDochan(c, box.shift() as Buffer | null);
      if (!this.flagspawnalive[c]) box.length = 0;
    }
  }

  // ------------------------------------------------------------ passes

  private passWakeup(wakeup: number): number {
    if (this.flagexitasap) return wakeup;
    for (let c = 0; c < CHANNELS; ++c) if (this.pass[c] && this.delAvail(c)) return 0;
    if (this.jobAvail())
      for (let c = 0; c < CHANNELS; ++c) {
        const pe = this.pass[c] ? undefined : this.pqchan[c]?.min();
        if (pe && wakeup > pe.dt) wakeup = pe.dt;
      }
    const f = this.pqfail.min();
    if (f && wakeup > f.dt) wakeup = f.dt;
    const d = this.pqdone.min();
    if (d && wakeup > d.dt) wakeup = d.dt;
    return wakeup;
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

  private passDochan(c: number): void {
    if (this.flagexitasap) return;
    let p = this.pass[c];
    if (!p) {
      if (!this.jobAvail()) return;
      const q = this.pqchan[c] as Prioq;
      const pe = q.min();
      if (!pe || pe.dt > this.recent) return;
      const fn = fmtqfn(chanaddr[c] as string, pe.id, true);
      q.delmin();
      let data: Buffer;
      let info: ReturnType<QmailSend["getinfo"]>;
      try {
        data = readFileSync(fn);
        info = this.getinfo(pe.id);
      } catch {
        info = undefined;
        data = Buffer.alloc(0);
      }
      if (!info) {
        this.log(`warning: trouble opening ${fn}; will try again later\n`);
        q.insert({ id: pe.id, dt: this.recent + SLEEP_SYSFAIL });
        return;
      }
      const j = this.jobOpen(pe.id, c);
      const x = this.jo[j] as Job;
      x.retry = this.nextretry(info.birth, c);
      x.flagdying = this.recent > info.birth + this.lifetime;
      x.sender = info.sender;
      p = { id: pe.id, j, data, pos: 0, mpos: 0 };
      this.pass[c] = p;
    }
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

  private async messdone(id: number): Promise<void> {
    const fail = () => this.pqdone.insert({ id, dt: now() + SLEEP_SYSFAIL });
    for (let c = 0; c < CHANNELS; ++c) {
      const fn = fmtqfn(chanaddr[c] as string, id, true);
      try {
        statSync(fn);
        return; // false alarm
      } catch (e) {
        if (code(e) !== "ENOENT") {
          this.log(`warning: unable to stat ${fn}; will try again later\n`);
          fail();
          return;
        }
      }
    }
    let fn = fmtqfn("todo/", id, false);
    try {
      statSync(fn);
      return;
    } catch (e) {
      if (code(e) !== "ENOENT") {
        this.log(`warning: unable to stat ${fn}; will try again later\n`);
        fail();
        return;
      }
    }
    fn = fmtqfn("info/", id, true);
    try {
      statSync(fn);
    } catch (e) {
      if (code(e) === "ENOENT") return;
      this.log(`warning: unable to stat ${fn}; will try again later\n`);
      fail();
      return;
    }
    if (!(await this.injectbounce(id))) {
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
    const f = this.pqfail.min();
    if (f && f.dt <= this.recent) {
      this.pqfail.delmin();
      this.pqadd(f.id);
    }
    const d = this.pqdone.min();
    if (d && d.dt <= this.recent) {
      this.pqdone.delmin();
      await this.messdone(d.id);
    }
  }

  // ------------------------------------------------------------ todo

  /** trigger_set(): lock/trigger, held open read-write so it never reports EOF; any byte is a pull. */
  private triggerSet(): void {
    if (this.triggerFd >= 0) return;
    try {
      this.triggerFd = openSync("lock/trigger", constants.O_RDWR);
    } catch {
      return;
    }
    const fd = this.triggerFd;
    readFd(
      fd,
      () => {
        this.triggerPulled = true;
        this.notify();
      },
      () => {
        if (this.triggerFd === fd) this.triggerFd = -1;
      },
    );
  }

  private todoWakeup(wakeup: number): number {
    if (this.flagexitasap) return wakeup;
    if (this.tododir) wakeup = 0;
    return Math.min(wakeup, this.nexttodorun);
  }

  private todoDo(): void {
    if (this.flagexitasap) return;
    if (!this.tododir) {
      if (!this.triggerPulled && this.recent < this.nexttodorun) return;
      this.triggerPulled = false;
      this.triggerSet();
      try {
        this.tododir = opendirSync("todo");
      } catch {
        this.pausedir("todo");
        return;
      }
      this.nexttodorun = this.recent + SLEEP_TODO;
    }
    let d: ReturnType<Dir["readSync"]>;
    try {
      d = this.tododir.readSync();
    } catch {
      d = null;
    }
    if (!d) {
      try {
        this.tododir.closeSync();
      } catch {}
      this.tododir = null;
      return;
    }
    if (!/^\d+$/.test(d.name)) return;
    this.todoOne(Number(d.name));
  }

  private todoOne(id: number): void {
    let fn = fmtqfn("todo/", id, false);
    let fd = -1;
    let fdinfo = -1;
    const fdchan = [-1, -1];
    const closeAll = () => {
      for (const f of [fd, fdinfo, ...fdchan]) if (f >= 0) closeSync(f);
    };
    let todo: Buffer;
    try {
      fd = openSync(fn, "r");
    } catch {
      this.log(`warning: unable to open ${fn}\n`);
      return;
    }
    let size: number;
    fn = fmtqfn("mess/", id, true);
    try {
      size = statSync(fn).size;
    } catch {
      this.log(`warning: unable to stat ${fn}\n`);
      closeAll();
      return;
    }
    for (const f of [
      fmtqfn(chanaddr[0] as string, id, true),
      fmtqfn(chanaddr[1] as string, id, true),
      fmtqfn("info/", id, true),
    ]) {
      try {
        unlinkSync(f);
      } catch (e) {
        if (code(e) !== "ENOENT") {
          this.log(`warning: unable to unlink ${f}\n`);
          closeAll();
          return;
        }
      }
    }
    fn = fmtqfn("info/", id, true);
    try {
      fdinfo = openSync(fn, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NONBLOCK, 0o644);
    } catch {
      this.log(`warning: unable to create ${fn}\n`);
      closeAll();
      return;
    }
    this.log(`new msg ${id}\n`);
    try {
      todo = readFileSync(fd);
    } catch {
      this.log(`warning: trouble reading ${fmtqfn("todo/", id, false)}\n`);
      closeAll();
      return;
    }
    const chanData: Buffer[][] = [[], []];
    let uid = 0;
    let pid = 0;
    for (let pos = 0; pos < todo.length; ) {
      const z = todo.indexOf(0, pos);
      if (z < 0) break;
      const rec = todo.subarray(pos, z + 1);
      pos = z + 1;
      const body = rec.subarray(1, rec.length - 1).toString("latin1");
      switch (rec[0]) {
        case 0x75: // u
          uid = Number(/^\d*/.exec(body)?.[0] || 0);
          break;
        case 0x70: // p
          pid = Number(/^\d*/.exec(body)?.[0] || 0);
          break;
        case 0x46: // F
          try {
            writeAll(fdinfo, rec);
          } catch {
            this.log(`warning: trouble writing to ${fmtqfn("info/", id, true)}\n`);
            closeAll();
            return;
          }
          this.log(`info msg ${id}: bytes ${size} from <${logsafe(body)}> qp ${pid} uid ${uid}\n`);
          break;
        case 0x54: {
          // T
          const rw = rewrite(body, {
            envnoathost: this.envnoathost,
            percenthack: this.percenthack,
            locals: this.locals,
            vdoms: this.vdoms,
          });
          const c = rw.channel;
          if (fdchan[c] === -1) {
            const cf = fmtqfn(chanaddr[c] as string, id, true);
            try {
              fdchan[c] = openSync(
                cf,
                constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NONBLOCK,
                0o644,
              );
            } catch {
              this.log(`warning: unable to create ${cf}\n`);
              closeAll();
              return;
            }
          }
          (chanData[c] as Buffer[]).push(Buffer.from(`T${rw.addr}\0`, "latin1"));
          break;
        }
        default:
          this.log(`warning: unknown record type in ${fmtqfn("todo/", id, false)}\n`);
          closeAll();
          return;
      }
    }
    closeSync(fd);
    fd = -1;
    try {
      fsyncSync(fdinfo);
    } catch {
      this.log(`warning: trouble fsyncing ${fmtqfn("info/", id, true)}\n`);
      closeAll();
      return;
    }
    closeSync(fdinfo);
    fdinfo = -1;
    for (let c = 0; c < CHANNELS; ++c) {
      const f = fdchan[c] as number;
      if (f === -1) continue;
      const cf = fmtqfn(chanaddr[c] as string, id, true);
      try {
        writeAll(f, Buffer.concat(chanData[c] as Buffer[]));
      } catch {
        this.log(`warning: trouble writing to ${cf}\n`);
        closeAll();
        return;
      }
      try {
        fsyncSync(f);
      } catch {
        this.log(`warning: trouble fsyncing ${cf}\n`);
        closeAll();
        return;
      }
      closeSync(f);
      fdchan[c] = -1;
    }
    if (!this.clean(fmtqfn("todo/", id, false))) return;
    const t = now();
    let any = false;
    for (let c = 0; c < CHANNELS; ++c)
      if ((chanData[c] as Buffer[]).length) {
        this.pqchan[c]?.insert({ id, dt: t });
        any = true;
      }
    if (!any) this.pqdone.insert({ id, dt: t });
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
      (this.triggerPulled && !this.flagexitasap) ||
      this.flagrunasap ||
      this.flagreadasap ||
      (this.inbox[0] as unknown[]).length > 0 ||
      (this.inbox[1] as unknown[]).length > 0
    );
  }

  /** qmail-send's main() after chdir to the queue; returns the exit code. */
  /** The main loop; ready (a descriptor) hears a newline once the spawners have said their concurrency. */
  async run(ready?: number): Promise<number> {
    // Caught from the start, as qmail-send.c does before taking the mutex.
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
    let fd: number;
    try {
      fd = openSync("lock/sendmutex", constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      this.log("alert: cannot start: unable to open mutex\n");
      return 111;
    }
    try {
      lockExNb(fd);
    } catch {
      this.log("alert: cannot start: qmail-send is already running\n");
      return 111;
    }
    for (let c = 0; c < CHANNELS; ++c) {
      const ch = Buffer.alloc(1);
      let r = 0;
      for (;;) {
        try {
          r = readSync(chanfdin[c] as number, ch, 0, 1, null);
          break;
        } catch (e) {
          if (code(e) === "EINTR" || code(e) === "EAGAIN") continue;
          r = -1;
          break;
        }
      }
      if (r < 1) {
        this.log("alert: cannot start: hath the daemon spawn no fire?\n");
        return 111;
      }
      const u = ch[0] as number;
      if ((this.concurrency[c] as number) > u) this.concurrency[c] = u;
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

    this.pqstart();
    // The trigger is open before the first status line, so a pull right after it is not lost.
    this.triggerSet();
    this.delInit();
    this.nexttodorun = now();
    this.cleanuptime = now();

    while (!this.flagexitasap || !this.delCanexit()) {
      this.recent = now();
      if (this.flagrunasap) {
        this.flagrunasap = false;
        this.pqrun();
      }
      if (this.flagreadasap) {
        this.flagreadasap = false;
        this.reread();
      }
      let wakeup = this.recent + SLEEP_FOREVER;
      wakeup = this.passWakeup(wakeup);
      wakeup = this.todoWakeup(wakeup);
      wakeup = this.cleanupWakeup(wakeup);
      if (!this.hasEvents()) await this.sleep(wakeup <= this.recent ? 0 : wakeup - this.recent + SLEEP_FUZZ);
      else await new Promise<void>((r) => setImmediate(r));
      this.recent = now();
      this.commDo();
      this.delDo();
      this.todoDo();
      await this.passDo();
      this.cleanupDo();
    }
    this.pqfinish();
    this.log("status: exiting\n");
    return 0;
  }
}
