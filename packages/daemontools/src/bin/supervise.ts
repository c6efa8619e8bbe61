// SPDX-License-Identifier: MIT
import { closeSync, constants, mkdirSync, openSync, readlinkSync, statSync } from "node:fs";
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { dieSys, dieUsage, errWrite, setProg, warn, warnSys } from "@qts/core/die";
import { errnoName, errorStr } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/fchdir";
import { mkfifo } from "@qts/sys/fifo";
import { lockExNb } from "@qts/sys/flock";
import { pipe } from "@qts/sys/pipe";
import { setProcName } from "@qts/sys/procname";
import { now, type Tain } from "@qts/tai64/tai64";
import { keepInheritedFds, onSigchld, reapChild, startChild } from "../lib/child.ts";
import { ControlQueue } from "../lib/control.ts";
import { makeEventDir, notificationFd, sendEvent, writeReady } from "../lib/readiness.ts";
import { encodeStatus, writeStatus } from "../lib/status.ts";

export const usage = "supervise dir";

const SIGNALS: Record<string, NodeJS.Signals> = { a: "SIGALRM", h: "SIGHUP", k: "SIGKILL", t: "SIGTERM", i: "SIGINT" };

// supervise(8): start ./run, restart it when it dies, obey supervise/control.
export async function main(argv: string[], _env: Env): Promise<number> {
  setProg("supervise");
  try {
    setProcName("supervise");
  } catch {}
  const dir = argv[0];
  if (dir === undefined || argv.length > 1) dieUsage(usage);
  keepInheritedFds();

  let pid = 0;
  let flagwant = true;
  let flagwantup = true;
  let flagpaused = false;
  let flagexit = false;
  let when: Tain = now();
  // A child that could not even be stood in for: its "death" is still due.
  let phantomDeath = false;
  let pending = false;
  let wake: (() => void) | undefined;
  const trigger = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  onSigchld(() => {
    pending = true;
    trigger();
  });

  try {
    // The directory's own bytes (core/bytes.ts): svscan hands on a service name as it is.
    chdirBytes(bytesOf(rawArgs(argv)[0] as string));
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to chdir to ", dir);
  }
  try {
    statSync("down");
    flagwantup = false;
  } catch (e) {
    if (errnoName(e) !== "ENOENT") dieSys(EXIT_TEMP, e, "unable to stat ", dir, "/down");
  }
  try {
    mkdirSync("supervise", 0o700);
  } catch {
    // Debian's supervise: a dangling supervise symlink (e.g. into /run) gets its target created.
    let target: string | undefined;
    try {
      target = readlinkSync("supervise");
    } catch (e) {
      const code = errnoName(e);
      if (code !== "EINVAL" && code !== "ENOENT") warnSys(e, "unable to readlink ./supervise");
    }
    if (target !== undefined) {
      try {
        mkdirSync(target, 0o700);
      } catch {}
    }
  }
  try {
    const fdlock = openSync("supervise/lock", constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    lockExNb(fdlock);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to acquire ", dir, "/supervise/lock");
  }
  makeEventDir();
  try {
    mkfifo("supervise/control", 0o600);
  } catch {}
  let fdcontrol = -1;
  try {
    fdcontrol = openSync("supervise/control", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to read ", dir, "/supervise/control");
  }
  try {
    // Our own writer: the reader never sees EOF.
    openSync("supervise/control", constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to write ", dir, "/supervise/control");
  }

  const pidchange = () => {
    when = now();
  };
  const announce = () => {
    const w = writeStatus(
      dir,
      encodeStatus({ when, pid, paused: flagpaused, want: flagwant ? (flagwantup ? "u" : "d") : "" }),
    );
    if (w !== undefined) warn(w);
  };
  const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {}
  };

  pidchange();
  announce();
  try {
    mkfifo("supervise/ok", 0o600);
  } catch {}
  try {
    openSync("supervise/ok", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to read ", dir, "/supervise/ok");
  }
  const control = new ControlQueue(fdcontrol, trigger);
  // A wake-up with nothing to do changes nothing (C wakes every 3600 s); this one guards against a lost SIGCHLD.
  setInterval(() => {
    pending = true;
    trigger();
  }, 2000);

  // Readiness (s6's notification-fd): the read end of the pipe whose write end ./run got.
  let readiness: { fd: number; stop: () => void } | undefined;
  const stopReadiness = () => {
    readiness?.stop();
    readiness = undefined;
  };
  const watchReadiness = (fd: number, forPid: number) => {
    const reader = Bun.file(fd).stream().getReader();
    let done = false;
    const stop = () => {
      if (done) return;
      done = true;
      void reader.cancel().catch(() => {});
      try {
        closeSync(fd);
      } catch {}
    };
    readiness = { fd, stop };
    void (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done || r.done || !r.value) break;
        if (r.value.includes(10)) {
          if (pid === forPid) {
            try {
              writeReady(now(), forPid);
            } catch (e) {
              warnSys(e, "unable to write ", dir, "/supervise/ready");
            }
            sendEvent("U");
          }
          break;
        }
      }
      stop();
    })();
  };

  const trystart = async () => {
    let f = 0;
    stopReadiness();
    const nfd = notificationFd();
    if (nfd instanceof Error) warn(`${dir}: ${nfd.message}: starting without readiness notification`);
    let ends: [number, number] | undefined;
    if (typeof nfd === "number") {
      try {
        ends = pipe();
      } catch (e) {
        warnSys(e, "unable to create the notification pipe for ", dir);
      }
    }
    try {
      f = startChild("./run", ["./run"], ends && typeof nfd === "number" ? { dup2: [[nfd, ends[1]]] } : {});
      if (ends) {
        closeSync(ends[1]);
        watchReadiness(ends[0], f);
        ends = undefined;
      }
    } catch (e) {
      if (ends) {
        closeSync(ends[0]);
        closeSync(ends[1]);
      }
      const code = errnoName(e);
      if (code === "EAGAIN" || code === "ENOMEM") {
        warnSys(e, "unable to fork for ", dir, ", sleeping 60 seconds");
        await sleep(60_000);
        pending = true;
        return;
      }
      // In C the forked child reports the failed execve and exits 111; a stand-in child keeps the pid visible.
      errWrite(`supervise: fatal: unable to start ${dir}/run: ${errorStr(e)}\n`);
      try {
        f = startChild("/bin/sh", ["sh", "-c", "exit 111"]);
      } catch {
        phantomDeath = true;
      }
    }
    flagpaused = false;
    pid = f;
    pidchange();
    announce();
    if (pid) {
      sendEvent("s");
      sendEvent("u");
    }
    // The 1-second rule (spec §1.2): nothing else happens until 1.02 s after a start.
    await sleep(1020);
  };

  const wakeup = () =>
    pending || control.size > 0
      ? Promise.resolve()
      : new Promise<void>((ok) => {
          wake = ok;
        });

  const doit = async () => {
    announce();
    for (;;) {
      if (flagexit && !pid) return;
      await wakeup();
      pending = false;
      if (pid ? reapChild(pid) !== undefined : phantomDeath) {
        const died = pid;
        phantomDeath = false;
        pid = 0;
        pidchange();
        announce();
        stopReadiness();
        if (died) {
          sendEvent("d");
          sendEvent("D");
        }
        if (flagexit) return;
        if (flagwant && flagwantup) await trystart();
      }
      const ch = control.next();
      switch (ch) {
        case "d":
          flagwant = true;
          flagwantup = false;
          if (pid) {
            kill("SIGTERM");
            kill("SIGCONT");
            flagpaused = false;
          }
          announce();
          break;
        case "u":
          flagwant = true;
          flagwantup = true;
          announce();
          if (!pid) await trystart();
          break;
        case "o":
          flagwant = false;
          announce();
          if (!pid) await trystart();
          break;
        case "p":
          flagpaused = true;
          announce();
          if (pid) kill("SIGSTOP");
          break;
        case "c":
          flagpaused = false;
          announce();
          if (pid) kill("SIGCONT");
          break;
        case "x":
          flagexit = true;
          announce();
          break;
        default:
          if (ch !== undefined && SIGNALS[ch] && pid) kill(SIGNALS[ch]);
      }
    }
  };

  if (!flagwant || flagwantup) await trystart();
  await doit();
  announce();
  sendEvent("x");
  return EXIT_OK;
}
