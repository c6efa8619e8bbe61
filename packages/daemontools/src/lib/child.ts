// SPDX-License-Identifier: MIT
// Children of supervise and svscan, started like C's fork+execve: posix_spawn
// keeps the environment byte for byte, passes inherited fds through (ours are
// close-on-exec), keeps inherited ignored signals and resets what Bun set.
import { withoutRelay } from "@qts/core/conf";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { inheritFd } from "@qts/sys/exec";
import { firstCandidate } from "@qts/sys/execraw";
import { readdirSync, readFileSync, readlinkSync } from "@qts/sys/fs";
import { spawn as posixSpawn, type SpawnOptions } from "@qts/sys/posixspawn";
import { reap } from "@qts/sys/waitpid";

let environ: Uint8Array[] | undefined;

/**
 * Every fd present at exec time was inheritable, but Bun marks inherited fds
 * above its own first fd close-on-exec at start-up [observed]. Call this first
 * thing in main, before opening anything: it makes the inherited fds (all but
 * Bun's anon_inode fds: epoll, eventfd) inheritable again, as C's children get them.
 */
export function keepInheritedFds(): void {
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith("anon_inode:")) continue;
      inheritFd(fd);
    } catch {}
  }
}

/**
 * The environment this process was started with, as raw "NAME=value" entries
 * (C's environ, which DJB's programs never change); our own relays (core/conf.ts) are dropped.
 */
export function initialEnv(): Uint8Array[] {
  if (environ) return environ;
  const raw = readFileSync("/proc/self/environ");
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0) continue;
    if (i > start) out.push(raw.subarray(start, i));
    start = i + 1;
  }
  if (start < raw.length) out.push(raw.subarray(start));
  environ = withoutRelay(out);
  return environ;
}

export interface ChildOptions extends SpawnOptions {
  /** "NAME=value" entries instead of this process's own environment. */
  env?: readonly (string | Uint8Array)[];
}

/** execve-like start of file (no PATH search); returns the pid or throws the exec error. */
export function startChild(
  file: string | Uint8Array,
  argv: readonly (string | Uint8Array)[],
  opts: ChildOptions = {},
): number {
  return posixSpawn(file, argv, opts.env ?? initialEnv(), { sigDefault: CHILD_SIGDEFAULT, ...opts });
}

/**
 * DJB's pathexec_run as a spawn: a name without "/" is looked up in PATH
 * (default "/bin:/usr/bin"; an empty entry is "."), skipping ENOENT and
 * remembering EACCES/EPERM/EISDIR. Returns the pid or throws the error.
 */
export function startChildPath(
  name: string,
  argv: readonly (string | Uint8Array)[],
  path: string | undefined,
  opts: ChildOptions = {},
): number {
  return firstCandidate(name, path === undefined ? undefined : Buffer.from(path), (f) => startChild(f, argv, opts));
}

let listening = false;
const waiters = new Set<() => void>();

/** Calls fn on every SIGCHLD (Bun's signal event; the handler is reset to default across exec). */
export function onSigchld(fn: () => void): void {
  waiters.add(fn);
  if (listening) return;
  listening = true;
  process.on("SIGCHLD", () => {
    for (const w of waiters) w();
  });
}

/** waitpid(pid, WNOHANG): the wait status once pid has exited, else undefined. */
export function reapChild(pid: number): number | undefined {
  try {
    return reap(pid)?.status;
  } catch {
    // ECHILD: not ours any more (already reaped); treat it as gone.
    return 0;
  }
}

/**
 * Reaps exited children that are not ours by pid: as PID 1 (a container's
 * svscan) every orphan of the tree becomes our child, and C's svscan reaps
 * them with waitpid(-1). waitpid(-1) would race with Bun's own reaping, so
 * the zombies are found in /proc and reaped one pid at a time.
 */
export function reapOrphans(): void {
  const self = String(process.pid);
  for (const name of readdirSync("/proc")) {
    if (name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "latin1");
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 2);
    if (f[0] === "Z" && f[1] === self) reapChild(Number(name));
  }
}
