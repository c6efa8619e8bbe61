// SPDX-License-Identifier: MIT
// qmail-send's todo processing (qmail-send.c's trigger_set(), todo_do() and
// todo_updatetimeout()): a new message's todo/N, as qmail-queue wrote it, is
// split into info/N (the sender) and local/N and remote/N (each channel's
// rewritten recipients), all fsynced before qmail-clean removes todo/N and
// the message joins the queues. Strings hold bytes as latin1.
import { writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, unlinkSync } from "@qts/sys/fs";
import { readFd } from "../spawn/spawn.ts";
import { CHANNELS, chanaddr, fmtqfn, now } from "./send-files.ts";
import type { PrioQueues } from "./send-pqueue.ts";
import { type RewriteConf, rewrite } from "./send-rewrite.ts";
import { Entry, NumberedDir } from "./send-subdirs.ts";

/** qmail-send.c's SLEEP_TODO: todo/ is scanned this often even when nobody pulls the trigger. */
const SLEEP_TODO = 1500;

/** What todo processing needs from qmail-send. */
export interface TodoHost {
  readonly ctl: RewriteConf;
  readonly pq: PrioQueues;
  log(s: string): void;
  pausedir(dir: string): void;
  /** A byte came through lock/trigger. */
  notify(): void;
  /** One request to qmail-clean; true when it cleaned up. */
  clean(fn: string): boolean;
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

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NONBLOCK;

/** The decimal number at the start of a u or p record, as scan_ulong reads it. */
function leadingNumber(s: string): number {
  return Number(/^\d*/.exec(s)?.[0] || 0);
}

/** The todo/ scan and the trigger that starts one early. */
export class Todo {
  private readonly dir = new NumberedDir();
  /** nexttodorun: the next scan's time. */
  nextrun = 0;
  private triggerFd = -1;
  /** A byte came through lock/trigger since the last scan began. */
  pulled = false;

  constructor(private readonly host: TodoHost) {}

  /** trigger_set(): lock/trigger, held open read-write so it never reports EOF; any byte is a pull. */
  triggerSet(): void {
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
        this.pulled = true;
        this.host.notify();
      },
      () => {
        if (this.triggerFd === fd) this.triggerFd = -1;
      },
    );
  }

  /** todo_updatetimeout(): at once while a scan is going, else at the next scan's time. */
  wakeup(wakeup: number): number {
    if (this.dir.isOpen) wakeup = 0;
    return Math.min(wakeup, this.nextrun);
  }

  /** todo_do(): one entry of todo/ per call; a scan starts when the trigger was pulled or its time has come. */
  step(recent: number): void {
    if (!this.dir.isOpen) {
      if (!this.pulled && recent < this.nextrun) return;
      this.pulled = false;
      this.triggerSet();
      if (!this.dir.open("todo")) {
        this.host.pausedir("todo");
        return;
      }
      this.nextrun = recent + SLEEP_TODO;
    }
    if (this.dir.next() === Entry.ID) this.one(this.dir.id);
  }

  /** todo_do() for todo/N: on any trouble it logs a warning and leaves todo/N for the next scan. */
  private one(id: number): void {
    const m = new TodoMessage(id, this.host);
    const chans = m.split();
    m.closeAll();
    if (!chans) return;
    const host = this.host;
    if (!host.clean(fmtqfn("todo/", id, false))) return;
    const t = now();
    let any = false;
    for (let c = 0; c < CHANNELS; ++c)
      if (chans[c]) {
        host.pq.chan[c]?.insert({ id, dt: t });
        any = true;
      }
    if (!any) host.pq.done.insert({ id, dt: t });
  }
}

/** One todo/N being split into info/N and the channel files, with the descriptors todo_do() holds. */
class TodoMessage {
  private fd = -1;
  private fdinfo = -1;
  private readonly fdchan = [-1, -1];
  /** Each channel's T records. */
  private readonly chanData: Buffer[][] = [[], []];
  private size = 0;
  private uid = 0;
  private pid = 0;

  constructor(
    private readonly id: number,
    private readonly host: TodoHost,
  ) {}

  private warn(s: string): false {
    this.host.log(`warning: ${s}\n`);
    return false;
  }

  private giveUp(s: string): undefined {
    this.warn(s);
    return undefined;
  }

  closeAll(): void {
    for (const f of [this.fd, this.fdinfo, ...this.fdchan]) if (f >= 0) closeSync(f);
  }

  /** The whole split; which channels got recipients, or undefined after a warning. */
  split(): boolean[] | undefined {
    const id = this.id;
    const todo = this.start();
    if (!todo) return undefined;
    for (let pos = 0; pos < todo.length; ) {
      const z = todo.indexOf(0, pos);
      if (z < 0) break;
      if (!this.record(todo.subarray(pos, z + 1))) return undefined;
      pos = z + 1;
    }
    closeSync(this.fd);
    this.fd = -1;
    try {
      fsyncSync(this.fdinfo);
    } catch {
      return this.giveUp(`trouble fsyncing ${fmtqfn("info/", id, true)}`);
    }
    closeSync(this.fdinfo);
    this.fdinfo = -1;
    for (let c = 0; c < CHANNELS; ++c) if (!this.writeChannel(c)) return undefined;
    return this.chanData.map((d) => d.length > 0);
  }

  /** todo/N opened, the message's size taken, stale info and channel files removed, info/N created, todo/N read. */
  private start(): Buffer | undefined {
    const id = this.id;
    const todofn = fmtqfn("todo/", id, false);
    try {
      this.fd = openSync(todofn, "r");
    } catch {
      return this.giveUp(`unable to open ${todofn}`);
    }
    const messfn = fmtqfn("mess/", id, true);
    try {
      this.size = statSync(messfn).size;
    } catch {
      return this.giveUp(`unable to stat ${messfn}`);
    }
    const info = fmtqfn("info/", id, true);
    for (const f of [fmtqfn(chanaddr[0], id, true), fmtqfn(chanaddr[1], id, true), info]) {
      try {
        unlinkSync(f);
      } catch (e) {
        if (errnoName(e) !== "ENOENT") return this.giveUp(`unable to unlink ${f}`);
      }
    }
    try {
      this.fdinfo = openSync(info, CREATE, 0o644);
    } catch {
      return this.giveUp(`unable to create ${info}`);
    }
    this.host.log(`new msg ${id}\n`);
    try {
      return readFileSync(this.fd);
    } catch {
      return this.giveUp(`trouble reading ${todofn}`);
    }
  }

  /** One record of todo/N, with its NUL: u (uid), p (pid), F (sender, into info/N), T (a recipient). */
  private record(rec: Buffer): boolean {
    const body = rec.subarray(1, rec.length - 1).toString("latin1");
    switch (rec[0]) {
      case 0x75: // u
        this.uid = leadingNumber(body);
        return true;
      case 0x70: // p
        this.pid = leadingNumber(body);
        return true;
      case 0x46: // F
        try {
          writeAll(this.fdinfo, rec);
        } catch {
          return this.warn(`trouble writing to ${fmtqfn("info/", this.id, true)}`);
        }
        this.host.log(
          `info msg ${this.id}: bytes ${this.size} from <${logsafe(body)}> qp ${this.pid} uid ${this.uid}\n`,
        );
        return true;
      case 0x54: // T
        return this.recipient(body);
      default:
        return this.warn(`unknown record type in ${fmtqfn("todo/", this.id, false)}`);
    }
  }

  /** A T record rewritten (send-rewrite.ts) onto its channel; the channel's file is created with its first. */
  private recipient(addr: string): boolean {
    const rw = rewrite(addr, this.host.ctl);
    const c = rw.channel;
    if (this.fdchan[c] === -1) {
      const cf = fmtqfn(chanaddr[c] as string, this.id, true);
      try {
        this.fdchan[c] = openSync(cf, CREATE, 0o644);
      } catch {
        return this.warn(`unable to create ${cf}`);
      }
    }
    (this.chanData[c] as Buffer[]).push(Buffer.from(`T${rw.addr}\0`, "latin1"));
    return true;
  }

  /** A channel's records written and fsynced, if it has any. */
  private writeChannel(c: number): boolean {
    const f = this.fdchan[c] as number;
    if (f === -1) return true;
    const cf = fmtqfn(chanaddr[c] as string, this.id, true);
    try {
      writeAll(f, Buffer.concat(this.chanData[c] as Buffer[]));
    } catch {
      return this.warn(`trouble writing to ${cf}`);
    }
    try {
      fsyncSync(f);
    } catch {
      return this.warn(`trouble fsyncing ${cf}`);
    }
    closeSync(f);
    this.fdchan[c] = -1;
    return true;
  }
}
