// SPDX-License-Identifier: MIT
// qmail-queue: the message on fd 0, the envelope on fd 1, the result in the
// exit code (spec/qmail.md §2.2-2.4); no diagnostics. Root and qmailq write
// the queue themselves, anyone else goes through qmail-queued.
import { read } from "node:fs";
import { setProg } from "@qts/core/die";
import { QQ } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { setBlocking } from "@qts/sys/exec";
import { qmailHome } from "../lib/home.ts";
import { DEATH_MS } from "../lib/queue.ts";
import { type Injection, openQueue } from "../lib/queued-client.ts";

export const usage = "qmail-queue";

const BUF = 65536;

/** One read of fd; 0 at EOF; throws on a read error. */
function readSome(fd: number, buf: Buffer): Promise<number> {
  return new Promise((ok, fail) => {
    const go = (retry: boolean) =>
      read(fd, buf, 0, buf.length, null, (err, n) => {
        if (!err) return ok(n);
        // An inherited non-blocking pipe: make it blocking once and read again.
        if (retry && (err as NodeJS.ErrnoException).code === "EAGAIN") {
          try {
            setBlocking(fd, true);
            return go(false);
          } catch {}
        }
        fail(err);
      });
    go(true);
  });
}

/** Copies fd 0 into the queue, then fd 1's envelope; the qmail-queue exit code. */
export async function inject(q: Injection): Promise<number> {
  const buf = Buffer.allocUnsafe(BUF);
  for (;;) {
    let n: number;
    try {
      n = await readSome(0, buf);
    } catch {
      return q.abort(QQ.READ);
    }
    if (n === 0) break;
    const r = await q.put(buf.subarray(0, n));
    if (r >= 0) return r;
  }
  let r = await q.messageEnd();
  if (r >= 0) return r;
  for (;;) {
    let n: number;
    try {
      n = await readSome(1, buf);
    } catch {
      return q.abort(QQ.READ);
    }
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
    return await Promise.race([inject(q), death]);
  } finally {
    clearTimeout(timer);
  }
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-queue");
  process.umask(0o033);
  process.on("SIGPIPE", () => {});
  const q = await openQueue(qmailHome(env));
  if (typeof q === "number") return q;
  return await injectWithDeath(q, DEATH_MS);
}
