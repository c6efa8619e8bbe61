// SPDX-License-Identifier: MIT
// Shared helpers for black-box tests: real programs, temp dirs, free ports.
//
// Tests run programs only through this file (run, runSync, runBytes, runSyncBytes, start), all built
// on execa, never node:child_process or Bun.spawn directly: every run is bounded by a timeout, a
// failing program is a Result to assert on rather than a thrown error, and a background process is
// killed by its pid (never by name), with whatever a test leaves running killed after the file.
// Note execa's `env` extends process.env; pass `extendEnv: false` for exactly the given environment.

import { afterAll } from "bun:test";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { execa, execaSync, type Options, type SyncOptions } from "execa";
import split2 from "split2";

export const ROOT = resolve(import.meta.dir, "../..");

/**
 * Our bin/, as the tests run it. Tests run programs as qmail's users and others, who must reach
 * the executable: a checkout under a directory closed to others (root's clone in /root, mode 700)
 * gets its bin/ installed once into a temp dir they can reach (the executable hard-linked, or
 * copied across filesystems, with the program links), removed when the test process exits.
 */
function reachableBin(bin: string): string {
  let open = true;
  for (let d = bin; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) open = false;
    } catch {
      open = false;
    }
    if (d === "/" || !open) break;
  }
  if (open || !existsSync(join(bin, "qts"))) return bin;
  const to = mkdtempSync(join(tmpdir(), "qts-bin-"));
  chmodSync(to, 0o755);
  try {
    linkSync(join(bin, "qts"), join(to, "qts"));
  } catch {
    copyFileSync(join(bin, "qts"), join(to, "qts"));
  }
  chmodSync(join(to, "qts"), 0o755);
  for (const f of readdirSync(bin)) {
    try {
      if (readlinkSync(join(bin, f)) === "qts") symlinkSync("qts", join(to, f));
    } catch {}
  }
  process.on("exit", () => rmSync(to, { recursive: true, force: true }));
  return to;
}

export const BIN = reachableBin(join(ROOT, "bin"));

/** Absolute path of our program NAME in bin/. */
export function ours(name: string): string {
  return join(BIN, name);
}

/** Absolute path of Debian's original NAME, or undefined when not installed. */
export function original(name: string): string | undefined {
  for (const d of ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir, removed after the test file. */
export function tmp(prefix = "qts-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export interface Result {
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (bounded by timeout), never throwing on failure. */
export async function run(
  file: string,
  args: string[] = [],
  opts: Options & { input?: string | Buffer } = {},
): Promise<Result> {
  const r = await execa(file, args, {
    reject: false,
    timeout: 20_000,
    stripFinalNewline: false,
    encoding: "utf8",
    ...opts,
  } as Options);
  return {
    code: (r.exitCode ?? -1) as number,
    signal: r.signal ?? undefined,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
}

/**
 * An open file descriptor as a child's stdio entry, e.g. `stdio: [stdioFd(fd), "pipe", "pipe"]`: execa
 * passes any integer through as that very fd (a seekable file, a real pipe), but its types allow only
 * 0 for stdin and 1 or 2 for stdout and stderr; typed `never` so that it fits every position.
 */
export function stdioFd(fd: number): never {
  return fd as never;
}

/** Result with stdout and stderr as the raw bytes. */
export interface BytesResult {
  code: number;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

type RunOptions = Options & { input?: string | Buffer | Uint8Array };
type RunSyncOptions = SyncOptions & { input?: string | Buffer | Uint8Array };

function bytes(v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(String(v ?? ""), "latin1");
}

/** Like run(), synchronously (execaSync): bounded by timeout (20 s unless given), never throwing. */
export function runSync(file: string, args: string[] = [], opts: RunSyncOptions = {}): Result {
  const r = execaSync(file, args, {
    reject: false,
    timeout: 20_000,
    stripFinalNewline: false,
    encoding: "utf8",
    ...opts,
  } as SyncOptions);
  return {
    code: (r.exitCode ?? -1) as number,
    signal: r.signal ?? undefined,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
}

/** Like run(), with stdout and stderr as Buffers, byte for byte. */
export async function runBytes(file: string, args: string[] = [], opts: RunOptions = {}): Promise<BytesResult> {
  const r = await execa(file, args, {
    reject: false,
    timeout: 20_000,
    stripFinalNewline: false,
    ...opts,
    encoding: "buffer",
  } as Options);
  return {
    code: (r.exitCode ?? -1) as number,
    signal: r.signal ?? undefined,
    stdout: bytes(r.stdout),
    stderr: bytes(r.stderr),
  };
}

/** Like runSync(), with stdout and stderr as Buffers, byte for byte. */
export function runSyncBytes(file: string, args: string[] = [], opts: RunSyncOptions = {}): BytesResult {
  const r = execaSync(file, args, {
    reject: false,
    timeout: 20_000,
    stripFinalNewline: false,
    ...opts,
    encoding: "buffer",
  } as SyncOptions);
  return {
    code: (r.exitCode ?? -1) as number,
    signal: r.signal ?? undefined,
    stdout: bytes(r.stdout),
    stderr: bytes(r.stderr),
  };
}

/** A program start() left running in the background. */
export interface Started {
  pid: number;
  /** stdout (when piped) read so far, decoded as utf8, or as enc. */
  stdout(enc?: BufferEncoding): string;
  /** stderr (when piped) read so far. */
  stderr(enc?: BufferEncoding): string;
  /** stdout and stderr (when piped) read so far, interleaved as they arrived. */
  all(enc?: BufferEncoding): string;
  /**
   * The lines of stdout and stderr (when piped) so far, each stream split on its own (split2: utf8,
   * on LF or CRLF, a last line without LF once the stream ends) and the lines interleaved in the
   * order they were completed: a text log that a program and its children write to both.
   */
  lines(): string[];
  /** Waits until stdout (or stderr) holds want, or timeoutMs passes; returns that stream's text so far. */
  until(want: string | RegExp, timeoutMs?: number, from?: "stdout" | "stderr"): Promise<string>;
  /**
   * Waits until stdout (or stderr) is at its end, every holder of its writing end having closed it
   * (the program may still run), or timeoutMs passes; true at the end.
   */
  eof(from?: "stdout" | "stderr", timeoutMs?: number): Promise<boolean>;
  /** Writes to stdin (when piped); settles once the pipe takes more (drain), or it closes. */
  write(data: string | Uint8Array): Promise<void>;
  /** Closes stdin (when piped). */
  end(): void;
  /** Settles when the program exits, with its code, signal and all its piped output. */
  exited: Promise<Result>;
  /** Waits for the exit at most timeoutMs, then kills it (SIGKILL, by pid) and waits for that. */
  wait(timeoutMs?: number): Promise<Result>;
  /** Sends sig (SIGKILL unless given) to exactly this pid. */
  kill(sig?: NodeJS.Signals): void;
}

const running = new Set<number>();
afterAll(() => {
  for (const pid of running) kill(pid);
  running.clear();
});

/**
 * Starts a program in the background (execa). stdin is /dev/null and stdout a pipe unless opts say
 * otherwise (stderr a pipe too); stdio entries may be fds or execa's { file } targets. No timeout
 * unless opts give one: the test kills it by pid, and whatever still runs after the file is killed.
 */
export function start(file: string, args: string[] = [], opts: Options = {}): Started {
  // A { file } stdout or stderr is opened here and given to the program as that fd, as Bun.file was:
  // execa would relay it through this process.
  const direct: Record<string, number> = {};
  for (const k of ["stdout", "stderr"] as const) {
    const v = opts[k] as { file?: string; append?: boolean } | undefined;
    if (v && typeof v === "object" && typeof v.file === "string") direct[k] = openSync(v.file, v.append ? "a" : "w");
  }
  let p: ReturnType<typeof execa>;
  try {
    p = execa(file, args, {
      reject: false,
      ...(opts.stdio === undefined && opts.stdin === undefined && opts.input === undefined ? { stdin: "ignore" } : {}),
      buffer: false,
      stripFinalNewline: false,
      ...opts,
      ...direct,
    } as Options);
  } finally {
    for (const fd of Object.values(direct)) closeSync(fd);
  }
  const pid = p.pid as number;
  if (pid) running.add(pid);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const both: Buffer[] = [];
  const lines: string[] = [];
  const ended = { stdout: false, stderr: false };
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  p.stdout?.on("data", (d: Buffer) => {
    out.push(d);
    both.push(d);
    wake();
  });
  p.stderr?.on("data", (d: Buffer) => {
    err.push(d);
    both.push(d);
    wake();
  });
  for (const k of ["stdout", "stderr"] as const) {
    p[k]?.once("end", () => {
      ended[k] = true;
      wake();
    });
    p[k]?.pipe(split2()).on("data", (l: string) => {
      lines.push(l);
      wake();
    });
  }
  const text = (b: Buffer[], enc: BufferEncoding = "utf8") => Buffer.concat(b).toString(enc);
  // Sleeps until output comes, a stream ends, the program exits, or the time end.
  const nap = (end: number) =>
    new Promise<void>((ok) => {
      const t = setTimeout(w, Math.max(1, end - Date.now()));
      function w() {
        clearTimeout(t);
        waiters.delete(w);
        ok();
      }
      waiters.add(w);
    });
  // The exit itself, as Bun's `exited`: execa's own promise also waits for the pipes to close,
  // which a grandchild that keeps them open would hold up. After the exit, the output still in
  // the stdout and stderr pipes is read until they close, or for at most 2 s.
  let done = false;
  const exited = new Promise<Result>((ok) => {
    let code = -1;
    let signal: string | undefined;
    let exitSeen = false;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const streams = [p.stdout, p.stderr].filter((x) => x !== null && x !== undefined);
    let open = streams.length;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      wake();
      ok({ code, signal, stdout: text(out), stderr: text(err) });
    };
    for (const st of streams)
      st.once("close", () => {
        open--;
        if (exitSeen && open === 0) settle();
      });
    p.once("exit", (c, sig) => {
      done = true;
      exitSeen = true;
      running.delete(pid);
      code = c ?? -1;
      signal = sig ?? undefined;
      if (open === 0) settle();
      else timer = setTimeout(settle, 2000);
    });
    // a program that could not be started: no exit event
    p.once("close", () => {
      done = true;
      running.delete(pid);
      settle();
    });
  });
  void p.catch(() => {});
  const self: Started = {
    pid,
    stdout: (enc) => text(out, enc),
    stderr: (enc) => text(err, enc),
    all: (enc) => text(both, enc),
    lines: () => lines,
    async until(want, timeoutMs = 5000, from = "stdout") {
      const end = Date.now() + timeoutMs;
      const now = () => text(from === "stdout" ? out : err);
      const has = () => (typeof want === "string" ? now().includes(want) : want.test(now()));
      while (!has() && !done && Date.now() < end) {
        await nap(end);
      }
      return now();
    },
    async eof(from = "stdout", timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (!ended[from] && Date.now() < end) {
        await nap(end);
      }
      return ended[from];
    },
    write(data) {
      const s = p.stdin;
      if (!s || s.write(data)) return Promise.resolve();
      return new Promise<void>((ok) => {
        s.once("drain", ok);
        s.once("close", ok);
      });
    },
    end() {
      p.stdin?.end();
    },
    exited,
    async wait(timeoutMs = 20_000) {
      const t = setTimeout(() => kill(pid), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
    kill: (sig = "SIGKILL") => {
      if (!done) kill(pid, sig);
    },
  };
  return self;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return await new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

/** Polls cond every 20 ms until it is truthy or timeoutMs passes; returns its last value. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v || Date.now() > end) return v;
    await Bun.sleep(20);
  }
}

/** Kills exactly this pid (never by name); ignores a pid that is already gone. */
export function kill(pid: number | undefined, sig: NodeJS.Signals = "SIGKILL"): void {
  if (!pid) return;
  try {
    process.kill(pid, sig);
  } catch {}
}

/** Reads a child's stdout until it holds `want` (or timeoutMs passes); returns all text read so far. */
export async function readUntil(
  stream: ReadableStream<Uint8Array>,
  want: string | RegExp,
  timeoutMs = 5000,
  reader = stream.getReader(),
): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  const end = Date.now() + timeoutMs;
  const has = () => (typeof want === "string" ? text.includes(want) : want.test(text));
  while (!has() && Date.now() < end) {
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(1, end - Date.now())).then(() => undefined)]);
    if (!r || r.done) break;
    text += dec.decode(r.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

/**
 * Shell functions for tests that run a tree in a private mount namespace (unshare -m):
 * - mask_originals DIR: every program of Debian's daemontools and ucspi-tcp becomes a stub that
 *   notes its call in DIR/originals-called and fails, so a tree that ran one shows it;
 * - tree_exes PID: "pid comm exe" for PID and each of its descendants.
 */
export const TREE_SH = `
mask_originals() {
  printf '#!/bin/sh\\necho "$0" >> "%s/originals-called"\\nexit 111\\n' "$1" > "$1/original-stub"
  chmod 755 "$1/original-stub"
  for f in $(dpkg -L daemontools ucspi-tcp 2>/dev/null | grep -E '^/usr/s?bin/|^/s?bin/'); do
    [ -f "$f" ] && mount --bind "$1/original-stub" "$f"
  done
  return 0
}
tree_exes() {
  local all="$1" next p c
  next="$1"
  while [ -n "$next" ]; do
    c=""
    for p in $next; do c="$c $(cat /proc/$p/task/*/children 2>/dev/null)"; done
    next=$(echo $c)
    all="$all $next"
  done
  for p in $all; do
    [ -e "/proc/$p/exe" ] && echo "$p $(cat /proc/$p/comm 2>/dev/null) $(readlink /proc/$p/exe 2>/dev/null)"
  done
  return 0
}
`;
