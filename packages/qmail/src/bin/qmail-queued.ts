// SPDX-License-Identifier: MIT
// qmail-queued: the queue's door for callers that are neither root nor
// qmailq (lib/queue/queued.ts). Started with no arguments as root (it drops to
// qmailq/qmail at once) or as qmailq, beside qmail-clean. Listens on
// <home>/queued/socket; drains <home>/queued/drop at start, every minute and
// on SIGALRM; exits 0 on SIGTERM, or at EOF on fd 0 when fd 0 is a pipe
// (qmail-start's lifeline from qmail-send). Warnings go to fd 2.
import { die, dieSys, dieUnable, setProg, sigpipeIgnore, warn } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { fstatSync } from "@qts/sys/fs";
import { readFd } from "../lib/child.ts";
import { qmailHome } from "../lib/home.ts";
import { IdsError, qmailIds } from "../lib/ids.ts";
import { LockError, Queued } from "../lib/queue/queued.ts";

export const usage = "qmail-queued";

export function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-queued");
  sigpipeIgnore();
  const home = qmailHome(env);
  let ids: ReturnType<typeof qmailIds>;
  try {
    ids = qmailIds(home);
  } catch (e) {
    if (e instanceof IdsError) dieUnable(111, `find the qmail ids: ${e.message}`);
    throw e;
  }
  const euid = process.geteuid?.() ?? -1;
  if (euid === 0) {
    try {
      process.setgroups?.([ids.gid.qmail]);
      process.setgid?.(ids.gid.qmail);
      process.setuid?.(ids.uid.qmailq);
    } catch (e) {
      dieUnable(111, "switch to qmailq", e);
    }
  } else if (euid !== ids.uid.qmailq) {
    die(111, "must run as root or qmailq");
  }
  process.umask(0o033);
  const q = new Queued({ home, ids, log: (l) => warn(l.replace(/^warning: /, "")) });
  // Handlers first: whoever sees the socket may signal us at once.
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((ok) => {
    done = ok;
  });
  let started = false;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (started) q.stop();
    done(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGALRM", () => {
    if (started && !stopping) void q.drain();
  });
  // Under qmail-start, fd 0 is a pipe whose only writer is qmail-send: EOF there means
  // qmail-send is gone, and qmail-queued goes too, as qmail-clean does.
  let pipe0 = false;
  try {
    const st = fstatSync(0);
    pipe0 = st.isFIFO() || st.isSocket();
  } catch {}
  // Bun's reader of the pipe (lib/child.ts), not process.stdin: that would load node:stream's
  // machinery, half a megabyte of heap for a daemon at rest. qmail-send writes nothing: its end counts.
  if (pipe0) readFd(0, () => {}, stop, true);
  if (stopping) return finished;
  try {
    q.start();
    started = true;
  } catch (e) {
    if (e instanceof LockError) dieSys(111, e.cause, e.message);
    dieUnable(111, `listen on ${home}/queued/socket`, e);
  }
  return finished;
}
