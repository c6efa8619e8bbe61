// SPDX-License-Identifier: MIT
import { SysError } from "@qts/core/errstr";
import { errno, libc, ptr } from "./ffi.ts";

const WNOHANG = 1;
const EINTR = 4;

const c = libc({ waitpid: { args: ["i32", "ptr", "i32"], returns: "i32" } });

export interface Reaped {
  pid: number;
  /** The raw wait status. */
  status: number;
}

/**
 * waitpid(pid, WNOHANG) for one specific child (never -1: that would race
 * with Bun reaping the children it spawned itself). Returns undefined while
 * the child runs; throws SysError (ECHILD when it is not our child).
 */
export function reap(pid: number): Reaped | undefined {
  const st = new Int32Array(1);
  for (;;) {
    const r = c().waitpid(pid, ptr(st), WNOHANG);
    if (r > 0) return { pid: r, status: st[0] as number };
    if (r === 0) return undefined;
    const e = errno();
    if (e !== EINTR) throw new SysError("waitpid", e);
  }
}

/**
 * Resolves with pid's raw wait status: reap() now and then (every 5 ms), so the event loop runs on
 * meanwhile. A pid that is not our child resolves as 0x7f, a status no exit gives (crashed).
 */
export function waitAsync(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const wait = () => {
      let st: Reaped | undefined;
      try {
        st = reap(pid);
      } catch {
        st = { pid, status: 0x7f };
      }
      if (st) resolve(st.status);
      else setTimeout(wait, 5);
    };
    wait();
  });
}

/** waitpid(pid, 0): waits for pid to end (EINTR retried) and gives its raw wait status. */
export function waitStatus(pid: number): number {
  const st = new Int32Array(1);
  for (;;) {
    const r = c().waitpid(pid, ptr(st), 0);
    if (r === pid) return st[0] as number;
    if (r < 0 && errno() === EINTR) continue;
    throw new SysError("waitpid", r < 0 ? errno() : 10);
  }
}

/** The signal that killed the child, or 0 if it exited. */
export function termSig(status: number): number {
  return status & 0x7f;
}

/** The exit code of a child that exited (valid when termSig is 0). */
export function exitCode(status: number): number {
  return (status >> 8) & 0xff;
}
