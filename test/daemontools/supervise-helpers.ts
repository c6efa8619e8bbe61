// SPDX-License-Identifier: MIT
// Shared by the supervise/svc/svstat/svscan tests: start a supervisor in a temp
// dir, read its status file, wait with bounds, stop exactly what was started.
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { kill, original, ours, run, type Started, start, stdioFd, waitFor } from "../lib/harness.ts";

export const ORIG = {
  supervise: original("supervise"),
  svc: original("svc"),
  svstat: original("svstat"),
  svok: original("svok"),
  svscan: original("svscan"),
  readproctitle: original("readproctitle"),
};

export const OURS = {
  supervise: ours("supervise"),
  svc: ours("svc"),
  svstat: ours("svstat"),
  svok: ours("svok"),
  svscan: ours("svscan"),
  readproctitle: ours("readproctitle"),
  svscanboot: ours("svscanboot"),
};

/** Makes dir/NAME with an executable run script. */
export function service(dir: string, name: string, script: string, down = false): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "run"), `#!/bin/sh\n${script}\n`);
  chmodSync(join(d, "run"), 0o755);
  if (down) writeFileSync(join(d, "down"), "");
  return d;
}

export interface Running {
  proc: Started;
  pid: number;
  errFile: string;
  exited: Promise<number | null>;
  stderr(): string;
}

/** Starts SUPERVISE on svcDir (stdout and stderr to a file beside it), via argv wrapper if given. */
export function startSupervise(supervise: string, svcDir: string, wrap: string[] = []): Running {
  const errFile = `${svcDir}.err`;
  const fd = openSync(errFile, "a");
  const argv = [...wrap, supervise, svcDir];
  const proc = start(argv[0] as string, argv.slice(1), { stdio: ["ignore", stdioFd(fd), stdioFd(fd)] });
  closeSync(fd);
  // the exit code, null when a signal ended it
  const exited = proc.exited.then((r) => (r.signal ? null : r.code));
  live.add(proc);
  exited.then(() => live.delete(proc));
  return { proc, pid: proc.pid, errFile, exited, stderr: () => readFileSync(errFile, "utf8") };
}

const live = new Set<Started>();

/** Kills every supervisor still running (and its child, found from the status file) at the end of a test. */
export function cleanup(dirs: string[]): void {
  for (const d of dirs) {
    const s = status(d);
    if (s?.pid) kill(s.pid);
  }
  for (const p of live) p.kill();
  live.clear();
}

export interface St {
  raw: Buffer;
  sec: bigint;
  pid: number;
  paused: number;
  want: number;
}

export function status(dir: string): St | undefined {
  try {
    const raw = readFileSync(join(dir, "supervise/status"));
    if (raw.length !== 18) return undefined;
    return {
      raw,
      sec: raw.readBigUInt64BE(0),
      pid: raw.readUInt32LE(12),
      paused: raw[16] as number,
      want: raw[17] as number,
    };
  } catch {
    return undefined;
  }
}

/** Waits (bounded) until the status file satisfies cond; returns it or throws with the last one seen. */
export async function waitStatus(dir: string, cond: (s: St) => boolean, ms = 5000): Promise<St> {
  const s = await waitFor(() => {
    const x = status(dir);
    return x && cond(x) ? x : undefined;
  }, ms);
  if (!s) throw new Error(`status of ${dir} never matched; last: ${status(dir)?.raw.toString("hex")}`);
  return s;
}

/** Bytes 12..17 with the pid reduced to running or not: what two supervisors must agree on. */
export function shape(s: St | undefined): string {
  if (!s) return "none";
  return `${s.pid ? "up" : "down"} paused=${s.paused} want=${s.want}`;
}

export async function svc(bin: string, args: string[]) {
  return run(bin, args, { timeout: 5000 });
}

export async function svstat(bin: string, dirs: string[]): Promise<string> {
  return (await run(bin, dirs, { timeout: 5000 })).stdout;
}

/** svstat text with the pid and seconds blanked, for comparing two supervisors. */
export function norm(text: string): string {
  return text.replace(/\(pid \d+\)/g, "(pid P)").replace(/ \d+ seconds/g, " S seconds");
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
}

export function procStatus(pid: number, field: string): string {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s*(.*)$`, "m"));
  return m?.[1] ?? "";
}

/** Direct children of pid: [pid, comm, args] read from /proc. */
export function children(pid: number): { pid: number; comm: string; args: string }[] {
  const out: { pid: number; comm: string; args: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== pid || fields[0] === "Z") continue;
      out.push({
        pid: Number(name),
        comm: readFileSync(`/proc/${name}/comm`, "utf8").trim(),
        args: readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean).join(" "),
      });
    } catch {}
  }
  return out;
}
