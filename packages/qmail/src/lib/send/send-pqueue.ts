// SPDX-License-Identifier: MIT
// qmail-send's priority queues (prioq.c, and the pq* functions of
// qmail-send.c): each channel's messages waiting for their next delivery
// pass, messages whose deliveries are all done, and messages to look at
// again after a failed stat.
import { errnoName } from "@qts/core/errstr";
import { statSync, utimesSync } from "@qts/sys/fs";
import { CHANNELS, chanaddr, fmtqfn, now, queueFileExists } from "./send-files.ts";
import { Entry, ReadSubdir } from "./send-subdirs.ts";

/** qmail-send.c's SLEEP_SYSFAIL: a message whose files could not be looked at is tried again this much later. */
export const SLEEP_SYSFAIL = 123;

/** prioq.h's prioq_elt: a message and when it is due. */
export interface PqElt {
  id: number;
  dt: number;
}

/** prioq.c: a binary min-heap on dt. */
export class Prioq {
  p: PqElt[] = [];
  /** prioq_insert(). */
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
  /** prioq_min(). */
  min(): PqElt | undefined {
    return this.p[0];
  }
  /** prioq_delmin(). */
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

/** qmail-send.c's pqdone, pqchan[] and pqfail, with pqadd(), pqstart(), pqfinish() and pqrun(). */
export class PrioQueues {
  /** pqdone: messages whose deliveries are over, for messdone(). */
  readonly done = new Prioq();
  /** pqchan[c]: messages with recipients left on channel c, due at their next retry. */
  readonly chan: readonly Prioq[] = [new Prioq(), new Prioq()];
  /** pqfail: messages to pqadd() again after a failed stat. */
  readonly fail = new Prioq();

  constructor(private readonly log: (s: string) => void) {}

  /** pqadd(): a message found in info/ goes on the queues its channel files say, its retry time their mtime. */
  add(id: number): void {
    const fn = this.addOrFail(id);
    if (fn === undefined) return;
    this.log(`warning: unable to stat ${fn}; will try again later\n`);
    this.fail.insert({ id, dt: now() + SLEEP_SYSFAIL });
  }

  /** pqadd()'s work; the file it could not stat, if any. */
  private addOrFail(id: number): string | undefined {
    const info = fmtqfn("info/", id, true);
    const hasInfo = queueFileExists(info);
    if (hasInfo !== true) return hasInfo === false ? undefined : info;
    const todo = fmtqfn("todo/", id, false);
    const hasTodo = queueFileExists(todo);
    // qmail-send crashed while writing info: the todo scan does it again.
    if (hasTodo === true) return undefined;
    if (hasTodo === undefined) return todo;
    return this.addChannels(id);
  }

  /** pqadd()'s channel files: each one there puts the message on its channel's queue; none, on pqdone. */
  private addChannels(id: number): string | undefined {
    const pe: (PqElt | undefined)[] = [];
    for (let c = 0; c < CHANNELS; ++c) {
      const fn = fmtqfn(chanaddr[c] as string, id, true);
      try {
        const st = statSync(fn);
        pe[c] = { id, dt: Math.floor(st.mtimeMs / 1000) };
      } catch (e) {
        if (errnoName(e) !== "ENOENT") return fn;
      }
    }
    for (let c = 0; c < CHANNELS; ++c) if (pe[c]) this.chan[c]?.insert(pe[c] as PqElt);
    if (!pe[0] && !pe[1]) this.done.insert({ id, dt: now() });
    return undefined;
  }

  /** pqstart(): every message in info/ at start-up. */
  start(pausedir: (d: string) => void): void {
    const rs = new ReadSubdir("info", pausedir);
    for (;;) {
      const r = rs.next();
      if (r === Entry.END) break;
      if (r === Entry.ID) this.add(rs.id);
    }
  }

  /** pqfinish(): on exit, each pending retry time becomes the channel file's mtime. */
  finish(): void {
    for (let c = 0; c < CHANNELS; ++c) {
      const q = this.chan[c] as Prioq;
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

  /** pqrun(): SIGALRM makes every waiting message due now. */
  run(recent: number): void {
    for (const q of this.chan) for (const e of q.p) e.dt = recent;
  }
}
