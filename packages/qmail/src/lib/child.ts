// SPDX-License-Identifier: MIT
// Starting a child, the one way every qmail program here does it: C's fork,
// then execv or execvp (after setgid+setuid in qmail-lspawn's and
// qmail-start's children), then wait_pid. posix_spawn (@qts/sys/posixspawn)
// with the child's fds mapped by dup2; arguments and environment go out as
// bytes, untouched, as C passes them; SIGPIPE and SIGXFSZ, which Bun ignores,
// are back at their default in the child. Bun does not reap such a child:
// waitChild and waitChildSync do, by pid.
import { execEnv } from "@qts/core/bytes";
import { errnoName, errorTemp } from "@qts/core/errstr";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { type Arg, type ExecEnv, envEntries, firstCandidate } from "@qts/sys/execraw";
import { closeSync, openSync, writeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { spawn as posixSpawn } from "@qts/sys/posixspawn";
import { socketpair } from "@qts/sys/socketpair";
import { ThreadIdsLost, withThreadIds } from "@qts/sys/threadids";
import { exitCode, termSig, waitAsync, waitStatus } from "@qts/sys/waitpid";

export type { Arg } from "@qts/sys/execraw";

export interface ChildSpec {
  /** The program: a name without "/" is searched in the environment's PATH, as execvp does. */
  file: Arg;
  /** argv[0]; the file by default. */
  argv0?: Arg;
  args: readonly Arg[];
  /**
   * The environment: by name (text), or "NAME=value" entries, which go out byte for byte
   * (core/bytes.ts execEnv gives them). This process's own by default.
   */
  env?: ExecEnv;
  /** The directory the child starts in. */
  cwd?: string;
  /** The child's ids (prot_gid + prot_uid: groups [gid], then gid, then uid); ours when not given. */
  uid?: number;
  gid?: number;
  /** [child fd, our fd], applied by dup2 in order. Other fds pass as they are (ours are close-on-exec). */
  fds?: readonly (readonly [number, number])[];
}

/** How a child ended: crashed (killed by a signal), or its exit code (qmail's wait_crashed, wait_exitcode). */
export interface Outcome {
  crashed: boolean;
  code: number;
}

/** The Outcome of a raw wait status. */
export function outcome(status: number): Outcome {
  return termSig(status) ? { crashed: true, code: 0 } : { crashed: false, code: exitCode(status) };
}

/**
 * env (text, as a main gets it) as the "NAME=value" entries a child gets, byte for byte
 * (core/bytes.ts): build them once for a program that starts many children.
 */
export function childEnv(env: Env): Buffer[] {
  return envEntries(execEnv(env)).entries;
}

/** Whether spec asks for ids other than ours. Not root (a one-user install, lib/ids.ts): switching to our own ids is a no-op, and the attempt would fail. */
function switchesIds(spec: { uid?: number; gid?: number }): boolean {
  if (spec.uid === undefined && spec.gid === undefined) return false;
  return !(process.geteuid?.() !== 0 && spec.uid === process.getuid?.() && spec.gid === process.getgid?.());
}

/**
 * Starts spec; returns the pid, or throws the error exec gave (ENOENT, EACCES, ...). The
 * child runs before this returns: the fds given to it may be closed at once. Under other ids
 * only this thread switches, for the span of the spawn (sys/threadids.ts); when its own ids
 * cannot be put back, ThreadIdsLost is thrown here and again outside any handler, so the
 * process stops rather than go on with a user's ids.
 */
export function startChild(spec: ChildSpec): number {
  const { entries, path } = envEntries(spec.env ?? execEnv(process.env as Env));
  const argv = [spec.argv0 ?? spec.file, ...spec.args];
  const opts = { dup2: spec.fds as [number, number][] | undefined, cwd: spec.cwd, sigDefault: CHILD_SIGDEFAULT };
  const start = () => firstCandidate(spec.file, path, (file) => posixSpawn(file, argv, entries, opts));
  if (!switchesIds(spec)) return start();
  try {
    return withThreadIds(spec.uid ?? (process.getuid?.() as number), spec.gid ?? (process.getgid?.() as number), start);
  } catch (e) {
    if (e instanceof ThreadIdsLost)
      queueMicrotask(() => {
        throw e;
      });
    throw e;
  }
}

/** sys/waitpid.ts waitAsync: pid's raw wait status, the event loop running meanwhile. */
export const waitChild = waitAsync;

/** waitpid(pid, 0): blocks until pid ends; its raw wait status. */
export function waitChildSync(pid: number): number {
  return waitStatus(pid);
}

/** /dev/null for reading and writing: a child's fd that goes nowhere. */
export function devNull(): number {
  return openSync("/dev/null", "r+");
}

/**
 * Starts a long-lived worker (qmail-local -W, qmail-getpw -W): /dev/null on its fds 0-2 and one end of
 * a new socketpair on fd, its channel. Returns its pid and our end; throws the spawn error.
 */
export function startWorker(spec: Omit<ChildSpec, "fds">, fd: number): { pid: number; sock: number } {
  const [mine, theirs] = socketpair();
  let nul: number | undefined;
  try {
    nul = devNull();
    const pid = startChild({
      ...spec,
      fds: [
        [0, nul],
        [1, nul],
        [2, nul],
        [fd, theirs],
      ],
    });
    return { pid, sock: mine };
  } catch (e) {
    closeSync(mine);
    throw e;
  } finally {
    closeSync(theirs);
    if (nul !== undefined) closeSync(nul);
  }
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
 * Starts spec with the write end of a new pipe as each of its fds in `to`
 * (spawn.c's children: fds 1 and 2), hands each chunk read from the pipe to
 * onData, and resolves with the raw wait status once the pipe is at EOF and
 * the child is reaped (a grandchild that holds the pipe delays the end).
 * Rejects with the error of pipe or exec. The child runs before this
 * returns: the fds in spec.fds may be closed at once.
 */
export function collect(spec: ChildSpec, to: readonly number[], onData: (b: Buffer) => void): Promise<number> {
  let r: number;
  let w: number;
  let pid: number;
  try {
    [r, w] = pipe();
  } catch (e) {
    return Promise.reject(e);
  }
  try {
    pid = startChild({ ...spec, fds: [...(spec.fds ?? []), ...to.map((fd) => [fd, w] as const)] });
  } catch (e) {
    closeSync(r);
    return Promise.reject(e);
  } finally {
    closeSync(w);
  }
  return new Promise((resolve) => readFd(r, onData, () => waitChild(pid).then(resolve)));
}

/** Reads fd to EOF in chunks (retrying EINTR/EAGAIN); read errors are thrown. */
export function* readChunks(fd: number, size = 65536): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  for (;;) {
    let n: number;
    try {
      n = readChunk(fd, buf);
    } catch (e) {
      if (errnoName(e) === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      throw e;
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

/** Writes all of b to fd (a blocking pipe: waits while the reader is behind, as C's substdio does). */
export function writeFully(fd: number, b: Uint8Array): void {
  for (let at = 0; at < b.length; ) {
    try {
      at += writeSync(fd, b, at, b.length - at);
    } catch (e) {
      if (errnoName(e) === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      throw e;
    }
  }
}

/**
 * fork + execvp + wait_pid, as the small .qmail helpers (except,
 * bouncesaying, condredirect) run their program with fds 0-2 shared: the
 * child's exec failure is its exit 111 (a temporary errno) or 100.
 */
export function runChild(argv: readonly Arg[], env: ExecEnv): Outcome {
  let pid: number;
  try {
    pid = startChild({ file: argv[0] as Arg, args: argv.slice(1), env });
  } catch (e) {
    return { crashed: false, code: errorTemp(e) ? 111 : 100 };
  }
  return outcome(waitChildSync(pid));
}

export interface Fed {
  /** Set when the program could not be run (then nothing was fed to it). */
  error?: unknown;
  /** Where copying stopped early: "read" (our input), "write" (the pipe), or undefined. */
  copyFailed?: "read" | "write";
  copyError?: unknown;
  /** Waits for the child: its raw wait status. */
  wait: () => number;
}

/**
 * fork + execvp + a pipe to the child's standard input, as preline.c and
 * qsmhook.c run their command: the child gets head, then our standard input;
 * its standard output and error are ours. A program that cannot be run is
 * reported before anything is fed to it. Returns when the copy is over.
 * Throws the pipe's error.
 */
export function runFed(cmd: readonly Arg[], env: ExecEnv, head: Uint8Array): Fed {
  const [r, w] = pipe();
  let pid: number;
  try {
    pid = startChild({ file: cmd[0] as Arg, args: cmd.slice(1), env, fds: [[0, r]] });
  } catch (error) {
    closeSync(w);
    return { error, wait: () => 0 };
  } finally {
    closeSync(r);
  }
  let copyFailed: Fed["copyFailed"];
  let copyError: unknown;
  try {
    writeFully(w, head);
    const chunks = readChunks(0);
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = chunks.next();
      } catch (e) {
        copyFailed = "read";
        copyError = e;
        break;
      }
      if (next.done) break;
      writeFully(w, next.value);
    }
  } catch (e) {
    copyFailed = "write";
    copyError = e;
  } finally {
    closeSync(w);
  }
  return { copyFailed, copyError, wait: () => waitChildSync(pid) };
}
