// SPDX-License-Identifier: MIT
// Shared helpers for black-box tests: real programs, temp dirs, free ports.

import { afterAll } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { execa, type Options } from "execa";

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
