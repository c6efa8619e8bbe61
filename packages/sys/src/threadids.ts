// SPDX-License-Identifier: MIT
// The calling thread's user and group ids, switched for the span of one call.
// Linux keeps credentials per thread; glibc's setuid() changes every thread of
// the process, the raw system calls only the caller. A child started by
// posix_spawn (clone) on this thread gets the switched ids, as a C child that
// called setgid+setuid after fork would, while the process itself stays root.
import { SysError } from "@qts/core/errstr";
import { errno, libc, ptr } from "./ffi.ts";
import { readdirSync, readFileSync } from "./fs.ts";
import { sysno } from "./sysno.ts";

const c = libc({ syscall: { args: ["i64", "i64", "i64", "i64"], returns: "i64" } });
// glibc's own wrappers, which set the ids on every thread of the process (nptl's setxid broadcast).
const all = libc({
  setresuid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setgroups: { args: ["u64", "ptr"], returns: "i32" },
});

/** The process's thread ids, as /proc/self/task lists them. */
function threadIds(): string[] {
  return readdirSync("/proc/self/task");
}

const UID = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m;

/** Whether one of the threads tids has real, effective or saved uid other than these. */
function strayThread(tids: readonly string[], ruid: number, euid: number, suid: number): boolean {
  for (const t of tids) {
    let m: RegExpExecArray | null;
    try {
      m = UID.exec(readFileSync(`/proc/self/task/${t}/status`, "latin1"));
    } catch {
      continue; // gone meanwhile
    }
    if (m && (Number(m[1]) !== ruid || Number(m[2]) !== euid || Number(m[3]) !== suid)) return true;
  }
  return false;
}

function sys(name: string, nr: number, a: number | bigint, b: number | bigint = 0, d: number | bigint = 0): number {
  const r = Number(c().syscall(nr, a, b, d));
  if (r < 0) throw new SysError(name, errno());
  return r;
}

function getres(nr: number, name: string): [number, number, number] {
  const v = new Uint32Array(3);
  const p = ptr(v);
  sys(name, nr, p, p + 4, p + 8);
  return [v[0] as number, v[1] as number, v[2] as number];
}

/** The thread's ids could not be switched back: the process must not go on. */
export class ThreadIdsLost extends Error {}

/**
 * Runs fn with the calling thread's groups set to [gid] and its real and
 * effective ids to gid and uid (qmail's prot_gid + prot_uid), then restores
 * them. The saved uid stays what it was so the switch back is allowed; a
 * program the thread execs meanwhile gets uid as its saved uid too. Throws
 * SysError when a switch fails, ThreadIdsLost when the switch back fails.
 */
export function withThreadIds<T>(uid: number, gid: number, fn: () => T): T {
  const [ruid, euid, suid] = getres(sysno("getresuid"), "getresuid");
  const [rgid, egid, sgid] = getres(sysno("getresgid"), "getresgid");
  const n = sys("getgroups", sysno("getgroups"), 0, 0);
  const groups = new Uint32Array(Math.max(n, 1));
  const got = n ? sys("getgroups", sysno("getgroups"), n, ptr(groups)) : 0;
  const before = new Set(threadIds());
  const restore = () => {
    try {
      sys("setresuid", sysno("setresuid"), ruid, euid, suid);
      sys("setresgid", sysno("setresgid"), rgid, egid, sgid);
      sys("setgroups", sysno("setgroups"), got, ptr(groups));
      // A thread that the runtime started meanwhile (a JIT or GC helper, created on demand by this
      // thread) inherited the switched ids and would keep them [observed: a JITWorker left with
      // qmailr's uid made qmail-start's later setuid abort in glibc]. The process-wide wrappers put
      // every thread back: such a thread may return to its saved uid, which the switch kept as ours.
      // The threads are listed before and after, so a thread started within the span is seen even
      // when another one ended meanwhile; only the new ones' ids are looked at.
      const fresh = threadIds().filter((t) => !before.has(t));
      if (fresh.length && strayThread(fresh, ruid, euid, suid)) {
        if (all().setresuid(ruid, euid, suid) < 0) throw new SysError("setresuid", errno());
        if (all().setresgid(rgid, egid, sgid) < 0) throw new SysError("setresgid", errno());
        if (all().setgroups(got, ptr(groups)) < 0) throw new SysError("setgroups", errno());
      }
    } catch (e) {
      throw new ThreadIdsLost(`unable to restore thread ids: ${(e as Error).message}`);
    }
  };
  const one = new Uint32Array([gid]);
  sys("setgroups", sysno("setgroups"), 1, ptr(one));
  try {
    sys("setresgid", sysno("setresgid"), gid, gid, -1);
    sys("setresuid", sysno("setresuid"), uid, uid, -1);
  } catch (e) {
    restore();
    throw e;
  }
  try {
    return fn();
  } finally {
    restore();
  }
}
