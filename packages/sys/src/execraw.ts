// SPDX-License-Identifier: MIT
import { NOFILE_VAR, relayEntries, withoutRelay } from "@qts/core/conf";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { errno, libc, ptr } from "./ffi.ts";
import { getrlimit, RLIMIT } from "./rlimit.ts";
import { isSelf } from "./self.ts";

const c = libc({ execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" } });

const ENOENT = 2;
const EPERM = 1;
const EACCES = 13;
const EISDIR = 21;

/** An argument, file name or environment entry: a string is text (UTF-8), a Uint8Array is passed as is. */
export type Arg = string | Uint8Array;
/** The environment: by name (text), or as "NAME=value" entries (core/bytes.ts gives byte-exact ones). */
export type ExecEnv = Env | readonly Arg[];

function bytes(s: Arg): Buffer {
  if (typeof s === "string") return Buffer.from(s);
  return Buffer.isBuffer(s) ? s : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

/** The C strings of strs, NUL-terminated in one block (kept alive in keep): their addresses. */
function cStrings(strs: readonly Uint8Array[], keep: unknown[]): bigint[] {
  let total = 0;
  for (const s of strs) total += s.length + 1;
  const block = Buffer.alloc(total);
  keep.push(block);
  const base = total === 0 ? 0 : ptr(block);
  const out: bigint[] = [];
  let off = 0;
  for (const s of strs) {
    block.set(s, off);
    out.push(BigInt(base + off));
    off += s.length + 1;
  }
  return out;
}

/** A NULL-terminated char *[] of addresses. */
function cArray(addrs: readonly bigint[], keep: unknown[]): BigUint64Array {
  const a = new BigUint64Array(addrs.length + 1);
  a.set(addrs);
  keep.push(a);
  return a;
}

function hasPrefix(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

const PATH = Buffer.from("PATH=");

/**
 * env as "NAME=value" entries without the relays of core/conf.ts (withoutRelay), and the value of PATH
 * (undefined: not set).
 */
export function envEntries(env: ExecEnv): { entries: Buffer[]; path: Buffer | undefined } {
  let entries: Buffer[] = [];
  let path: Buffer | undefined;
  if (Array.isArray(env)) {
    entries = withoutRelay((env as readonly Arg[]).map(bytes));
    for (const b of entries) if (hasPrefix(b, PATH)) return { entries, path: b.subarray(PATH.length) };
  } else {
    const e = env as Env;
    for (const [k, v] of Object.entries(e)) if (v !== undefined) entries.push(Buffer.from(`${k}=${v}`));
    entries = withoutRelay(entries);
    const p = e.PATH;
    if (p !== undefined) path = Buffer.from(p);
  }
  return { entries, path };
}

/** pathexec's candidates for file: itself when it holds "/", else each PATH entry (default "/bin:/usr/bin"). */
export function pathCandidates(file: Arg, path: Buffer | undefined): Buffer[] {
  const f = bytes(file);
  if (f.includes(0x2f)) return [f];
  const p = path ?? Buffer.from("/bin:/usr/bin");
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i < p.length && p[i] !== 0x3a) continue;
    const dir = i > start ? p.subarray(start, i) : Buffer.from(".");
    out.push(Buffer.concat([dir, Buffer.from("/"), f]));
    start = i + 1;
  }
  return out;
}

/**
 * DJB's pathexec_run for a spawn: run is tried on each PATH candidate in turn, skipping ENOENT and
 * remembering EACCES, EPERM and EISDIR; any other error ends the search. Throws the error to report.
 */
export function firstCandidate<T>(file: Arg, path: Buffer | undefined, run: (candidate: Buffer) => T): T {
  let saved: unknown;
  for (const f of pathCandidates(file, path)) {
    try {
      return run(f);
    } catch (e) {
      const code = errnoName(e);
      if (code === "ENOENT") continue;
      saved = e;
      if (code !== "EACCES" && code !== "EPERM" && code !== "EISDIR") throw e;
    }
  }
  throw saved ?? Object.assign(new Error("ENOENT"), { code: "ENOENT" });
}

/**
 * DJB's pathexec_run through libc execve(2) itself: Bun's process.execve
 * closes every fd above 2 before exec [observed: an inherited fd 5 without
 * FD_CLOEXEC was gone], so setlock's lock fd, tcpclient's fds 6 and 7 and
 * qmail-start's pipes would not reach the next program.
 *
 * Everything is built in advance (exec.ts's pathexec calls the result at once;
 * softlimit calls it after setrlimit): the returned function only calls libc
 * execve on each PATH candidate and allocates nothing at all, so it still works
 * under limits that leave Bun no room (a JavaScript object made then can start
 * a garbage collection that needs memory the limits no longer allow). It
 * returns the errno to report when no candidate could run. nofile is the soft
 * RLIMIT_NOFILE to hand to our own programs in NOFILE_VAR; they also get
 * JSC_OPTIONS, and START_OPTIONS when argv names a program that ends soon
 * (core/conf.ts).
 * Strings are text and go out as UTF-8; Uint8Arrays (file, arguments, and
 * env given as entries) go out byte for byte, as C's pathexec passes them.
 */
export function prepareExecve(file: Arg, argv: readonly Arg[], env: ExecEnv, nofile?: bigint): () => number {
  const keep: unknown[] = [];
  const { entries: base, path } = envEntries(env);
  const soft = nofile ?? getrlimit(RLIMIT.NOFILE).soft;
  const relay = [Buffer.from(`${NOFILE_VAR}=${soft}`), ...relayEntries(base, argv).map(bytes)];
  const envp = cStrings([...base, ...relay], keep);
  const plainEnv = cArray(envp.slice(0, base.length), keep);
  const selfEnv = cArray(envp, keep);
  const args = cArray(cStrings(argv.map(bytes), keep), keep);
  const paths = pathCandidates(file, path);
  const files: ReturnType<typeof ptr>[] = [];
  const envs: ReturnType<typeof ptr>[] = [];
  for (const p of paths) {
    const b = Buffer.concat([p, Buffer.from([0])]);
    keep.push(b);
    files.push(ptr(b));
    envs.push(ptr(isSelf(p) ? selfEnv : plainEnv));
  }
  const argp = ptr(args);
  const lib = c();
  errno();
  const run = () => {
    let saved = 0;
    for (let i = 0; i < files.length; i++) {
      lib.execve(files[i] as ReturnType<typeof ptr>, argp, envs[i] as ReturnType<typeof ptr>);
      const e = errno();
      if (e === ENOENT && files.length > 1) continue;
      saved = e;
      if (e !== EACCES && e !== EPERM && e !== EISDIR) break;
    }
    return saved || ENOENT;
  };
  // The buffers the pointers point into live as long as run does. A `void keep` in its body would not
  // do: the build's --minify-syntax drops it, and a garbage collection between preparing and calling
  // freed them (softlimit's exec then ran its child with a bad argv).
  return Object.assign(run, { keep });
}
