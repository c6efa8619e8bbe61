// SPDX-License-Identifier: MIT
// tcpserver(1)'s -c: at most limit programs at once. At the limit the server
// stops accepting, so further connections wait in the kernel's backlog, as in
// C where the parent sleeps in sig_pause; a child's end resumes it.
// Connections are accepted by Bun.listen over a dup of the listening socket,
// not by node:net, whose module alone held 1.2 MB more memory in every
// tcpserver (BENCHMARKS.md, "tcpserver without node:net").
import { verbose } from "@qts/core/die";
import { dupCloseOnExec } from "@qts/sys/exec";
import { closeSync } from "@qts/sys/fs";
import { listen } from "@qts/sys/listen";
import { reap } from "@qts/sys/waitpid";
import type { Log } from "./log.ts";

/** Bun listens with its own backlog (511); -b is the original's listen(s, backlog). */
export function setBacklog(lfd: number, backlog: number): void {
  try {
    listen(lfd, backlog);
  } catch {}
}

/**
 * Bun.listen's handlers for tcpserver: each accepted connection is taken as a descriptor of our own
 * (a dup, closed on exec: a program gets only its own connection, on fds 0 and 1), and Bun's socket
 * over it is closed at once, in the callback of the accept itself, before Bun's event loop could
 * read a byte of it: all the client sends is left for the program, as with C's accept and node:net's
 * pauseOnConnect. end() with nothing written closes without shutdown(2) and without terminate()'s
 * SO_LINGER reset, and the dup keeps the connection open. When no dup can be had (EMFILE), the
 * connection is closed, as C's loop skips a failed accept.
 */
function acceptHandler(take: (fd: number) => void): Bun.SocketHandler<undefined> {
  return {
    open(s) {
      let fd: number | undefined;
      try {
        fd = dupCloseOnExec((s as unknown as { fd: number }).fd);
      } catch {}
      s.end();
      if (fd !== undefined) take(fd);
    },
    data() {},
  };
}

export class Limiter {
  /** The programs running, by pid: the ones reap() collects. */
  readonly children = new Set<number>();
  /** Runs before each reaping pass (the pre-started copies that were handed nothing). */
  collect: (() => void) | undefined;
  /** Connections accepted past the limit (their descriptors), served as programs end. */
  private readonly waiting: number[] = [];
  private count = 0;
  private server: Bun.TCPSocketListener<undefined> | undefined;
  private readonly handler = acceptHandler((fd) => this.connection(fd));

  /**
   * lfd is the listening socket, which outlives any one listener: pause() stops the listener, and
   * resume() starts a new one over a dup of lfd. serve gets each connection's descriptor.
   */
  constructor(
    private readonly lfd: number,
    private readonly limit: number,
    private readonly backlog: number,
    private readonly serve: (fd: number) => Promise<void>,
    private readonly log: Log,
  ) {
    this.resume();
  }

  /** -v's "status: n/limit" line. */
  status(): void {
    verbose(`status: ${this.count}/${this.limit}`);
  }

  private connection(fd: number): void {
    // Bun runs signal callbacks only when no I/O is pending: under a stream of connections SIGCHLD would
    // wait, so children that ended are collected here too, as C's handler would have done at once.
    this.reap(true);
    if (this.count >= this.limit) {
      this.waiting.push(fd);
      this.pause();
      return;
    }
    this.start(fd);
  }

  private start(fd: number): void {
    this.count++;
    this.status();
    if (this.count >= this.limit) this.pause();
    this.serve(fd).catch((e) => {
      // A bug, not a connection problem: count the connection as done.
      this.log.drop(e instanceof Error ? e.message : String(e));
      try {
        closeSync(fd);
      } catch {}
      this.count--;
      this.status();
      this.resume();
    });
  }

  private pause(): void {
    if (!this.server) return;
    this.server.stop();
    this.server = undefined;
  }

  private resume(): void {
    while (this.waiting.length > 0 && this.count < this.limit) this.start(this.waiting.shift() as number);
    if (this.server || this.count >= this.limit) return;
    let fd: number | undefined;
    try {
      fd = dupCloseOnExec(this.lfd);
      // Bun owns fd from here, and closes it when the listener stops.
      this.server = Bun.listen<undefined>({
        fd,
        socket: this.handler,
      } as unknown as Bun.TCPSocketListenOptions<undefined>);
    } catch {
      // No descriptor or no listener now (EMFILE): the next program's end tries again.
      if (fd !== undefined)
        try {
          closeSync(fd);
        } catch {}
      return;
    }
    setBacklog(this.lfd, this.backlog);
  }

  /**
   * The connection's work is over: its descriptor fd is closed, and pid, the program (or the
   * stand-in) started for it, is left to reap(); with no pid nothing was started and the connection
   * no longer counts.
   */
  done(fd: number, pid: number | undefined): void {
    try {
      closeSync(fd);
    } catch {}
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
