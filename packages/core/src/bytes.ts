// SPDX-License-Identifier: MIT
// Arguments and environment as the bytes the process was started with. Bun decodes argv and environ
// as UTF-8 (a byte that is not valid UTF-8 becomes U+FFFD); C programs pass the bytes on untouched.
// Here they are "byte strings": one char per byte (latin1), so string code works on them unchanged;
// bytesOf() turns one into the Uint8Array the exec layer passes to execve as is.
import { readFileSync } from "node:fs";
import type { Env } from "./run.ts";

const NOFILE_VAR = "QTS_NOFILE";
let cmdline: Buffer | undefined;
let environ: Buffer | undefined;
let args: string[] | undefined;
let envMap: Map<string, [string, string]> | undefined;

/**
 * Reads /proc/self/cmdline and /proc/self/environ (the bytes as at exec).
 * boot.ts calls it first thing, before setProctitle can overwrite the argv area.
 */
export function captureRaw(): void {
  if (cmdline) return;
  try {
    cmdline = readFileSync("/proc/self/cmdline");
    environ = readFileSync("/proc/self/environ");
  } catch {
    cmdline = Buffer.alloc(0);
    environ = Buffer.alloc(0);
  }
}

function split(b: Buffer): string[] {
  const s = b.toString("latin1");
  const out = s.split("\0");
  if (s.endsWith("\0")) out.pop();
  return out;
}

/** The UTF-8 encoding of text, as a byte string. */
export function byteStr(text: string): string {
  return Buffer.from(text).toString("latin1");
}

/** The text Bun makes of a byte string (invalid UTF-8 as U+FFFD). */
export function textOf(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString();
}

/** A byte string as the bytes to pass to execve. */
export function bytesOf(bytes: string): Buffer {
  return Buffer.from(bytes, "latin1");
}

/**
 * argv (a main's arguments, without argv[0]) as byte strings: each argument
 * that is still what the process was started with keeps its exact bytes;
 * any other is the UTF-8 of its text. The last process.argv.length - 2
 * entries of the command line are the arguments (the multicall entry may
 * have removed a program name before them).
 */
export function rawArgs(argv: readonly string[]): string[] {
  if (!args) {
    captureRaw();
    const all = split(cmdline as Buffer);
    const n = Math.max(0, process.argv.length - 2);
    args = n <= all.length ? all.slice(all.length - n) : [];
  }
  const a = args;
  return argv.map((t, i) => {
    const r = a[i];
    return r !== undefined && textOf(r) === t ? r : byteStr(t);
  });
}

/**
 * env (text, as main gets it) as byte strings, in env's order: a variable
 * whose name and value are still what the process was started with keeps
 * its exact bytes; one set or changed since is the UTF-8 of its text.
 * QTS_NOFILE (boot.ts) is never part of it.
 */
export function rawEnv(env: Env): Record<string, string> {
  if (!envMap) {
    captureRaw();
    envMap = new Map();
    for (const e of split(environ as Buffer)) {
      const eq = e.indexOf("=");
      if (eq <= 0) continue;
      const k = e.slice(0, eq);
      const t = textOf(k);
      if (t !== NOFILE_VAR && !envMap.has(t)) envMap.set(t, [k, e.slice(eq + 1)]);
    }
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k === NOFILE_VAR) continue;
    const r = envMap.get(k);
    // Bun lists a name that is not UTF-8 but cannot read its value (undefined): it is still there.
    if (v === undefined && r && byteStr(k) !== r[0]) out[r[0]] = r[1];
    if (v === undefined) continue;
    if (r && textOf(r[1]) === v) out[r[0]] = r[1];
    else out[byteStr(k)] = byteStr(v);
  }
  return out;
}

/** A byte-string environment as the "NAME=value" entries the exec layer takes. */
export function envBytes(env: Record<string, string | undefined>): Buffer[] {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(Buffer.from(`${k}=${v}`, "latin1"));
  return out;
}
