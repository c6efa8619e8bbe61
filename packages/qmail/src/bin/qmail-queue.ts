// SPDX-License-Identifier: MIT
// qmail-queue: the message on fd 0, the envelope on fd 1, the result in the
// exit code (qmail-queue(8)); no diagnostics. Root and qmailq write
// the queue themselves, anyone else goes through qmail-queued.
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { setBlocking } from "@qts/sys/exec";
import { readSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { qmailHome } from "../lib/home.ts";
import { QQ } from "../lib/queue/qq.ts";
import { DEATH_MS } from "../lib/queue/queue.ts";
import { type Injection, openQueue } from "../lib/queue/queued-client.ts";

export const usage = "qmail-queue";

const BUF = 65536;

class Death extends Error {}

/**
 * One read of fd; 0 at EOF; throws on a read error, Death past the deadline.
 * Synchronous with poll(2) for the deadline: an async fs.read would start a
 * thread pool, which costs more than the rest of qmail-queue's work. A poll
 * cut short by a signal, or a second without input, gives the event loop a
 * turn, so a signal's handler runs (queue.ts cleanupOnDeath removes the
 * unfinished message).
 */
async function readSome(fd: number, buf: Buffer, deadline: number): Promise<number> {
  for (let retry = true; ; ) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Death();
    // at most a second per poll: a signal that came between two polls is handled at the next turn
    if (!waitReadable(fd, Math.min(left, 1000))) {
      await new Promise((ok) => setImmediate(ok));
      continue;
    }
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      // An inherited non-blocking pipe: make it blocking once and read again.
      if (retry && errnoName(e) === "EAGAIN") {
        retry = false;
        setBlocking(fd, true);
        continue;
      }
      throw e;
    }
  }
}

/** Copies fd 0 into the queue, then fd 1's envelope; the qmail-queue exit code. */
export async function inject(q: Injection, deadline = Number.POSITIVE_INFINITY): Promise<number> {
  const buf = Buffer.allocUnsafe(BUF);
  const get = async (fd: number): Promise<number | undefined> => {
    try {
      return await readSome(fd, buf, deadline);
    } catch (e) {
      if (e instanceof Death) throw e;
      return undefined;
    }
  };
  for (;;) {
    const n = await get(0);
    if (n === undefined) return q.abort(QQ.READ);
    if (n === 0) break;
    const r = await q.put(buf.subarray(0, n));
    if (r >= 0) return r;
  }
  let r = await q.messageEnd();
  if (r >= 0) return r;
  for (;;) {
    const n = await get(1);
    if (n === undefined) return q.abort(QQ.READ);
    if (n === 0) return await q.envelopeEnd();
    r = await q.envelope(buf.subarray(0, n));
    if (r >= 0) return r;
  }
}

/** inject() bounded by qmail-queue's DEATH: 52 when it runs out, files left for qmail-send's cleanup. */
export async function injectWithDeath(q: Injection, deathMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const death = new Promise<number>((ok) => {
    timer = setTimeout(() => ok(q.abort(QQ.TIMEOUT)), deathMs);
  });
  try {
    return await Promise.race([inject(q, Date.now() + deathMs), death]);
  } catch (e) {
    if (e instanceof Death) return q.abort(QQ.TIMEOUT);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-queue");
  sigpipeIgnore();
  process.umask(0o033);
  process.on("SIGPIPE", () => {});
  const q = await openQueue(qmailHome(env));
  if (typeof q === "number") return q;
  return await injectWithDeath(q, DEATH_MS);
}
