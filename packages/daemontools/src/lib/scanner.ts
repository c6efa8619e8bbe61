// SPDX-License-Identifier: MIT
// svscan's table of services (svscan(8), svscan.c): one supervise per
// directory, identified by (dev, ino), plus "supervise log" fed by a pipe that
// svscan holds for as long as the entry exists, so no line is lost when either side restarts.
import { bytesOf, textOf } from "@qts/core/bytes";
import { warnUnable } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { type BigIntStats, closeSync, constants, openSync, readdirSync, statSync, writeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { reapChild, reapOrphans, startChildPath } from "./child.ts";

export const SERVICES = 1000;

interface Service {
  key: string;
  /** The directory's name, as a byte string. */
  name: string;
  active: boolean;
  log: boolean;
  pid: number;
  pidlog: number;
  pi: [number, number];
}

export class Scanner {
  readonly services: Service[] = [];

  constructor(private readonly path: string | undefined) {}

  /** Whether the last scan() started a supervise (work: memory at rest, core/rest.ts). */
  started = false;

  /** One pass: reap, read ".", start what is missing, forget what is gone. */
  scan(): void {
    this.started = false;
    for (const s of this.services) {
      if (s.pid && reapChild(s.pid) !== undefined) s.pid = 0;
      if (s.pidlog && reapChild(s.pidlog) !== undefined) s.pidlog = 0;
    }
    if (process.pid === 1) reapOrphans();
    for (const s of this.services) s.active = false;
    // Service names as byte strings (core/bytes.ts): supervise gets a name's own bytes.
    let names: string[];
    try {
      names = readdirSync(".", "latin1");
    } catch (e) {
      warnUnable("read directory", e);
      return;
    }
    for (const name of names) this.start(name);
    for (let i = 0; i < this.services.length; ) {
      const s = this.services[i] as Service;
      if (!s.active && !s.pid && !s.pidlog) {
        if (s.log) {
          closeSync(s.pi[0]);
          closeSync(s.pi[1]);
        }
        this.services[i] = this.services[this.services.length - 1] as Service;
        this.services.pop();
        continue;
      }
      i++;
    }
  }

  private start(raw: string): void {
    if (raw.startsWith(".")) return;
    const fn = textOf(raw);
    const path = bytesOf(raw);
    let st: BigIntStats;
    try {
      st = statSync(path, { bigint: true });
    } catch (e) {
      warnUnable(`stat ${fn}`, e);
      return;
    }
    if (!st.isDirectory()) return;
    const key = `${st.dev}:${st.ino}`;
    const s = this.services.find((x) => x.key === key) ?? this.add(key, raw);
    if (!s) return;
    s.active = true;
    if (!s.pid) this.startService(s, fn, path);
    if (s.log && !s.pidlog) this.startLog(s, fn, path);
  }

  /** A new entry for the directory raw, with the pipe to its log if it has one; undefined after a warning. */
  private add(key: string, raw: string): Service | undefined {
    const fn = textOf(raw);
    if (this.services.length >= SERVICES) {
      warnUnable(`start ${fn}: running too many services`);
      return undefined;
    }
    const log = hasLog(raw);
    if (log === undefined) return undefined;
    let pi: [number, number] = [-1, -1];
    if (log) {
      try {
        pi = pipe();
      } catch (e) {
        warnUnable(`create pipe for ${fn}`, e);
        return undefined;
      }
    }
    const s: Service = { key, name: raw, active: false, log, pid: 0, pidlog: 0, pi };
    this.services.push(s);
    return s;
  }

  private startService(s: Service, fn: string, path: Buffer): void {
    try {
      s.pid = startChildPath("supervise", ["supervise", path], this.path, s.log ? { dup2: [[1, s.pi[1]]] } : {});
      this.started = true;
    } catch (e) {
      if (forkError(e)) {
        warnUnable(`fork for ${fn}`, e);
        return;
      }
      // C's forked child says this and exits 111; the next scan tries again either way.
      warnUnable(`start supervise ${fn}`, e);
    }
  }

  private startLog(s: Service, fn: string, path: Buffer): void {
    try {
      s.pidlog = startChildPath("supervise", ["supervise", "log"], this.path, {
        dup2: [[0, s.pi[0]]],
        cwd: path,
      });
      this.started = true;
    } catch (e) {
      if (forkError(e)) warnUnable(`fork for ${fn}/log`, e);
      else if (!isDir(path)) warnUnable(`switch to ${fn}`, e);
      else warnUnable(`start supervise ${fn}/log`, e);
    }
  }
}

/** Whether the directory raw has a log (svscan.c looks only when the name fits 255 bytes); undefined after a warning. */
function hasLog(raw: string): boolean | undefined {
  if (bytesOf(raw).length > 255) return false;
  try {
    statSync(bytesOf(`${raw}/log`));
    return true;
  } catch (e) {
    if (errnoName(e) === "ENOENT") return false;
    warnUnable(`stat ${textOf(raw)}/log`, e);
    return undefined;
  }
}

/**
 * svscan as PID 1 on SIGTERM, SIGINT or SIGHUP: every service down, then every logger, so that
 * each logger reads what its service wrote last. Services get svc -dx; after waitMs the rest get
 * svc -k. Loggers get svc -x only, and svscan closes its ends of their pipes: each logger reads to
 * the end of its input and exits by itself, and its supervise with it. Resolves true when all
 * ended within the bounds, false when something had to be killed or outlived them.
 */
export async function shutdown(scanner: Scanner, waitMs: number): Promise<boolean> {
  const control = (dir: string, cmd: string) => {
    try {
      const fd = openSync(bytesOf(`${dir}/supervise/control`), constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, cmd);
      } finally {
        closeSync(fd);
      }
    } catch {}
  };
  const gone = (which: "pid" | "pidlog", ms: number) => allGone(scanner, which, ms);
  let clean = true;
  for (const s of scanner.services) if (s.pid) control(s.name, "dx");
  if (!(await gone("pid", waitMs))) {
    clean = false;
    for (const s of scanner.services) if (s.pid) control(s.name, "kx");
    await gone("pid", 1000);
  }
  for (const s of scanner.services) {
    if (!s.log) continue;
    if (s.pidlog) control(`${s.name}/log`, "x");
    closeSync(s.pi[0]);
    closeSync(s.pi[1]);
    s.log = false;
  }
  if (!(await gone("pidlog", waitMs))) {
    clean = false;
    for (const s of scanner.services) if (s.pidlog) control(`${s.name}/log`, "dx");
    await gone("pidlog", 1000);
  }
  return clean;
}

/** Reaps until every service's which has ended (true) or ms have passed (false); as PID 1, orphans too. */
async function allGone(scanner: Scanner, which: "pid" | "pidlog", ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    let left = 0;
    for (const s of scanner.services) {
      if (s[which] && reapChild(s[which]) !== undefined) s[which] = 0;
      if (s[which]) left++;
    }
    if (process.pid === 1) reapOrphans();
    if (left === 0) return true;
    if (Date.now() > end) return false;
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

function forkError(e: unknown): boolean {
  const c = errnoName(e);
  return c === "EAGAIN" || c === "ENOMEM";
}

function isDir(p: Buffer): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
