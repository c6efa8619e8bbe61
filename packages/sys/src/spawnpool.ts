// SPDX-License-Identifier: MIT
// posix_spawn on worker threads. glibc's posix_spawn is clone(CLONE_VFORK):
// the calling thread sleeps until the child has exec'd (about 1 ms for a
// small C program), so a server that spawns on its main thread can start at
// most ~1000 children a second and accepts nothing meanwhile. C's fork()
// returns at once. Here each spawn runs on one of a few worker threads, so
// the main thread keeps accepting and several children exec in parallel.
import { SysError } from "@qts/core/errstr";
import { spawn as spawnSync } from "./posixspawn.ts";

// The worker: same calls and semantics as posixspawn.ts spawn(), attributes built once. A string is
// text (UTF-8), a Uint8Array is passed byte for byte.
const WORKER = `
import { dlopen, ptr } from "bun:ffi";
const L = dlopen("libc.so.6", {
  posix_spawn: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  posix_spawnattr_init: { args: ["ptr"], returns: "i32" },
  posix_spawnattr_setflags: { args: ["ptr", "i16"], returns: "i32" },
  posix_spawnattr_setsigdefault: { args: ["ptr", "ptr"], returns: "i32" },
  posix_spawnattr_setsigmask: { args: ["ptr", "ptr"], returns: "i32" },
  posix_spawn_file_actions_init: { args: ["ptr"], returns: "i32" },
  posix_spawn_file_actions_destroy: { args: ["ptr"], returns: "i32" },
  posix_spawn_file_actions_adddup2: { args: ["ptr", "i32", "i32"], returns: "i32" },
}).symbols;
const attrs = new Map();
function attrFor(sigs) {
  const key = sigs.join(",");
  let a = attrs.get(key);
  if (a) return a;
  a = new Uint8Array(336);
  const def = new BigUint64Array(16);
  for (const n of sigs) def[(n - 1) >> 6] |= 1n << BigInt((n - 1) & 63);
  L.posix_spawnattr_init(ptr(a));
  L.posix_spawnattr_setflags(ptr(a), 0x04 | 0x08);
  L.posix_spawnattr_setsigdefault(ptr(a), ptr(def));
  L.posix_spawnattr_setsigmask(ptr(a), ptr(new BigUint64Array(16)));
  attrs.set(key, a);
  return a;
}
function cArray(list, keep, enc) {
  const a = new BigUint64Array(list.length + 1);
  for (let i = 0; i < list.length; i++) {
    const b = typeof list[i] === "string" ? Buffer.from(list[i] + "\\0", enc) : Buffer.concat([list[i], Buffer.from([0])]);
    keep.push(b);
    a[i] = BigInt(ptr(b));
  }
  return a;
}
const pid = new Int32Array(1);
const fa = new Uint8Array(80);
self.onmessage = (ev) => {
  const { id, file, argv, env, dup2, sigs, enc } = ev.data;
  const keep = [];
  const a = cArray(argv, keep, enc);
  const e = cArray(env, keep, enc);
  const path = typeof file === "string" ? Buffer.from(file + "\\0", enc) : Buffer.concat([file, Buffer.from([0])]);
  let r = L.posix_spawn_file_actions_init(ptr(fa));
  for (const [to, from] of dup2) if (r === 0) r = L.posix_spawn_file_actions_adddup2(ptr(fa), from, to);
  if (r === 0) r = L.posix_spawn(ptr(pid), ptr(path), ptr(fa), ptr(attrFor(sigs)), ptr(a), ptr(e));
  L.posix_spawn_file_actions_destroy(ptr(fa));
  postMessage(r === 0 ? { id, pid: pid[0] } : { id, errno: r });
};
`;

interface Pending {
  ok: (pid: number) => void;
  fail: (e: unknown) => void;
  worker: Worker;
}

export class SpawnPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private turn = 0;

  /** size worker threads; with 0 (or if workers cannot start) every spawn runs on the calling thread. */
  constructor(
    size: number,
    private readonly sigDefault: readonly number[],
  ) {
    if (size <= 0) return;
    try {
      const url = URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" }));
      for (let i = 0; i < size; i++) {
        const w = new Worker(url);
        w.onmessage = (ev: MessageEvent) => this.reply(ev.data as { id: number; pid?: number; errno?: number });
        w.onerror = () => this.lose(w);
        w.unref();
        this.workers.push(w);
      }
    } catch {
      this.workers.length = 0;
    }
  }

  // A worker that failed is dropped; what it had pending fails with EAGAIN, as a failed fork would.
  private lose(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(id);
      p.fail(new SysError("posix_spawn", 11));
    }
    try {
      w.terminate();
    } catch {}
  }

  private reply(m: { id: number; pid?: number; errno?: number }): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.pid !== undefined) p.ok(m.pid);
    else p.fail(new SysError("posix_spawn", m.errno ?? 0));
  }

  /** Spawns sent to a worker and not answered yet. */
  get busy(): number {
    return this.pending.size;
  }

  /**
   * posixspawn.ts spawn() off the calling thread (on it with inline, which
   * saves two thread hand-overs when nothing else is going on): resolves with the pid, or
   * rejects with the SysError of the exec (ENOENT, EACCES...) or of the
   * clone (EAGAIN, ENOMEM). The parent fds in dup2 must stay open until it settles.
   * With latin1, the strings in file, argv and env are byte strings (one char per
   * byte, core/bytes.ts) and go out as those bytes; otherwise as UTF-8.
   */
  spawn(
    file: string | Uint8Array,
    argv: readonly (string | Uint8Array)[],
    env: readonly (string | Uint8Array)[],
    dup2: readonly [number, number][],
    inline = false,
    latin1 = false,
  ): Promise<number> {
    const enc = latin1 ? "latin1" : "utf8";
    if (inline || this.workers.length === 0) {
      const b = (s: string | Uint8Array) => (typeof s === "string" && latin1 ? Buffer.from(s, "latin1") : s);
      try {
        return Promise.resolve(
          spawnSync(b(file), argv.map(b), env.map(b), { dup2: [...dup2], sigDefault: this.sigDefault }),
        );
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((ok, fail) => {
      const id = this.next++;
      const w = this.workers[this.turn++ % this.workers.length] as Worker;
      this.pending.set(id, { ok, fail, worker: w });
      w.postMessage({ id, file, argv, env, dup2, sigs: this.sigDefault, enc });
    });
  }
}
