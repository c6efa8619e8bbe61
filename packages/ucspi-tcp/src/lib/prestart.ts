// SPDX-License-Identifier: MIT
// tcpserver's programs started ahead of connections (tcpserver(1), "Started
// ahead"). With QTS_PRESTART=n in its environment and a program of ours that
// can take a handed-over connection (today qmail-smtpd), tcpserver keeps n
// copies of the program started, with its own ids, arguments and
// environment, each waiting on a unix socket (sys/handoff.ts). A connection
// goes to one of them once tcpserver has done its lookups and rules, exactly
// the work it does before starting a program; a fresh copy is started
// behind it. Each copy serves one connection and exits, as if started for
// it. With QTS_PRESTARTIDLE=s, the waiting copies end after s seconds without
// a connection, and come back once connections come closer together than
// that. Any other program runs as in the original: one started per connection.
import { bytesOf } from "@qts/core/bytes";
import { pathCandidates } from "@qts/sys/execraw";
import { accessSync, closeSync, constants, openSync, statSync } from "@qts/sys/fs";
import { HANDOFF_VAR, handConnection } from "@qts/sys/handoff";
import { socketpair } from "@qts/sys/socketpair";
import type { SpawnPool } from "@qts/sys/spawnpool";
import { reap } from "@qts/sys/waitpid";
import { type EnvMod, pathexecEnv } from "./env.ts";

/** The variable that turns it on: how many copies to keep started; unset or 0 for none. */
export const PRESTART_VAR = "QTS_PRESTART";

/**
 * The variable that lets waiting copies go: seconds without a connection after which they end; unset
 * or 0 for never. A site with a connection now and then keeps no copy up at rest for it.
 */
export const PRESTART_IDLE_VAR = "QTS_PRESTARTIDLE";

/** The idle time in ms from PRESTART_IDLE_VAR's value: 0 (never) unless it is digits; at most a day. */
export function prestartIdle(value: string | undefined): number {
  if (value === undefined || !/^[0-9]+$/.test(value)) return 0;
  return Math.min(Number(value), 86400) * 1000;
}

/** Our programs that take a connection handed to them. */
const TAKERS = new Set(["qmail-smtpd"]);

/**
 * How many copies of the program to keep started (0: none), from the variable's value: only
 * when args[0], searched in path as tcpserver would, is this very executable (the same file,
 * through a symbolic or hard link) under one of the TAKERS' names. Also the file to start.
 */
export function prestartFor(
  value: string | undefined,
  args: readonly string[],
  path: Buffer | undefined,
): { n: number; file?: string } {
  if (value === undefined || !/^[0-9]+$/.test(value)) return { n: 0 };
  const n = Math.min(Number(value), 100);
  const prog = args[0] ?? "";
  if (n === 0 || !TAKERS.has(prog.slice(prog.lastIndexOf("/") + 1))) return { n: 0 };
  const same = (a: { dev: number; ino: number }, b: { dev: number; ino: number }) => a.dev === b.dev && a.ino === b.ino;
  let self: { dev: number; ino: number };
  try {
    self = statSync(process.execPath);
  } catch {
    return { n: 0 };
  }
  for (const c of pathCandidates(bytesOf(prog), path)) {
    const file = c.toString("latin1");
    try {
      accessSync(c, constants.X_OK);
    } catch {
      continue;
    }
    try {
      return same(statSync(c), self) ? { n, file } : { n: 0 };
    } catch {
      return { n: 0 };
    }
  }
  return { n: 0 };
}

interface Ready {
  pid: number;
  sock: number;
}

export class Prestart {
  private readonly ready: Ready[] = [];
  /** Copies that were handed nothing and have to be collected. */
  private readonly lost = new Set<number>();
  private starting = 0;
  /** When the last connection came (or tcpserver started), in ms. */
  private last = Date.now();

  constructor(
    private readonly n: number,
    private readonly file: string,
    private readonly args: readonly string[],
    private readonly base: readonly string[],
    private readonly pool: SpawnPool,
    /** ms without a connection after which the waiting copies end (prestartIdle); 0: never. */
    private readonly idleMs = 0,
  ) {}

  /** Starts copies until n are ready or starting. */
  fill(): void {
    while (this.ready.length + this.starting < this.n) void this.startOne();
  }

  private async startOne(): Promise<void> {
    this.starting++;
    let mine: number | undefined;
    let theirs: number | undefined;
    let nul: number | undefined;
    try {
      [mine, theirs] = socketpair();
      nul = openSync("/dev/null", "r+");
      const envp = pathexecEnv(this.base, [[HANDOFF_VAR, "0"]]);
      const pid = await this.pool.spawn(
        this.file,
        this.args,
        envp,
        [
          [0, theirs],
          [1, nul],
        ],
        // On the main thread until tcpserver has needed the pool's threads (a connection while
        // others run): one connection at a time never waits for this spawn, and never pays for them.
        !this.pool.threaded,
        true,
      );
      this.ready.push({ pid, sock: mine });
      mine = undefined;
    } catch {
      // Could not start one (fork or exec failed): connections are served the classic way.
    } finally {
      for (const fd of [mine, theirs, nul])
        if (fd !== undefined)
          try {
            closeSync(fd);
          } catch {}
      this.starting--;
    }
  }

  /**
   * Hands the connection fd and its environment changes to a ready copy: its pid (now the
   * connection's program), or undefined when none is ready.
   */
  hand(mods: readonly EnvMod[], fd: number): number | undefined {
    const now = Date.now();
    // After an idle time that let the copies go, the first connection is served the classic way and
    // starts none: copies come back with the second one within the idle time, so that a connection
    // now and then never pays for a copy that waits for nothing. A copy that failed to start comes
    // back the same way.
    const soon = this.idleMs === 0 || now - this.last < this.idleMs;
    this.last = now;
    this.collect();
    if (this.ready.length === 0 && soon) setImmediate(() => this.fill());
    for (;;) {
      const r = this.ready.shift();
      if (!r) return undefined;
      try {
        handConnection(r.sock, mods, fd);
        return r.pid;
      } catch {
        // It went away while waiting: collect it, try the next.
        this.lost.add(r.pid);
        try {
          process.kill(r.pid, "SIGKILL");
        } catch {}
      } finally {
        closeSync(r.sock);
        setImmediate(() => this.fill());
      }
    }
  }

  /**
   * Called every second or so: once idleMs have passed without a connection, lets the waiting copies
   * go. Each sees its socket closed before any handover and exits 0 having served nothing (qmail-smtpd's
   * takeConnection); collect() reaps them. A copy still starting is let go at a later call.
   */
  idle(now: number): void {
    if (this.idleMs === 0 || this.ready.length === 0 || now - this.last < this.idleMs) return;
    for (const r of this.ready.splice(0)) {
      this.lost.add(r.pid);
      try {
        closeSync(r.sock);
      } catch {}
    }
  }

  /** Collects copies that ended while waiting (never handed a connection); none is a connection's child. */
  collect(): void {
    for (let i = this.ready.length - 1; i >= 0; i--) {
      const r = this.ready[i] as Ready;
      let st: ReturnType<typeof reap>;
      try {
        st = reap(r.pid);
      } catch {
        st = { pid: r.pid, status: 0 };
      }
      if (!st) continue;
      this.ready.splice(i, 1);
      closeSync(r.sock);
    }
    for (const pid of this.lost) {
      try {
        if (!reap(pid)) continue;
      } catch {}
      this.lost.delete(pid);
    }
  }
}
