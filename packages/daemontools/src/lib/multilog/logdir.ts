// SPDX-License-Identifier: MIT
// One log directory of multilog(8): restart (lock, recovery from an unclean
// stop), rotation of current into @timestamp.s files, and the processor.
import { envBytes, rawEnv } from "@qts/core/bytes";
import { dieUnable, fatalUnable, warn } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { inheritFd } from "@qts/sys/exec";
import { lockExNb } from "@qts/sys/flock";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
} from "@qts/sys/fs";
import { spawn } from "@qts/sys/posixspawn";
import { exitCode, termSig, waitStatus } from "@qts/sys/waitpid";
import { writeStamp } from "../stamp.ts";
import { Cyclog } from "./buffer.ts";
import { O_APPEND, O_TRUNC, pause, pauseSeconds, retry } from "./pause.ts";

/** The fds multilog was started with beyond 0-2, taken before it opens any of its own. */
let inherited = new Set<number>();
export function setInherited(fds: Iterable<number>): void {
  inherited = new Set(fds);
}

// Reset in the processor: Bun ignores SIGPIPE and SIGXFSZ; glibc's posix_spawn would leave 32 and 33 ignored.

/** Length of "@" and a TAI64N label's 24 hex digits. */
const STAMP_LEN = 25;

function stampName(code: string): string {
  const b = Buffer.alloc(STAMP_LEN);
  writeStamp(b, 0);
  return `${b.toString("latin1")}.${code}`;
}

function isArchive(n: string): boolean {
  return n.startsWith("@") && Buffer.byteLength(n) >= STAMP_LEN;
}

export class LogDir extends Cyclog {
  /** The last selecting item of the script let the current line through. */
  selected = false;

  constructor(
    dir: string,
    size: number,
    readonly num: number,
    readonly processor: string | undefined,
    /** The directory's name and the processor as given, byte for byte (core/bytes.ts); dir is for messages. */
    readonly raw: Buffer = Buffer.from(dir),
    readonly rawProcessor: Buffer | undefined = processor === undefined ? undefined : Buffer.from(processor),
  ) {
    super(dir, size);
  }

  path(f: string): Buffer {
    return Buffer.concat([this.raw, Buffer.from(`/${f}`)]);
  }

  /** multilog.c's restart(): lock, recover from an unclean stop, open current. Errors are fatal. */
  start(): void {
    const d = this.dir;
    try {
      mkdirSync(this.raw, 0o700);
    } catch {}
    try {
      closeSync(openSync(this.raw, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (e) {
      dieUnable(EXIT_TEMP, `open directory ${d}`, e);
    }
    try {
      lockExNb(openSync(this.path("lock"), O_APPEND, 0o600));
    } catch (e) {
      dieUnable(EXIT_TEMP, `lock directory ${d}`, e);
    }
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(this.path("current"));
    } catch (e) {
      if (errnoName(e) !== "ENOENT") dieUnable(EXIT_TEMP, `stat ${d}/current`, e);
    }
    if (st && Number(st.mode) & 0o100) this.reopen(Number(st.size));
    else this.recover();
  }

  /** current is complete (mode 744): append to it. */
  private reopen(size: number): void {
    const d = this.dir;
    try {
      this.fd = openSync(this.path("current"), O_APPEND, 0o600);
    } catch (e) {
      dieUnable(EXIT_TEMP, `append to ${d}/current`, e);
    }
    try {
      fchmodSync(this.fd, 0o644);
    } catch (e) {
      dieUnable(EXIT_TEMP, `set mode of ${d}/current`, e);
    }
    this.bytes = size;
  }

  /** An unclean stop: finish what the processor did (or not), archive current, start a new one. */
  private recover(): void {
    const d = this.dir;
    for (const f of ["state", "newstate"])
      try {
        unlinkSync(this.path(f));
      } catch {}
    let processed = false;
    try {
      processed = (Number(statSync(this.path("processed")).mode) & 0o100) !== 0;
    } catch (e) {
      if (errnoName(e) !== "ENOENT") dieUnable(EXIT_TEMP, `stat ${d}/processed`, e);
    }
    if (processed) {
      try {
        unlinkSync(this.path("previous"));
      } catch {}
      this.finish("processed", "s");
    } else {
      try {
        unlinkSync(this.path("processed"));
      } catch {}
      this.finish("previous", "u");
    }
    this.finish("current", "u");
    try {
      closeSync(openSync(this.path("state"), O_TRUNC, 0o644));
    } catch (e) {
      dieUnable(EXIT_TEMP, `write to ${d}/state`, e);
    }
    try {
      this.fd = openSync(this.path("current"), O_APPEND, 0o600);
      fchmodSync(this.fd, 0o644);
    } catch (e) {
      dieUnable(EXIT_TEMP, `write to ${d}/current`, e);
    }
    this.bytes = 0;
  }

  /** multilog.c's finish(): archive file as @stamp.code, then keep at most num-1 archives. */
  finish(file: string, kind: string): void {
    const d = this.dir;
    let st: ReturnType<typeof statSync>;
    for (;;) {
      try {
        st = statSync(this.path(file));
        break;
      } catch (e) {
        if (errnoName(e) === "ENOENT") return;
        pause(e, `stat ${d}/${file}`);
      }
    }
    if (st.nlink === 1)
      for (;;) {
        const fn = stampName(kind);
        try {
          linkSync(this.path(file), this.path(fn));
          break;
        } catch (e) {
          pause(e, `link to ${d}/${fn}`);
        }
      }
    retry(() => unlinkSync(this.path(file)), `remove ${d}/${file}`);
    while (this.removeOldest()) {}
  }

  /** One pass of finish()'s loop: with num or more archives, removes the oldest and returns true. */
  private removeOldest(): boolean {
    const d = this.dir;
    const names = retry(() => readdirSync(this.raw, "utf8"), `read ${d}`);
    let oldest = "@z";
    let count = 0;
    for (const n of names)
      if (isArchive(n)) {
        count++;
        if (n < oldest) oldest = n.slice(0, STAMP_LEN);
      }
    if (count < this.num) return false;
    const again = retry(() => readdirSync(this.raw, "utf8"), `read ${d}`);
    const victim = again.find((n) => isArchive(n) && n.startsWith(oldest));
    if (victim !== undefined) retry(() => unlinkSync(this.path(victim)), `remove ${d}/${victim}`);
    return true;
  }

  /** fullcurrent(): current becomes previous, then the processor or an archive. */
  full(): void {
    const d = this.dir;
    this.writeOut();
    retry(() => fsyncSync(this.fd), `write ${d}/current to disk`);
    closeSync(this.fd);
    retry(
      () => renameSync(this.path("current"), this.path("previous")),
      `rename current to previous in directory ${d}`,
    );
    this.fd = retry(() => openSync(this.path("current"), O_APPEND, 0o600), `create ${d}/current`);
    this.bytes = 0;
    retry(() => fchmodSync(this.fd, 0o644), `set mode of ${d}/current`);
    retry(() => chmodSync(this.path("previous"), 0o744), `set mode of ${d}/previous`);
    if (this.processor === undefined) {
      this.finish("previous", "s");
      return;
    }
    this.process();
  }

  /** The processor until it succeeds, then processed and newstate become the archive and state. */
  private process(): void {
    const d = this.dir;
    for (;;) {
      const r = this.runProcessor();
      if (r === "ok") break;
      if (r === "nofork") continue;
      // A crash pauses, then falls through to the failure warning and a second pause, as in C (whose
      // crash line carries a stale errno; ours has none to show).
      if (r === "crashed") {
        warn("processor crashed in ", d, ", pausing: ", "no error");
        Bun.sleepSync(pauseSeconds * 1000);
      }
      warn("processor failed in ", d, ", pausing");
      Bun.sleepSync(pauseSeconds * 1000);
    }
    const fd = retry(() => openSync(this.path("processed"), O_APPEND, 0o600), `create ${d}/processed`);
    retry(() => fsyncSync(fd), `write ${d}/processed to disk`);
    retry(() => fchmodSync(fd, 0o744), `set mode of ${d}/processed`);
    closeSync(fd);
    const ns = retry(() => openSync(this.path("newstate"), O_APPEND, 0o600), `create ${d}/newstate`);
    retry(() => fsyncSync(ns), `write ${d}/newstate to disk`);
    closeSync(ns);
    retry(() => unlinkSync(this.path("previous")), `remove ${d}/previous`);
    retry(() => renameSync(this.path("newstate"), this.path("state")), `rename newstate to state in directory ${d}`);
    this.finish("processed", "s");
  }

  /** The processor as sh -c, fd 0 previous, 1 processed, 4 state, 5 newstate. */
  private runProcessor(): "ok" | "failed" | "crashed" | "nofork" {
    const fds: number[] = [];
    try {
      try {
        fds.push(openSync(this.path("previous"), constants.O_RDONLY | constants.O_NONBLOCK));
        fds.push(openSync(this.path("processed"), O_TRUNC, 0o644));
        fds.push(openSync(this.path("state"), constants.O_RDONLY | constants.O_NONBLOCK));
        fds.push(openSync(this.path("newstate"), O_TRUNC, 0o644));
      } catch (e) {
        // What the original's child says before exiting 111.
        fatalUnable(`run ${this.processor}`, e);
        return "failed";
      }
      const [a, b, c, e] = fds as [number, number, number, number];
      // fds multilog inherited reach the processor too, at their numbers, as after C's vfork (all
      // others are close-on-exec). The original runs it from inside the log directory; posix_spawn
      // takes the script and the directory as bytes.
      for (const fd of inherited) if (fd === 3 || fd > 5) inheritFd(fd);
      let st: number;
      try {
        const pid = spawn("/bin/sh", ["sh", "-c", this.rawProcessor as Buffer], [...envBytes(rawEnv(process.env))], {
          dup2: [
            [0, a],
            [1, b],
            [4, c],
            [5, e],
          ],
          cwd: this.raw,
          sigDefault: CHILD_SIGDEFAULT,
        });
        st = waitStatus(pid);
      } catch (err) {
        pause(err, `fork for processor in ${this.dir}`);
        return "nofork";
      }
      if (termSig(st) !== 0) return "crashed";
      return exitCode(st) === 0 ? "ok" : "failed";
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** c_quit for this directory: flush, fsync, mark complete. */
  quit(): void {
    this.flush();
    this.writeOut();
    retry(() => fsyncSync(this.fd), `write ${this.dir}/current to disk`);
    retry(() => fchmodSync(this.fd, 0o744), `set mode of ${this.dir}/current`);
  }
}
