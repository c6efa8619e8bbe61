// SPDX-License-Identifier: MIT
// The spawner side of qmail-send's delivery protocol (spawn.c), shared by
// qmail-lspawn and qmail-rspawn: commands `<slot>messid\0sender\0recip\0` on
// fd 0, reports `<slot><K|Z|D>text\0` on fd 1.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, openSync } from "node:fs";
import { execEnv } from "@qts/core/bytes";
import { writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { envEntries, firstCandidate } from "@qts/sys/execraw";
import { pipe } from "@qts/sys/pipe";
import { spawn as posixSpawn } from "@qts/sys/posixspawn";
import { ThreadIdsLost, withThreadIds } from "@qts/sys/threadids";
import { exitCode, reap, termSig } from "@qts/sys/waitpid";
import { AUTO_SPAWN } from "./conf.ts";

/** How a child ended: crashed (killed by a signal) or its exit code. */
export interface Outcome {
  crashed: boolean;
  code: number;
}

/** Collects a child's output, truncating like spawn.c when truncreport > 100. */
export class Output {
  private parts: Buffer[] = [];
  private len = 0;
  constructor(private readonly truncreport: number) {}

  append(data: Buffer): void {
    // spawn.c reads 128 bytes at a time and applies the cut after each read.
    for (let i = 0; i < data.length; i += 128) this.add(data.subarray(i, i + 128));
  }

  private add(chunk: Buffer): void {
    this.parts.push(chunk);
    this.len += chunk.length;
    if (this.truncreport > 100 && this.len > this.truncreport) {
      const truncmess = Buffer.from("\nError report too long, sorry.\n");
      const keep = this.truncreport - truncmess.length - 3;
      const all = Buffer.concat(this.parts).subarray(0, keep);
      this.parts = [all, truncmess];
      this.len = keep + truncmess.length;
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface SpawnImpl {
  /** lspawn truncates output to 3000 bytes; rspawn does not (0). */
  truncreport: number;
  /** The report after the slot byte and before the final NUL: letter and text. */
  report(o: Outcome, output: Buffer): Buffer;
  /**
   * Runs one delivery with fdmess as its stdin (the callee must not close
   * it before the child has it; the caller closes it afterwards) and its
   * stdout and stderr appended to out. recip has its "@" at index at.
   */
  run(fdmess: number, sender: Buffer, recip: Buffer, at: number, out: Output): Promise<Outcome>;
}

export interface ChildSpec {
  file: string;
  argv0?: string;
  /** A Buffer argument goes out byte for byte (argBytes). */
  args: (string | Buffer)[];
  cwd?: string;
  uid?: number;
  gid?: number;
  env?: Env;
  /** Exit code standing for an exec failure with this error (qmail's error_temp split). */
  execFail: (err: unknown) => number;
}

/**
 * Reads fd to EOF through Bun's event loop (epoll), then closes it unless
 * keep. fs.createReadStream would block one of Bun's two pool threads per
 * idle pipe, starving every other read.
 */
export function readFd(fd: number, onData: (b: Buffer) => void, onEnd: () => void, keep = false): void {
  (async () => {
    try {
      for await (const d of Bun.file(fd).stream()) onData(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    } catch {}
    if (!keep)
      try {
        closeSync(fd);
      } catch {}
    onEnd();
  })();
}

/**
 * Bytes as an argument: the text when they are valid UTF-8 (spawn() encodes arguments as UTF-8),
 * else the bytes themselves, which runChild passes on untouched (C passes addresses as they are).
 */
export function argBytes(b: Buffer): string | Buffer {
  const s = b.toString("utf8");
  return Buffer.from(s, "utf8").equals(b) ? s : b;
}

/** Whether spec asks for ids other than ours. Not root (a one-user install, lib/ids.ts): switching to our own ids is a no-op, and the attempt would fail. */
function switchesIds(spec: { uid?: number; gid?: number }): boolean {
  if (spec.uid === undefined && spec.gid === undefined) return false;
  return !(process.geteuid?.() !== 0 && spec.uid === process.getuid?.() && spec.gid === process.getgid?.());
}

/**
 * posix_spawn of spec with byte arguments (fork+exec in C), under spec's ids
 * when it has them, searching PATH like execvp for a name without "/". dup2
 * maps child fds to ours. Returns the pid, or throws the exec error.
 */
export function spawnBytes(spec: Omit<ChildSpec, "execFail">, dup2: [number, number][]): number {
  const env = spec.env ?? (process.env as Env);
  const argv = [spec.argv0 ?? spec.file, ...spec.args];
  const opts = { dup2, cwd: spec.cwd, sigDefault: CHILD_SIGDEFAULT };
  const entries = envEntries(execEnv(env)).entries;
  const path = env.PATH === undefined ? undefined : Buffer.from(env.PATH);
  const start = () => firstCandidate(spec.file, path, (file) => posixSpawn(file, argv, entries, opts));
  if (!switchesIds(spec)) return start();
  const uid = spec.uid ?? (process.getuid?.() as number);
  const gid = spec.gid ?? (process.getgid?.() as number);
  return withThreadIds(uid, gid, start);
}

/** Resolves with pid's raw wait status, polling waitpid (Bun does not reap a posix_spawn child). */
export function waitChild(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const wait = () => {
      let st: ReturnType<typeof reap>;
      try {
        st = reap(pid);
      } catch {
        st = { pid, status: 0x7f };
      }
      if (st) resolve(st.status);
      else setTimeout(wait, 5);
    };
    wait();
  });
}

/** runChild for arguments that are not all text: posix_spawn, reaped once the pipe is at EOF. */
function runChildBytes(spec: ChildSpec, fdmess: number, out: Output, r: number, w: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let pid: number;
    try {
      pid = spawnBytes(spec, [
        [0, fdmess],
        [1, w],
        [2, w],
      ]);
    } catch (e) {
      // Still running with a user's ids would be worse than stopping: crash the spawner.
      if (e instanceof ThreadIdsLost)
        queueMicrotask(() => {
          throw e;
        });
      closeSync(r);
      closeSync(w);
      resolve({ crashed: false, code: spec.execFail(e) });
      return;
    }
    closeSync(w);
    readFd(
      r,
      (d) => out.append(d),
      () =>
        waitChild(pid).then((st) =>
          resolve(termSig(st) ? { crashed: true, code: 0 } : { crashed: false, code: exitCode(st) }),
        ),
    );
  });
}

/**
 * fork + exec of one delivery program, as spawn.c's children: fd 0 is the
 * message, fds 1 and 2 one pipe back to us. Resolves once the child has
 * exited and the pipe reached EOF (a grandchild holding the pipe delays it).
 */
export function runChild(spec: ChildSpec, fdmess: number, out: Output): Promise<Outcome> {
  return new Promise((resolve) => {
    let r: number;
    let w: number;
    try {
      [r, w] = pipe();
    } catch {
      resolve({ crashed: false, code: spec.execFail(new Error("pipe")) });
      return;
    }
    if (spec.args.some((a) => typeof a !== "string")) {
      runChildBytes(spec, fdmess, out, r, w).then(resolve);
      return;
    }
    const same = !switchesIds(spec);
    let child: ChildProcess;
    let exited: Outcome | undefined;
    let ended = false;
    const finish = () => {
      if (exited && ended) resolve(exited);
    };
    try {
      child = spawn(spec.file, spec.args as string[], {
        argv0: spec.argv0,
        cwd: spec.cwd,
        uid: same ? undefined : spec.uid,
        gid: same ? undefined : spec.gid,
        env: (spec.env ?? process.env) as NodeJS.ProcessEnv,
        stdio: [fdmess, w, w],
      });
    } catch (e) {
      closeSync(r);
      closeSync(w);
      resolve({ crashed: false, code: spec.execFail(e) });
      return;
    }
    closeSync(w);
    child.once("error", (e) => {
      exited ??= { crashed: false, code: spec.execFail(e) };
      finish();
    });
    child.once("exit", (code, sig) => {
      exited ??= sig ? { crashed: true, code: 0 } : { crashed: false, code: code ?? 0 };
      finish();
    });
    readFd(
      r,
      (d) => out.append(d),
      () => {
        ended = true;
        finish();
      },
    );
  });
}

interface Slot {
  used: boolean;
}

/**
 * spawn.c's main loop after chdir to queue/mess: reads commands, checks
 * them, runs deliveries, reports. Resolves with the exit code (0 once fd 0
 * is at EOF and no delivery is left).
 */
export function spawnLoop(impl: SpawnImpl, uidq: number): Promise<number> {
  return new Promise((done) => {
    const slots: Slot[] = Array.from({ length: AUTO_SPAWN }, () => ({ used: false }));
    let flagwriting = true;
    let flagreading = true;
    let inUse = 0;

    const put = (b: Buffer) => {
      if (!flagwriting) return;
      try {
        writeAll(1, b);
      } catch {
        flagwriting = false;
        try {
          closeSync(1);
        } catch {}
      }
    };
    const respond = (delnum: number, rep: Buffer) => put(Buffer.concat([Buffer.from([delnum]), rep, Buffer.from([0])]));
    const err = (delnum: number, s: string) => respond(delnum, Buffer.from(s, "latin1"));
    const maybeExit = () => {
      if (!flagreading && inUse === 0) done(0);
    };

    const docmd = (delnum: number, messid: Buffer, sender: Buffer, recip: Buffer) => {
      if (delnum >= AUTO_SPAWN) return err(delnum, "ZInternal error: delnum too big. (#4.3.5)\n");
      const slot = slots[delnum] as Slot;
      if (slot.used) return err(delnum, "ZInternal error: delnum in use. (#4.3.5)\n");
      // messid, sender and recip still carry their terminating NUL here, as in spawn.c.
      for (let i = 0; i < messid.length; i++) {
        const ch = messid[i] as number;
        if (ch && (i === 0 || ch !== 0x2f) && (ch < 0x30 || ch > 0x39))
          return err(delnum, "DInternal error: messid has nonnumerics. (#5.3.5)\n");
      }
      if (messid.length > 100) return err(delnum, "DInternal error: messid too long. (#5.3.5)\n");
      if (!messid[0]) return err(delnum, "DInternal error: messid too short. (#5.3.5)\n");
      const at = recip.lastIndexOf(0x40);
      if (at < 0) return err(delnum, "DSorry, address must include host name. (#5.1.3)\n");
      let fdmess: number;
      try {
        fdmess = openSync(messid.subarray(0, messid.length - 1).toString("latin1"), "r");
      } catch {
        return err(delnum, "Zqmail-spawn unable to open message. (#4.3.0)\n");
      }
      let st: ReturnType<typeof fstatSync>;
      try {
        st = fstatSync(fdmess);
      } catch {
        closeSync(fdmess);
        return err(delnum, "Zqmail-spawn unable to fstat message. (#4.3.0)\n");
      }
      if (!st.isFile()) {
        closeSync(fdmess);
        return err(delnum, "ZSorry, message has wrong type. (#4.3.5)\n");
      }
      // qmailq has to be trusted: a message file owned by anyone else is refused (spawn.c).
      if (st.uid !== uidq) {
        closeSync(fdmess);
        return err(delnum, "ZSorry, message has wrong owner. (#4.3.5)\n");
      }
      slot.used = true;
      ++inUse;
      const out = new Output(impl.truncreport);
      const s = sender.subarray(0, sender.length - 1);
      const rc = recip.subarray(0, recip.length - 1);
      impl
        .run(fdmess, s, rc, at, out)
        .catch(() => ({ crashed: true, code: 0 }))
        .then((o) => {
          try {
            closeSync(fdmess);
          } catch {}
          respond(delnum, impl.report(o, out.bytes()));
          slot.used = false;
          --inUse;
          maybeExit();
        });
    };

    let stage = 0;
    let delnum = 0;
    let fields: Buffer[] = [];
    let cur: number[] = [];
    const onData = (chunk: Buffer) => {
      for (const ch of chunk) {
        if (stage === 0) {
          delnum = ch;
          fields = [];
          cur = [];
          stage = 1;
          continue;
        }
        cur.push(ch);
        if (ch) continue;
        fields.push(Buffer.from(cur));
        cur = [];
        if (stage < 3) {
          stage++;
          continue;
        }
        docmd(delnum, fields[0] as Buffer, fields[1] as Buffer, fields[2] as Buffer);
        stage = 0;
      }
    };
    readFd(0, onData, () => {
      flagreading = false;
      maybeExit();
    });

    put(Buffer.from([AUTO_SPAWN]));
  });
}
