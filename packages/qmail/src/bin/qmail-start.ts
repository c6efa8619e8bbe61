// SPDX-License-Identifier: MIT
import { join } from "node:path";
import { execEnv } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { READY_VAR, takeReadyFd } from "@qts/core/ready";
import type { Env } from "@qts/core/run";
import { dup2 } from "@qts/sys/dup";
import { closeOnExec, pathexec, prepareExec } from "@qts/sys/exec";
import { accessSync, closeSync, constants, existsSync, readdirSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { ThreadIdsLost } from "@qts/sys/threadids";
import { devNull, startChild } from "../lib/child.ts";
import { qmailHome } from "../lib/home.ts";
import { qmailIds } from "../lib/ids.ts";

export const usage = "qmail-start [defaultdelivery [logger arg ...]]";

/** execvp's lookup, falling back to QMAILHOME/bin (the rc scripts put it first in $PATH anyway). */
function which(name: string, env: Env, home: string): string {
  if (name.includes("/")) return name;
  for (const dir of (env.PATH ?? "/bin:/usr/bin").split(":")) {
    const p = `${dir === "" ? "." : dir}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return join(home, "bin", name);
}

/** The lowest fd n such that n..n+count-1 are all free. */
function freeRange(count: number): number {
  const used = new Set(readdirSync("/proc/self/fd").map(Number));
  for (let n = 64; ; n++) {
    let ok = true;
    for (let i = 0; i < count; i++) if (used.has(n + i)) ok = false;
    if (ok) return n;
  }
}

// qmail-start(8): six pipes; qmail-lspawn (root), qmail-rspawn (qmailr), qmail-clean (qmailq), an optional
// logger (qmaill/nofiles) and qmail-queued (qmailq, qmail-queued(8)) as children; qmail-send (qmails) in this process.
export function main(argv: string[], env: Env): number {
  setProg("qmail-start");
  const home = qmailHome(env);
  // Readiness (supervise(8)): qmail-send says it once its helpers are up; the helpers never see it.
  const ready = takeReadyFd(env);
  const root = process.geteuid!() === 0;
  let uidl: number;
  let uidq: number;
  let uidr: number;
  let uids: number;
  let gidn: number;
  let gidq: number;
  try {
    process.chdir("/");
    process.umask(0o077);
    const ids = qmailIds(home);
    uidl = ids.uid.qmaill;
    uidq = ids.uid.qmailq;
    uidr = ids.uid.qmailr;
    uids = ids.uid.qmails;
    gidn = ids.gid.nofiles;
    gidq = ids.gid.qmail;
    // An install for one ordinary user maps every id to that user (lib/ids.ts): nothing to switch then.
    if (!(root === false && process.getgid!() === gidq)) {
      process.setgroups!([gidq]);
      process.setgid!(gidq);
    }
  } catch {
    return EXIT_TEMP;
  }
  const defaultdelivery = argv[0] ?? "./Mailbox";
  const logger = argv.slice(1);
  const envc = execEnv(env);
  // A helper that cannot be run is skipped: in qmail-start.c the child whose exec fails exits by itself
  // and the others start all the same. uid without gid keeps our gid (qmail), as prot_uid alone does.
  const start = (name: string, args: string[], fd0: number, fd1: number, fd2: number, uid?: number, gid?: number) => {
    const fds = [[0, fd0] as const, [1, fd1] as const, [2, fd2] as const];
    try {
      const g = uid === undefined ? gid : (gid ?? process.getgid!());
      startChild({ file: which(name, env, home), argv0: name, args, env: envc, fds, uid, gid: g });
    } catch (e) {
      if (e instanceof ThreadIdsLost) throw e;
    }
  };

  try {
    // The readiness descriptor is qmail-send's alone: not the helpers'.
    if (ready !== undefined)
      try {
        closeOnExec(ready);
      } catch {}
    // The helpers' fds that go nowhere (fd 2 but for qmail-queued, which logs).
    const nul = devNull();
    let logfd = 1;
    if (logger.length) {
      const [r, w] = pipe();
      start(logger[0] as string, logger.slice(1), r, 1, nul, uidl, gidn);
      closeSync(r);
      logfd = w;
    }
    const p = Array.from({ length: 6 }, () => pipe());
    const [p1, p2, p3, p4, p5, p6] = p as [number, number][] as [
      [number, number],
      [number, number],
      [number, number],
      [number, number],
      [number, number],
      [number, number],
    ];
    start("qmail-lspawn", [defaultdelivery], p1[0], p2[1], nul);
    start("qmail-rspawn", [], p3[0], p4[1], nul, uidr);
    start("qmail-clean", [], p5[0], p6[1], nul, uidq);
    // qmail-queued's fd 0 is a pipe whose only writer is qmail-send's fd 7: EOF there means qmail-send is gone.
    const queued = join(home, "bin/qmail-queued");
    let lifeline = -1;
    if (existsSync(queued)) {
      const [r, w] = pipe();
      start(queued, [], r, logfd, logfd, uidq, gidq);
      closeSync(r);
      lifeline = w;
    }
    closeSync(nul);

    if (root || process.getuid!() !== uids) process.setuid!(uids);
    // Bun's own event loop lives on low fds (3, 4): from here on nothing may run but dup2 and execve.
    const src = [logfd, p1[1], p2[0], p3[1], p4[0], p5[1], p6[0]];
    if (lifeline >= 0) src.push(lifeline);
    // The readiness descriptor goes to qmail-send above the ones it reads and writes (0-7).
    const keep: number[] = [];
    if (ready !== undefined) {
      let f = ready;
      if (f < src.length) {
        f = freeRange(1);
        dup2(ready, f);
      }
      keep.push(f);
      (env as Record<string, string>)[READY_VAR] = String(f);
    }
    const hi = freeRange(src.length);
    src.forEach((fd, i) => {
      dup2(fd, hi + i);
      closeOnExec(hi + i);
    });
    src.forEach((_, i) => {
      dup2(hi + i, i);
    });
    prepareExec([...src.map((_, i) => i), ...keep]);
  } catch {
    return EXIT_TEMP;
  }
  pathexec(which("qmail-send", env, home), ["qmail-send"], env);
  return EXIT_TEMP;
}
