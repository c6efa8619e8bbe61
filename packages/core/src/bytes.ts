// SPDX-License-Identifier: MIT
// Arguments and environment as the bytes the process was started with. Bun decodes argv and environ
// as UTF-8 (a byte that is not valid UTF-8 becomes U+FFFD); C programs pass the bytes on untouched.
// Here they are "byte strings": one char per byte (latin1), so string code works on them unchanged;
// bytesOf() turns one into the Uint8Array the exec layer passes to execve as is.
import { closeSync, openSync, readSync } from "@qts/sys/fs";
import { NOFILE_VAR } from "./conf.ts";
import type { Env } from "./run.ts";

let cmdline: Buffer | undefined;
let environ: Buffer | undefined;
let args: [raw: string, text: string][] | undefined;
/** Text name -> [raw name, raw value, text value]. */
let envMap: Map<string, [string, string, string]> | undefined;

/**
 * Reads /proc/self/cmdline and /proc/self/environ (the bytes as at exec), once: on first use, so
 * programs that never ask pay nothing at start-up. Nothing but sys/proctitle.ts writes to the argv
 * area, and setProctitle calls this first; nothing writes to the environ area (setenv and Bun's
 * process.env leave the original strings alone), so the environment is read only when asked for
 * (rawArgs alone reads the command line only).
 */
export function captureRaw(): void {
  rawCmdline();
  rawEnviron();
}

function rawCmdline(): Buffer {
  cmdline ??= slurpOrEmpty("/proc/self/cmdline");
  return cmdline;
}

function rawEnviron(): Buffer {
  environ ??= slurpOrEmpty("/proc/self/environ");
  return environ;
}

/** A /proc file's bytes; none when it cannot be read. */
function slurpOrEmpty(path: string): Buffer {
  try {
    return slurp(path);
  } catch {
    return Buffer.alloc(0);
  }
}

// open+read rather than readFileSync: half the start-up cost in Bun [measured].
function slurp(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    let buf = Buffer.allocUnsafe(8192);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const b = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(b);
        buf = b;
      }
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) return buf.subarray(0, n);
      n += r;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The NUL-separated strings of b, each as a byte string and as Bun's text of it. Two whole-buffer
 * decodings split alike: a NUL byte is never part of an invalid sequence that becomes U+FFFD.
 */
function split(b: Buffer): [raw: string, text: string][] {
  let end = b.length;
  if (end > 0 && b[end - 1] === 0) end--;
  if (end === 0) return [];
  const raw = b.toString("latin1", 0, end).split("\0");
  const text = b.toString("utf8", 0, end).split("\0");
  return raw.map((r, i) => [r, text[i] as string]);
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
    const all = split(rawCmdline());
    const n = Math.max(0, process.argv.length - 2);
    args = n <= all.length ? all.slice(all.length - n) : [];
  }
  const a = args;
  return argv.map((t, i) => {
    const r = a[i];
    return r !== undefined && r[1] === t ? r[0] : byteStr(t);
  });
}

/** The environment at exec, by its name as text: [name bytes, value bytes, value as text]. */
function startEnv(): Map<string, [string, string, string]> {
  const m = new Map<string, [string, string, string]>();
  for (const [e, te] of split(rawEnviron())) {
    const eq = e.indexOf("=");
    if (eq <= 0) continue;
    const teq = te.indexOf("=");
    const t = te.slice(0, teq);
    if (t !== NOFILE_VAR && !m.has(t)) m.set(t, [e.slice(0, eq), e.slice(eq + 1), te.slice(teq + 1)]);
  }
  return m;
}

/**
 * env (text, as main gets it) as byte strings, in env's order: a variable
 * whose name and value are still what the process was started with keeps
 * its exact bytes; one set or changed since is the UTF-8 of its text.
 * NOFILE_VAR (conf.ts) is never part of it.
 */
export function rawEnv(env: Env): Record<string, string> {
  envMap ??= startEnv();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k === NOFILE_VAR) continue;
    const r = envMap.get(k);
    // Bun lists a name that is not UTF-8 but cannot read its value (undefined): it is still there.
    if (v === undefined && r && byteStr(k) !== r[0]) out[r[0]] = r[1];
    if (v === undefined) continue;
    if (r && r[2] === v) out[r[0]] = r[1];
    else out[byteStr(k)] = byteStr(v);
  }
  return out;
}

let exact: boolean | undefined;

/**
 * Whether the arguments and the environment were valid UTF-8 at exec (nearly always): then
 * Bun's text of them is lossless, and text passed on as UTF-8 is the very bytes.
 */
export function textIsExact(): boolean {
  if (exact === undefined) {
    exact = isUtf8(rawCmdline()) && isUtf8(rawEnviron());
  }
  return exact;
}

/**
 * argv (a main's arguments) for the exec layer, byte for byte: the text itself when that is
 * exact (the cheap path), else each argument's bytes (rawArgs).
 */
export function execArgs(argv: readonly string[]): (string | Buffer)[] {
  return textIsExact() ? [...argv] : rawArgs(argv).map(bytesOf);
}

/** env for the exec layer, byte for byte: the text itself when that is exact, else the bytes of its entries. */
export function execEnv(env: Env): Env | Buffer[] {
  return textIsExact() ? env : envBytes(rawEnv(env));
}

/** A byte-string environment as the "NAME=value" entries the exec layer takes. */
export function envBytes(env: Env): Buffer[] {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(Buffer.from(`${k}=${v}`, "latin1"));
  return out;
}

let utf8: TextDecoder | undefined;

/**
 * node:buffer's isUtf8 (well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF), from the decoder every runtime has: loading node:buffer costs a start about 30
 * page faults (BENCHMARKS.md, "Start-up: lazy modules"). test/core/standins.test.ts compares both.
 */
export function isUtf8(b: Uint8Array): boolean {
  // ASCII (nearly every argument, environment and path) needs no decoder: a start's first
  // TextDecoder costs it about 14 page faults (BENCHMARKS.md, "Start-up: trims").
  let i = 0;
  while (i < b.length && (b[i] as number) < 0x80) i++;
  if (i === b.length) return true;
  utf8 ??= new TextDecoder("utf-8", { fatal: true });
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}
