// SPDX-License-Identifier: MIT
// fork + execvp + wait_pid, as the small .qmail helpers (except, bouncesaying,
// condredirect) run their program: the child's exec failure is its exit 111
// (temporary errno) or 100.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, readSync, writeSync } from "node:fs";
import { errnoName, errorTemp } from "@qts/core/errstr";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { pipe } from "@qts/sys/pipe";

export type ChildResult = { crashed: true } | { crashed: false; code: number };

/** Runs argv[0] (searched in PATH) with fds 0-2 shared, and waits. */
export function runChild(argv: string[], env: Env): ChildResult {
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: "inherit", env: env as NodeJS.ProcessEnv });
  if (r.error) return { crashed: false, code: errorTemp(r.error) ? 111 : 100 };
  if (r.signal || r.status === null) return { crashed: true };
  return { crashed: false, code: r.status };
}

/** Reads fd to EOF in chunks (retrying EINTR/EAGAIN); read errors are thrown. */
export function* readChunks(fd: number, size = 65536): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, size, null);
    } catch (e) {
      const c = errnoName(e);
      if (c === "EINTR") continue;
      if (c === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      throw e;
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

export interface Ended {
  /** The exec failure, when the program could not be run. */
  error?: unknown;
  code: number | null;
  signal: string | null;
}

export interface Fed {
  /** Set when the program could not be run (then nothing was fed to it). */
  error?: unknown;
  /** Where copying stopped early: "read" (our input), "write" (the pipe), or undefined. */
  copyFailed?: "read" | "write";
  copyError?: unknown;
  /** The child's end. */
  ended: Promise<Ended>;
}

function writeFully(fd: number, b: Uint8Array): void {
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
 * fork + execvp + a pipe to the child's standard input, as preline.c and
 * qsmhook.c run their command: the child gets head, then our standard input;
 * its standard output and error are ours. A program that cannot be run is
 * reported before anything is fed to it. Returns when the copy is over.
 */
export async function runFed(cmd: string[], env: Env, head: Uint8Array): Promise<Fed> {
  const [r, w] = pipe();
  const child = spawn(cmd[0] as string, cmd.slice(1), {
    stdio: [r, "inherit", "inherit"],
    env: env as NodeJS.ProcessEnv,
  });
  const done = new Promise<Ended>((ok) => {
    child.once("error", (error) => ok({ error, code: null, signal: null }));
    child.once("exit", (code, signal) => ok({ code, signal }));
  });
  closeSync(r);
  if (child.pid === undefined) {
    closeSync(w);
    const res = await done;
    return { error: res.error ?? new Error("spawn failed"), ended: done };
  }
  let copyFailed: Fed["copyFailed"];
  let copyError: unknown;
  const buf = Buffer.allocUnsafe(65536);
  try {
    writeFully(w, head);
    for (;;) {
      let n: number;
      try {
        n = readChunk(0, buf);
      } catch (e) {
        if (errnoName(e) === "EAGAIN") {
          Bun.sleepSync(1);
          continue;
        }
        copyFailed = "read";
        copyError = e;
        break;
      }
      if (n === 0) break;
      writeFully(w, buf.subarray(0, n));
    }
  } catch (e) {
    copyFailed = "write";
    copyError = e;
  } finally {
    closeSync(w);
  }
  return { copyFailed, copyError, ended: done };
}
