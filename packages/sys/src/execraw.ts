// SPDX-License-Identifier: MIT
import { ptr } from "bun:ffi";
import { realpathSync } from "node:fs";
import { SysError } from "@qts/core/errstr";
import { errno, libc } from "./ffi.ts";
import { getrlimit, RLIMIT } from "./rlimit.ts";

const c = libc({ execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" } });

const ENOENT = 2;
const EPERM = 1;
const EACCES = 13;
const EISDIR = 21;

function cArray(strs: readonly string[], keep: unknown[]): BigUint64Array {
  const a = new BigUint64Array(strs.length + 1);
  strs.forEach((s, i) => {
    const b = Buffer.from(`${s}\0`);
    keep.push(b);
    a[i] = BigInt(ptr(b));
  });
  keep.push(a);
  return a;
}

/**
 * DJB's pathexec_run through libc execve(2) itself: Bun's process.execve
 * closes every fd above 2 before exec [observed: an inherited fd 5 without
 * FD_CLOEXEC was gone], so setlock's lock fd, tcpclient's fds 6 and 7 and
 * qmail-start's pipes would not reach the next program.
 *
 * Everything is built in advance (exec.ts's pathexec calls the result at once;
 * softlimit calls it after setrlimit): the
 * returned function only calls libc execve on each PATH candidate, so it
 * still works after setrlimit has left Bun no room to allocate. It returns
 * the error to report when no candidate could run. nofile is the soft
 * RLIMIT_NOFILE to hand to our own programs in QTS_NOFILE (boot.ts).
 */
export function preparePathexec(
  file: string,
  argv: readonly string[],
  env: Record<string, string | undefined>,
  nofile?: bigint,
): () => SysError {
  const keep: unknown[] = [];
  const base: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined && k !== "QTS_NOFILE") base.push(`${k}=${v}`);
  const soft = nofile ?? getrlimit(RLIMIT.NOFILE).soft;
  const plainEnv = cArray(base, keep);
  const selfEnv = cArray([...base, `QTS_NOFILE=${soft}`], keep);
  const args = cArray(argv, keep);
  let self = "";
  try {
    self = realpathSync(process.execPath);
  } catch {}
  const paths = file.includes("/")
    ? [file]
    : (env.PATH ?? "/bin:/usr/bin").split(":").map((d) => `${d === "" ? "." : d}/${file}`);
  const tries = paths.map((p) => {
    let isSelf = false;
    try {
      isSelf = realpathSync(p) === self;
    } catch {}
    const b = Buffer.from(`${p}\0`);
    keep.push(b);
    return { path: ptr(b), env: ptr(isSelf ? selfEnv : plainEnv) };
  });
  const argp = ptr(args);
  const lib = c();
  errno();
  return () => {
    let saved = 0;
    for (const t of tries) {
      lib.execve(t.path, argp, t.env);
      const e = errno();
      if (e === ENOENT && tries.length > 1) continue;
      saved = e;
      if (e !== EACCES && e !== EPERM && e !== EISDIR) break;
    }
    void keep;
    return new SysError("execve", saved || ENOENT);
  };
}
