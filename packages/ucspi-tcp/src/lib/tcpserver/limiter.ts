// SPDX-License-Identifier: MIT
// tcpserver(1)'s -c: at most limit programs at once. At the limit the server
// stops accepting, so further connections wait in the kernel's backlog, as in
// C where the parent sleeps in sig_pause; a child's end resumes it.
import { createServer, type Server, type Socket } from "node:net";
import { verbose } from "@qts/core/die";
import { dup } from "@qts/sys/dup";
import { closeOnExec } from "@qts/sys/exec";
import { listen } from "@qts/sys/listen";
import { reap } from "@qts/sys/waitpid";
import type { Log } from "./log.ts";

/** Bun listens with its own backlog (511); -b is the original's listen(s, backlog). */
export function setBacklog(lfd: number, backlog: number): void {
  try {
    listen(lfd, backlog);
  } catch {}
}

export class Limiter {
  /** The programs running, by pid: the ones reap() collects. */
  readonly children = new Set<number>();
  /** Runs before each reaping pass (the pre-started copies that were handed nothing). */
  collect: (() => void) | undefined;
  private readonly waiting: Socket[] = [];
  private count = 0;
  private server: Server | undefined;
  private readonly onConnection = (sock: Socket) => this.connection(sock);

  /**
   * first is the server that bound lfd, the listening socket, which outlives any one node:net
   * server: pause() closes the server, and resume() starts a new one over a dup of lfd.
   */
  constructor(
    first: Server,
    private readonly lfd: number,
    private readonly limit: number,
    private readonly backlog: number,
    private readonly serve: (sock: Socket) => Promise<void>,
    private readonly log: Log,
  ) {
    this.server = first;
    first.on("connection", this.onConnection);
    first.on("error", () => {});
    if (this.count >= limit) this.pause();
  }

  /** -v's "status: n/limit" line. */
  status(): void {
    verbose(`status: ${this.count}/${this.limit}`);
  }

  private connection(sock: Socket): void {
    // Bun runs signal callbacks only when no I/O is pending: under a stream of connections SIGCHLD would
    // wait, so children that ended are collected here too, as C's handler would have done at once.
    this.reap(true);
    if (this.count >= this.limit) {
      this.waiting.push(sock);
      this.pause();
      return;
    }
    this.start(sock);
  }

  private start(sock: Socket): void {
    // A reset while the lookups run must not end tcpserver; the child sees it on its own.
    sock.on("error", () => {});
    this.count++;
    this.status();
    if (this.count >= this.limit) this.pause();
    this.serve(sock).catch((e) => {
      // A bug, not a connection problem: count the connection as done.
      this.log.drop(e instanceof Error ? e.message : String(e));
      sock.destroy();
      this.count--;
      this.status();
      this.resume();
    });
  }

  private pause(): void {
    if (!this.server) return;
    this.server.close();
    this.server = undefined;
  }

  private resume(): void {
    while (this.waiting.length > 0 && this.count < this.limit) this.start(this.waiting.shift() as Socket);
    if (this.server || this.count >= this.limit) return;
    const s = createServer({ pauseOnConnect: true }, this.onConnection);
    // accept() failures (EMFILE, ECONNABORTED) are skipped, as C's loop does.
    s.on("error", () => {});
    const fd = dup(this.lfd);
    closeOnExec(fd);
    s.listen({ fd }, () => setBacklog(this.lfd, this.backlog));
    this.server = s;
  }

  /**
   * The connection's work is over: sock is closed, and pid, the program (or the stand-in) started
   * for it, is left to reap(); with no pid nothing was started and the connection no longer counts.
   */
  done(sock: Socket, pid: number | undefined): void {
    sock.destroy();
    if (pid === undefined) {
      this.count--;
      this.status();
    }
    // The child may have ended before it was in children; collect it now, after its pid line.
    this.reap(true);
  }

  /** Collects the children that ended (-v: "end pid status n"), then resumes accepting if there is room. */
  reap(andResume: boolean): void {
    this.collect?.();
    for (const pid of this.children) {
      let r: ReturnType<typeof reap>;
      try {
        r = reap(pid);
      } catch {
        r = { pid, status: 0 };
      }
      if (!r) continue;
      this.children.delete(pid);
      verbose(`end ${pid} status ${r.status}`);
      if (this.count) this.count--;
      this.status();
    }
    if (andResume) this.resume();
  }
}
