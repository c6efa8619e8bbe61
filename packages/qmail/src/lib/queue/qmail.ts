// SPDX-License-Identifier: MIT
// qmail_open/put/from/to/close (qmail.c): hands one message to qmail-queue,
// or to $QMAILQUEUE as netqmail does, with the message on the child's fd 0
// and the envelope on its fd 1 (qmail-queue(8)).
import { execEnv } from "@qts/core/bytes";
import { isAbsolute, join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { closeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { outcome, startChild, waitChild, writeFully } from "../child.ts";
import { qmailHome } from "../home.ts";
import { Packed } from "./packed.ts";
import { qqExitText } from "./qq.ts";
import { type Injection, openQueue } from "./queued-client.ts";

export interface QueueResult {
  /** qmail-queue's exit code (or -1 if it crashed). */
  code: number;
  /** qqExitText: "" on success, else a D/Z text such as "Zqq write error or disk full (#4.3.0)". */
  text: string;
  /** The message's qp (lib/queue/qp.ts; $QMAILQUEUE's pid): smtpd's reply and qmail-send's logs show it. */
  pid: number;
}

/**
 * qmail_open .. qmail_close. With $QMAILQUEUE set it runs that program as
 * netqmail does; otherwise it queues in-process (lib/queue/queued-client.ts): root
 * and qmailq write the queue directly, anyone else through qmail-queued (or
 * its drop directory), so no qmail-queue process is spawned per message.
 */
export class QmailQueue {
  readonly pid: number;
  private impl: SpawnQueue | InProcessQueue;

  constructor(opts: { home?: string; env?: Env } = {}) {
    const env = opts.env ?? process.env;
    const home = opts.home ?? qmailHome(env);
    this.impl = env.QMAILQUEUE ? new SpawnQueue(home, env) : new InProcessQueue(home);
    this.pid = this.impl.pid;
  }

  /** Appends message bytes; resolves when more can be taken (backpressure). */
  put(data: Uint8Array | string): Promise<void> {
    return this.impl.put(data);
  }

  from(sender: string): void {
    this.impl.envelope.from = sender;
  }

  /** One recipient; throws NoMem past the envelope's budget (lib/queue/packed.ts). */
  to(recipient: string): void {
    this.impl.envelope.list.push("T", recipient);
  }

  /** All recipients at once, as "T" records already packed (qmail-smtpd's list): no copy. */
  recipients(list: Packed): void {
    this.impl.envelope.list = list;
  }

  /** Ends the message, sends the envelope, waits for the queue's verdict. */
  close(): Promise<QueueResult> {
    return this.impl.close();
  }

  /** The message will not be completed: remove what was written (qmail-queue's die_read on its client's EOF). */
  abort(): void {
    this.impl.abort();
  }
}

/** The envelope as qmail_from/qmail_to build it: F sender, T records, a final NUL. */
class Envelope {
  from: string | undefined;
  private packed: Packed | undefined;

  get list(): Packed {
    this.packed ??= new Packed();
    return this.packed;
  }

  set list(p: Packed) {
    this.packed = p;
  }

  /** The bytes in order, undefined without a sender (qmail_fail: no envelope at all). */
  parts(): Uint8Array[] | undefined {
    if (this.from === undefined) return undefined;
    return [Buffer.from(`F${this.from}\0`, "latin1"), ...(this.packed?.parts() ?? []), Buffer.of(0)];
  }
}

function result(code: number, pid: number): QueueResult {
  return { code, text: code === -1 ? qqExitText("crash") : qqExitText(code), pid };
}

/** The in-process qmail-queue: same codes, same files, no child. */
class InProcessQueue {
  /** Until the queue is open; then the injection's qp. */
  pid = process.pid;
  readonly envelope = new Envelope();
  private q: Promise<Injection | number>;
  private code = -1;
  private opened: Injection | undefined;

  constructor(home: string) {
    this.q = openQueue(home);
    // The verdict is read in put/close; a rejection here must not go unhandled meanwhile.
    this.q.catch(() => {});
  }

  private async inj(): Promise<Injection | undefined> {
    if (this.code >= 0) return undefined;
    let q: Injection | number;
    try {
      q = await this.q;
    } catch {
      this.code = 81;
      return undefined;
    }
    if (typeof q === "number") {
      this.code = q;
      return undefined;
    }
    this.opened = q;
    return q;
  }

  async put(data: Uint8Array | string): Promise<void> {
    const q = await this.inj();
    if (!q) return;
    const r = await q.put(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    if (r >= 0) this.code = r;
  }

  async close(): Promise<QueueResult> {
    const q = await this.inj();
    if (q) {
      let r = await q.messageEnd();
      // qmail_fail(): no envelope at all, so the queue reads EOF (54) and removes the message.
      const parts = this.envelope.parts();
      for (const p of r < 0 && parts ? parts : []) {
        r = await q.envelope(p);
        if (r >= 0) break;
      }
      if (r < 0) r = await q.envelopeEnd();
      this.code = r;
      this.pid = q.pid;
    }
    return result(this.code, this.pid);
  }

  abort(): void {
    if (this.code < 0 && this.opened) this.code = this.opened.abort(54);
    else this.q.then((q) => typeof q !== "number" && q.abort(54)).catch(() => {});
    if (this.code < 0) this.code = 54;
  }
}

/**
 * qmail_open's fork+exec of $QMAILQUEUE: message on the child's fd 0, envelope on its fd 1.
 * Writes block while the program is behind, as qmail.c's substdio does.
 */
class SpawnQueue {
  readonly pid: number;
  readonly envelope = new Envelope();
  /** Our ends of the message and envelope pipes (-1: closed). */
  private msgW = -1;
  private envW = -1;
  private writeError = false;
  private exited: Promise<number> | undefined;

  constructor(home: string, env: Env) {
    // qmail_open chdirs to the home and execv()s: a relative $QMAILQUEUE is relative to the home, never a PATH search.
    let prog = env.QMAILQUEUE || "bin/qmail-queue";
    if (!isAbsolute(prog)) prog = join(home, prog);
    let pid = 0;
    try {
      const [msgR, msgW] = pipe();
      const [envR, envW] = pipe();
      this.msgW = msgW;
      this.envW = envW;
      try {
        pid = startChild({
          file: prog,
          args: [],
          cwd: home,
          env: execEnv(env),
          fds: [
            [0, msgR],
            [1, envR],
          ],
        });
      } finally {
        closeSync(msgR);
        closeSync(envR);
      }
    } catch {
      // exec failure is qmail_open's 120 ("Zunable to exec qq").
      this.closePipes();
      this.exited = Promise.resolve(120);
    }
    this.pid = pid;
  }

  /** Appends message bytes. */
  async put(data: Uint8Array | string): Promise<void> {
    if (this.msgW < 0 || this.writeError) return;
    try {
      writeFully(this.msgW, typeof data === "string" ? Buffer.from(data) : data);
    } catch {
      this.writeError = true;
    }
  }

  /** Ends the message, sends the envelope, waits for qmail-queue. */
  async close(): Promise<QueueResult> {
    if (this.envW >= 0) {
      closeFd(this.msgW);
      this.msgW = -1;
      try {
        for (const b of this.envelope.parts() ?? []) writeFully(this.envW, b);
      } catch {
        this.writeError = true;
      }
    }
    const code = await this.end();
    // A failed write to either pipe is qmail_close's 54 even when qq exited 0.
    const eff = code === 0 && this.writeError ? 54 : code;
    return result(eff, this.pid);
  }

  /** Our side of both pipes closes: qmail-queue reads EOF and removes its files (qmail-queue.c die_read). */
  abort(): void {
    if (this.pid) void this.end();
    else this.closePipes();
  }

  private closePipes(): void {
    closeFd(this.msgW);
    closeFd(this.envW);
    this.msgW = -1;
    this.envW = -1;
  }

  /** Closes our pipes and reaps the child: its exit code, -1 when it crashed. */
  private end(): Promise<number> {
    this.closePipes();
    this.exited ??= waitChild(this.pid).then((st) => {
      const o = outcome(st);
      return o.crashed ? -1 : o.code;
    });
    return this.exited;
  }
}

function closeFd(fd: number): void {
  if (fd >= 0)
    try {
      closeSync(fd);
    } catch {}
}
