// SPDX-License-Identifier: MIT
// posix_spawn on worker threads. glibc's posix_spawn is clone(CLONE_VFORK):
// the calling thread sleeps until the child has exec'd (about 1 ms for a
// small C program), so a server that spawns on its main thread can start at
// most ~1000 children a second and accepts nothing meanwhile. C's fork()
// returns at once. Here each spawn runs on one of a few worker threads, so
// the main thread keeps accepting and several children exec in parallel.
import { SysError } from "@qts/core/errstr";
import { spawn as spawnSync } from "./posixspawn.ts";
import type { SpawnReply, SpawnRequest } from "./spawnworker.ts";

// In bin/qts the worker is an entry point of the executable at its path in the repository
// (scripts/build.ts); run from source, it is this file's neighbour.
const BUNFS = "/$bunfs/root/";
const WORKER = import.meta.url.includes(BUNFS)
  ? `${BUNFS}packages/sys/src/spawnworker.ts`
  : new URL("./spawnworker.ts", import.meta.url).href;

/** What a worker that failed leaves its pending spawns with, as a failed fork would. */
const EAGAIN = 11;

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
  private started = false;

  /**
   * size worker threads; with 0 (or if workers cannot start) every spawn runs on the calling thread.
   * The threads start at the first spawn that is not inline: each holds a JavaScript heap (about 2 MB),
   * which a server that spawns one child at a time never needs.
   */
  constructor(
    private readonly size: number,
    private readonly sigDefault: readonly number[],
    /** posixspawn.ts keepOnly for every child: the fds it inherits besides the dup2 targets. */
    private readonly keepOnly?: readonly number[],
  ) {}

  private start(): void {
    this.started = true;
    if (this.size <= 0) return;
    try {
      for (let i = 0; i < this.size; i++) {
        const w = new Worker(WORKER);
        w.onmessage = (ev: MessageEvent<SpawnReply>) => this.reply(ev.data);
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
      p.fail(new SysError("posix_spawn", EAGAIN));
    }
    try {
      w.terminate();
    } catch {}
  }

  private reply(m: SpawnReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.pid !== undefined) p.ok(m.pid);
    else p.fail(new SysError("posix_spawn", m.errno ?? 0));
  }

  /** Whether the worker threads run (they start at the first spawn that is not inline). */
  get threaded(): boolean {
    return this.workers.length > 0;
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
    if (!inline && !this.started) this.start();
    if (inline || this.workers.length === 0) {
      const b = (s: string | Uint8Array) => (typeof s === "string" && latin1 ? Buffer.from(s, "latin1") : s);
      try {
        return Promise.resolve(
          spawnSync(b(file), argv.map(b), env.map(b), {
            dup2: [...dup2],
            sigDefault: this.sigDefault,
            keepOnly: this.keepOnly,
          }),
        );
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((ok, fail) => {
      const id = this.next++;
      const w = this.workers[this.turn++ % this.workers.length] as Worker;
      this.pending.set(id, { ok, fail, worker: w });
      const req: SpawnRequest = {
        id,
        file,
        argv,
        env,
        dup2: [...dup2],
        sigs: this.sigDefault,
        keepOnly: this.keepOnly,
        enc,
      };
      w.postMessage(req);
    });
  }
}
