// SPDX-License-Identifier: MIT
// qmail-getpw -W: a long-lived qmail-getpw answering qmail-lspawn's user
// lookups (qmail-lspawn(8), "Delivery workers"; qmail-getpw(8)). With the
// delivery workers on, the lookup is the last process started per delivery
// to a user without a users/cdb entry: netqmail's qmail-lspawn.c nughde_get()
// forks and execs qmail-getpw for each one. The worker runs with the ids
// qmail-getpw always has (qmailp, nofiles), so the lookup is still done by
// the uid qmail gives it, and keeps nothing between lookups: each one asks
// the passwd database and stats the home directory afresh, as a new
// qmail-getpw would.
//
//   request  u32 length (little-endian), then the local part's bytes
//            length 0 (or end of file) asks the worker to exit
//   reply    u32 length, then one byte: qmail-getpw's exit code, then on 0
//            its output (the six NUL-terminated fields)
//
// The socket is fd 3. A qmail-getpw whose fd 3 is not a socket treats -W as
// the local part it is, so its command line stays netqmail's.
import { writeAll } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { closeOnExec } from "@qts/sys/exec";
import { fstatSync, readSync } from "@qts/sys/fs";
import { readFd, startWorker, waitChild } from "../child.ts";
import { formatUser, getpwLookup } from "./getpw.ts";
import { UsersError } from "./users.ts";

/** The longest local part a request may carry. */
export const MAX_LOCAL = 65536;

/** The fd a worker is handed its socket on. */
export const WORKER_FD = 3;

function frame(body: Buffer): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32LE(body.length, 0);
  body.copy(b, 4);
  return b;
}

/** True when fd is an open socket: qmail-getpw is then a worker. */
export function isWorkerSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

/** Reads exactly buf.length bytes from fd; false at end of file. */
function readFull(fd: number, buf: Buffer): boolean {
  for (let have = 0; have < buf.length; ) {
    const r = readSync(fd, buf, have, buf.length - have, null);
    if (r === 0) return false;
    have += r;
  }
  return true;
}

/** One lookup's reply body: qmail-getpw's exit code, then its output on success. */
export function lookupReply(local: string): Buffer {
  try {
    return Buffer.concat([Buffer.from([0]), formatUser(getpwLookup(local))]);
  } catch (e) {
    if (e instanceof UsersError) return Buffer.from([e.qlx & 0xff]);
    throw e;
  }
}

/** Serves lookups on sock until asked to stop or the peer goes; the exit code (111 on a bad request). */
export function serveLookups(sock: number): number {
  closeOnExec(sock);
  const head = Buffer.alloc(4);
  for (;;) {
    if (!readFull(sock, head)) return 0;
    const len = head.readUInt32LE(0);
    if (len === 0) return 0;
    if (len > MAX_LOCAL) return EXIT_TEMP;
    const local = Buffer.alloc(len);
    if (!readFull(sock, local)) return EXIT_TEMP;
    writeAll(sock, frame(lookupReply(local.toString("latin1"))));
  }
}

interface Running {
  pid: number;
  sock: number;
  /** Bytes of replies not yet complete. */
  got: Buffer;
  /** The lookups sent, answered in order. */
  waiting: ((r: Buffer | number | undefined) => void)[];
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * qmail-lspawn's side: one worker, started on the first lookup with qmail-getpw's ids and told
 * to exit after idleMs without one. lookup() resolves like a qmail-getpw of its own would end
 * (its output, or its exit code), or undefined when the worker could not be started or went away
 * before answering: the caller then runs a qmail-getpw of its own (a lookup has no side effect).
 */
export class GetpwWorker {
  private w?: Running;

  constructor(
    private readonly file: string,
    private readonly cwd: string,
    private readonly env: Buffer[],
    private readonly uid: number,
    private readonly gid: number,
    private readonly idleMs: number,
  ) {}

  private start(): Running {
    const { pid, sock: mine } = startWorker(
      {
        file: this.file,
        argv0: "bin/qmail-getpw",
        args: ["-W"],
        cwd: this.cwd,
        uid: this.uid,
        gid: this.gid,
        env: this.env,
      },
      WORKER_FD,
    );
    const w: Running = { pid, sock: mine, got: Buffer.alloc(0), waiting: [] };
    readFd(
      mine,
      (d) => this.received(w, d),
      () => {
        if (this.w === w) this.stop(w, false);
        for (const done of w.waiting.splice(0)) done(undefined);
        waitChild(w.pid).catch(() => {});
      },
    );
    return w;
  }

  private received(w: Running, d: Buffer): void {
    w.got = w.got.length ? Buffer.concat([w.got, d]) : d;
    while (w.got.length >= 4) {
      const len = w.got.readUInt32LE(0);
      if (w.got.length < 4 + len) return;
      const body = w.got.subarray(4, 4 + len);
      w.got = w.got.subarray(4 + len);
      const code = len ? (body[0] as number) : EXIT_TEMP;
      w.waiting.shift()?.(code === 0 ? Buffer.from(body.subarray(1)) : code);
    }
    if (!w.waiting.length) this.idle(w);
  }

  private idle(w: Running): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      if (this.w === w && !w.waiting.length) this.stop(w, true);
    }, this.idleMs);
    w.timer.unref?.();
  }

  /** Forgets w; with quit, asks it to exit (it is reaped when its socket ends). */
  private stop(w: Running, quit: boolean): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (this.w === w) this.w = undefined;
    if (quit)
      try {
        writeAll(w.sock, Buffer.alloc(4));
      } catch {}
  }

  lookup(local: Buffer): Promise<Buffer | number | undefined> {
    if (local.length > MAX_LOCAL) return Promise.resolve(undefined);
    let w = this.w;
    if (!w) {
      try {
        w = this.start();
      } catch {
        return Promise.resolve(undefined);
      }
      this.w = w;
    }
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    const running = w;
    return new Promise((resolve) => {
      running.waiting.push(resolve);
      try {
        writeAll(running.sock, frame(local));
      } catch {
        running.waiting.pop();
        this.stop(running, false);
        resolve(undefined);
      }
    });
  }
}
