// SPDX-License-Identifier: MIT
// qmail-queued: the queue's door for callers that are neither root nor
// qmailq (lib/queued.ts). Started with no arguments as root (it drops to
// qmailq/qmail at once) or as qmailq, beside qmail-clean. Listens on
// <home>/queued/socket; drains <home>/queued/drop at start, every minute and
// on SIGALRM; exits 0 on SIGTERM.
import { die, dieSys, setProg, warn } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { IdsError, qmailIds } from "../lib/ids.ts";
import { Queued } from "../lib/queued.ts";

export const usage = "qmail-queued";

export function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-queued");
  const home = qmailHome(env);
  let ids: ReturnType<typeof qmailIds>;
  try {
    ids = qmailIds(home);
  } catch (e) {
    if (e instanceof IdsError) die(111, "unable to find the qmail ids: ", e.message);
    throw e;
  }
  const euid = process.geteuid?.() ?? -1;
  if (euid === 0) {
    try {
      process.setgroups?.([ids.gid.qmail]);
      process.setgid?.(ids.gid.qmail);
      process.setuid?.(ids.uid.qmailq);
    } catch (e) {
      dieSys(111, e, "unable to switch to qmailq");
    }
  } else if (euid !== ids.uid.qmailq) {
    die(111, "must run as root or qmailq");
  }
  process.umask(0o033);
  const q = new Queued({ home, ids, log: (l) => warn(l.replace(/^warning: /, "")) });
  try {
    q.start();
  } catch (e) {
    dieSys(111, e, `unable to listen on ${home}/queued/socket`);
  }
  process.on("SIGALRM", () => q.drain());
  return new Promise((done) => {
    const stop = () => {
      q.stop();
      done(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}
