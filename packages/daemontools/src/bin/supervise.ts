// SPDX-License-Identifier: MIT
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { dieUnable, dieUsage, fatalUnable, setProg, warn, warnUnable } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { worked } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/chdir";
import { mkfifo } from "@qts/sys/fifo";
import { lockExNb } from "@qts/sys/flock";
import { closeSync, constants, mkdirSync, openSync, readlinkSync, statSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { setProcName } from "@qts/sys/procname";
import { now, type Tain } from "@qts/tai64/tai64";
import { keepInheritedFds, onSigchld, reapChild, startChild } from "../lib/child.ts";
import { ControlQueue } from "../lib/control.ts";
import { makeEventDir, notificationFd, sendEvent, writeReady } from "../lib/readiness.ts";
import { encodeStatus, writeStatus } from "../lib/status.ts";

export const usage = "supervise dir";

/** Readiness (s6's notification-fd): the read end of the pipe whose write end ./run got. */
class Readiness {
  private done = false;
  private readonly cancel: () => Promise<void>;

  /** Watches fd until its first newline, which runs onReady, or until stop(). */
  constructor(
    private readonly fd: number,
    private readonly onReady: () => void,
  ) {
    const reader = Bun.file(fd).stream().getReader();
    this.cancel = () => reader.cancel();
    void this.watch(reader);
  }

  stop(): void {
    if (this.done) return;
    this.done = true;
    void this.cancel().catch(() => {});
    try {
      closeSync(this.fd);
    } catch {}
  }

  private async watch(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }): Promise<void> {
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (this.done || r.done || !r.value) break;
      if (r.value.includes(10)) {
        this.onReady();
        break;
      }
    }
    this.stop();
  }
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** supervise.c's start-up in dir: chdir, down, supervise/ (lock, control, ok). Returns control's read end. */
function openService(argv: string[], dir: string): { wantup: boolean; fdcontrol: number } {
  try {
    // The directory's own bytes (core/bytes.ts): svscan hands on a service name as it is.
    chdirBytes(bytesOf(rawArgs(argv)[0] as string));
  } catch (e) {
    dieUnable(EXIT_TEMP, `chdir to ${dir}`, e);
  }
  let wantup = true;
  try {
    statSync("down");
    wantup = false;
  } catch (e) {
    if (errnoName(e) !== "ENOENT") dieUnable(EXIT_TEMP, `stat ${dir}/down`, e);
  }
  makeSuperviseDir();
  try {
    const fdlock = openSync("supervise/lock", constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    lockExNb(fdlock);
  } catch (e) {
    dieUnable(EXIT_TEMP, `acquire ${dir}/supervise/lock`, e);
  }
  makeEventDir();
  try {
    mkfifo("supervise/control", 0o600);
  } catch {}
  let fdcontrol = -1;
  try {
    fdcontrol = openSync("supervise/control", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieUnable(EXIT_TEMP, `read ${dir}/supervise/control`, e);
  }
  try {
    // Our own writer: the reader never sees EOF.
    openSync("supervise/control", constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieUnable(EXIT_TEMP, `write ${dir}/supervise/control`, e);
  }
  return { wantup, fdcontrol };
}

function makeSuperviseDir(): void {
  try {
    mkdirSync("supervise", 0o700);
  } catch {
    // Debian's supervise: a dangling supervise symlink (e.g. into /run) gets its target created.
    let target: string | undefined;
    try {
      target = readlinkSync("supervise");
    } catch (e) {
      const code = errnoName(e);
      if (code !== "EINVAL" && code !== "ENOENT") warnUnable("readlink ./supervise", e);
    }
    if (target !== undefined) {
      try {
        mkdirSync(target, 0o700);
      } catch {}
    }
  }
}

/** The state of supervise.c: the child, what is wanted of it, and the wake-ups (SIGCHLD, control). */
class Supervisor {
  pid = 0;
  flagwant = true;
  flagwantup = true;
  flagpaused = false;
  flagexit = false;
  when: Tain = now();
  // A child that could not even be stood in for: its "death" is still due.
  phantomDeath = false;
  pending = false;
  private wake: (() => void) | undefined;
  private readiness: Readiness | undefined;
  control: ControlQueue | undefined;

  constructor(private readonly dir: string) {}

  trigger(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  poke(): void {
    this.pending = true;
    this.trigger();
  }

  pidchange(): void {
    this.when = now();
  }

  announce(): void {
    const want = this.flagwant ? (this.flagwantup ? "u" : "d") : "";
    const w = writeStatus(this.dir, encodeStatus({ when: this.when, pid: this.pid, paused: this.flagpaused, want }));
    if (w !== undefined) warn(w);
  }

  kill(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {}
  }

  private stopReadiness(): void {
    this.readiness?.stop();
    this.readiness = undefined;
  }

  private ready(forPid: number): void {
    if (this.pid !== forPid) return;
    try {
      writeReady(now(), forPid);
    } catch (e) {
      warnUnable(`write ${this.dir}/supervise/ready`, e);
    }
    sendEvent("U");
  }

  /** The notification pipe when ./run's directory asks for one (notification-fd): [child fd, read end, write end]. */
  private notificationPipe(): [number, number, number] | undefined {
    const nfd = notificationFd();
    if (nfd instanceof Error) warn(`${this.dir}: ${nfd.message}: starting without readiness notification`);
    if (typeof nfd !== "number") return undefined;
    try {
      const [r, w] = pipe();
      return [nfd, r, w];
    } catch (e) {
      warnUnable(`create the notification pipe for ${this.dir}`, e);
      return undefined;
    }
  }

  /**
   * Starts ./run: its pid, 0 when even a stand-in could not start, or undefined when the fork
   * failed and supervise slept 60 seconds.
   */
  private async startRun(): Promise<number | undefined> {
    let ends = this.notificationPipe();
    try {
      const f = startChild("./run", ["./run"], ends ? { dup2: [[ends[0], ends[2]]] } : {});
      if (ends) {
        closeSync(ends[2]);
        this.readiness = new Readiness(ends[1], () => this.ready(f));
        ends = undefined;
      }
      return f;
    } catch (e) {
      if (ends) {
        closeSync(ends[1]);
        closeSync(ends[2]);
      }
      const code = errnoName(e);
      if (code === "EAGAIN" || code === "ENOMEM") {
        warnUnable(`fork for ${this.dir}, sleeping 60 seconds`, e);
        await sleep(60_000);
        this.pending = true;
        return undefined;
      }
      // In C the forked child reports the failed execve and exits 111; a stand-in child keeps the pid visible.
      fatalUnable(`start ${this.dir}/run`, e);
      try {
        return startChild("/bin/sh", ["sh", "-c", "exit 111"]);
      } catch {
        this.phantomDeath = true;
        return 0;
      }
    }
  }

  async trystart(): Promise<void> {
    this.stopReadiness();
    const f = await this.startRun();
    if (f === undefined) return;
    this.flagpaused = false;
    this.pid = f;
    this.pidchange();
    this.announce();
    if (this.pid) {
      sendEvent("s");
      sendEvent("u");
    }
    // The 1-second rule (supervise.c's trystart: deepsleep(1)): nothing else happens until 1.02 s after a start.
    await sleep(1020);
  }

  private wakeup(): Promise<void> {
    if (this.pending || (this.control?.size ?? 0) > 0) return Promise.resolve();
    return new Promise<void>((ok) => {
      this.wake = ok;
    });
  }

  /** The child ended (or its phantom's death is due): status, events, and a restart if wanted. */
  private async died(): Promise<void> {
    const died = this.pid;
    this.phantomDeath = false;
    this.pid = 0;
    this.pidchange();
    this.announce();
    this.stopReadiness();
    if (died) {
      sendEvent("d");
      sendEvent("D");
    }
    if (this.flagexit) return;
    if (this.flagwant && this.flagwantup) await this.trystart();
  }

  /** supervise.c's doit(): until x and no child. */
  async doit(): Promise<void> {
    this.announce();
    for (;;) {
      if (this.flagexit && !this.pid) return;
      await this.wakeup();
      this.pending = false;
      // Work (a death, a command) re-arms the trim (core/rest.ts); the 2-s wake-ups that find nothing do not.
      if (this.pid ? reapChild(this.pid) !== undefined : this.phantomDeath) {
        worked();
        await this.died();
        if (this.flagexit) return;
      }
      const ch = this.control?.next();
      if (ch !== undefined) {
        worked();
        await command(this, ch);
      }
    }
  }
}

const SIGNALS: Record<string, NodeJS.Signals> = { a: "SIGALRM", h: "SIGHUP", k: "SIGKILL", t: "SIGTERM", i: "SIGINT" };

/** supervise/control's letters (svc(8)); the signal letters are in SIGNALS. */
const COMMANDS: Record<string, (s: Supervisor) => void | Promise<void>> = {
  d: (s) => {
    s.flagwant = true;
    s.flagwantup = false;
    if (s.pid) {
      s.kill("SIGTERM");
      s.kill("SIGCONT");
      s.flagpaused = false;
    }
    s.announce();
  },
  u: async (s) => {
    s.flagwant = true;
    s.flagwantup = true;
    s.announce();
    if (!s.pid) await s.trystart();
  },
  o: async (s) => {
    s.flagwant = false;
    s.announce();
    if (!s.pid) await s.trystart();
  },
  p: (s) => {
    s.flagpaused = true;
    s.announce();
    if (s.pid) s.kill("SIGSTOP");
  },
  c: (s) => {
    s.flagpaused = false;
    s.announce();
    if (s.pid) s.kill("SIGCONT");
  },
  x: (s) => {
    s.flagexit = true;
    s.announce();
  },
};

async function command(s: Supervisor, ch: string): Promise<void> {
  const f = Object.hasOwn(COMMANDS, ch) ? COMMANDS[ch] : undefined;
  if (f) return f(s);
  const sig = Object.hasOwn(SIGNALS, ch) ? SIGNALS[ch] : undefined;
  if (sig && s.pid) s.kill(sig);
}

// supervise(8): start ./run, restart it when it dies, obey supervise/control.
export async function main(argv: string[], _env: Env): Promise<number> {
  setProg("supervise");
  try {
    setProcName("supervise");
  } catch {}
  const dir = argv[0];
  if (dir === undefined || argv.length > 1) dieUsage(usage);
  keepInheritedFds();
  const s = new Supervisor(dir);
  onSigchld(() => s.poke());
  const { wantup, fdcontrol } = openService(argv, dir);
  s.flagwantup = wantup;
  s.pidchange();
  s.announce();
  try {
    mkfifo("supervise/ok", 0o600);
  } catch {}
  try {
    openSync("supervise/ok", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    dieUnable(EXIT_TEMP, `read ${dir}/supervise/ok`, e);
  }
  s.control = new ControlQueue(fdcontrol, () => s.trigger());
  // A wake-up with nothing to do changes nothing (C wakes every 3600 s); this one guards against a lost SIGCHLD.
  setInterval(() => s.poke(), 2000);

  if (!s.flagwant || s.flagwantup) await s.trystart();
  await s.doit();
  s.announce();
  sendEvent("x");
  return EXIT_OK;
}
