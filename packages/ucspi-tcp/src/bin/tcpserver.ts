// SPDX-License-Identifier: MIT
// tcpserver(1). The C original forks a child per
// connection that does the lookups and then execs the program. Here the
// parent does the lookups (asynchronously, so the accept loop never waits)
// and posix_spawns the program, on worker threads, with the socket on fds 0
// and 1; the pid in the log lines is the program's, as in C, where exec
// keeps the pid. bench/ucspi-tcp.md has the measurements behind this.
// The pieces are in lib/tcpserver/: options, the limiter (-c), one
// connection's environment and rules, and the children.
import { bytesOf, rawArgs, rawEnv } from "@qts/core/bytes";
import {
  dieUsage,
  Exit,
  fatal,
  fatalSys,
  fatalUnable,
  setProg,
  setVerbosity,
  sigpipeIgnore,
  unable,
  verbose,
  writeAll,
} from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { signalReady, takeReadyFd } from "@qts/core/ready";
import { worked } from "@qts/core/rest";
import { type Env, exit } from "@qts/core/run";
import { CHILD_SIGDEFAULT, SIGCHLD, SIGTERM } from "@qts/sys/consts";
import { dup2 } from "@qts/sys/dup";
import { dupCloseOnExec, inheritedFds, inheritFd, setBlocking } from "@qts/sys/exec";
import { closeSync, openSync } from "@qts/sys/fs";
import { ifIndex, peerName, sockName } from "@qts/sys/sockname";
import { IPPROTO_IP, IPPROTO_TCP, setsockoptInt, TCP_NODELAY } from "@qts/sys/sockopt";
import { SpawnPool } from "@qts/sys/spawnpool";
import { type ConnAddrs, connAddrs } from "../lib/conn6.ts";
import { environ, pathexecEnv } from "../lib/env.ts";
import { hostIp, NoAddress, portNumber } from "../lib/names.ts";
import { PRESTART_IDLE_VAR, PRESTART_VAR, Prestart, prestartFor, prestartIdle } from "../lib/prestart.ts";
import { applyRules, type Conn, lookups, okLine } from "../lib/tcpserver/connection.ts";
import { Limiter, setBacklog } from "../lib/tcpserver/limiter.ts";
import { Log } from "../lib/tcpserver/log.ts";
import { type Opts, parseOptions } from "../lib/tcpserver/options.ts";
import { Spawner } from "../lib/tcpserver/spawner.ts";

export const usage =
  "tcpserver [ -461UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program";

/** What serve() needs for every connection. */
interface Ctx {
  o: Opts;
  env: Env;
  log: Log;
  limiter: Limiter;
  spawner: Spawner;
  prestart: Prestart | undefined;
  /** tcpserver's environment as "NAME=value" byte strings. */
  base: string[];
  prog: string[];
}

// C's strerr_die*: the fatal lines (core's fatal*, silent under -q, where C's buffer_2->fd is -1), then 111.
function quit(): never {
  throw new Exit(EXIT_TEMP);
}

async function localAddress(host: string, o: Opts): Promise<string> {
  try {
    return await hostIp(host, o.noipv6);
  } catch (e) {
    if (e instanceof NoAddress) fatal("no IP address for ", host);
    else fatalSys(e, "temporarily unable to figure out IP address for ", host);
    return quit();
  }
}

/**
 * Binds and listens (SO_REUSEADDR, as C's socket_bind4_reuse); returns the listening socket, closed
 * on exec, and the port it is bound to.
 */
function bindListener(localIp: string, port: number, o: Opts): { lfd: number; boundPort: number } {
  // -I names the scope of a link-local address (an unknown interface is scope 0, as in ucspi-tcp-ipv6).
  const scope = o.iface !== undefined && localIp.includes(":") ? ifIndex(o.iface) : 0;
  const bindIp = scope ? `${localIp}%${scope}` : localIp;
  // Bun.listen makes the socket; nothing is accepted on it: its descriptor is taken (a dup) and the
  // listener stopped at once, and lib/tcpserver/limiter.ts listens over dups of that descriptor. So
  // -c can stop accepting (further connections wait in the kernel's backlog) and resume.
  const bind = (ip: string) => Bun.listen({ hostname: ip, port, exclusive: true, socket: { data() {} } });
  let first: ReturnType<typeof bind>;
  try {
    try {
      first = bind(bindIp);
    } catch (e) {
      // "0" on a host without IPv6: every IPv4 address, as 0.88.
      const code = errnoName(e);
      if (bindIp !== "::" || (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL")) throw e;
      first = bind("0.0.0.0");
    }
  } catch (e) {
    fatalUnable("bind", e);
    return quit();
  }
  let lfd: number;
  const boundPort = first.port;
  try {
    lfd = dupCloseOnExec((first as unknown as { fd: number }).fd);
  } catch (e) {
    fatalUnable("bind", e);
    return quit();
  } finally {
    first.stop();
  }
  setBacklog(lfd, o.backlog);
  return { lfd, boundPort };
}

/** -g and -u, after binding (a low port needs root). */
function dropPrivileges(o: Opts): void {
  try {
    if (o.gid) {
      (process.setgroups as (g: number[]) => void)([o.gid]);
      (process.setgid as (g: number) => void)(o.gid);
    }
  } catch (e) {
    fatalUnable("set gid", e);
    quit();
  }
  try {
    if (o.uid) (process.setuid as (u: number) => void)(o.uid);
  } catch (e) {
    fatalUnable("set uid", e);
    quit();
  }
}

/** C closes fds 0 and 1 once listening; /dev/null in their place keeps them from being reused for sockets. */
function releaseStdio(): void {
  try {
    const nul = openSync("/dev/null", "r+");
    dup2(nul, 0);
    dup2(nul, 1);
    closeSync(nul);
  } catch {}
  try {
    setBlocking(2, true);
    inheritFd(2);
  } catch {}
}

/** The socket as C's child has it: blocking, IP options killed unless -o, Nagle on unless -D. */
function socketOptions(fd: number, o: Opts): void {
  try {
    setBlocking(fd, true);
  } catch {}
  if (o.killopts) {
    try {
      setsockoptInt(fd, IPPROTO_IP, 1, undefined);
    } catch {}
  }
  // Bun turns TCP_NODELAY on for every accepted socket; C leaves Nagle on unless -D.
  try {
    setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, o.delay ? 0 : 1);
  } catch {}
}

/** A C child that died before exec: a stand-in exits 111 in its place, then the warning. */
async function drop(cx: Ctx, fd: number, remoteIp: string, what: string, err: unknown): Promise<void> {
  const pid = await cx.spawner.standIn(111);
  if (pid !== undefined) verbose(`pid ${pid} from ${remoteIp}`);
  cx.log.drop(unable(what, err));
  cx.limiter.done(fd, pid);
}

/** The program (or a pre-started copy, or a stand-in for deny) for a connection that passed the lookups. */
async function startProgram(cx: Ctx, fd: number, c: Conn): Promise<void> {
  const { log, limiter } = cx;
  const started = (pid: number) => {
    if (log.verbosity >= 2) log.info(`tcpserver: pid ${pid} from ${c.addrs.remoteIp}\n${okLine(c, pid)}`);
  };
  if (c.deny) {
    const pid = await cx.spawner.standIn(100);
    if (pid !== undefined) started(pid);
    return limiter.done(fd, pid);
  }
  const handed = cx.prestart?.hand(c.mods, fd);
  if (handed !== undefined) {
    limiter.children.add(handed);
    started(handed);
    return limiter.done(fd, handed);
  }
  const r = await cx.spawner.run(pathexecEnv(cx.base, c.mods), fd);
  const code = r.err === undefined ? undefined : errnoName(r.err);
  if (code === "EAGAIN" || code === "ENOMEM") {
    // posix_spawn could not create the process: C's "unable to fork" in the parent.
    log.drop(unable("fork", r.err));
    return limiter.done(fd, undefined);
  }
  if (r.pid !== undefined) {
    started(r.pid);
    return limiter.done(fd, r.pid);
  }
  const pid = await cx.spawner.standIn(111);
  if (pid !== undefined) started(pid);
  log.drop(unable(`run ${cx.prog[0]}`, r.err));
  limiter.done(fd, pid);
}

/** One connection, as tcpserver.c's child: banner, lookups, rules, then the program. */
async function serve(cx: Ctx, fd: number): Promise<void> {
  // A connection is work: the trim waits for quiet after the last one (core/rest.ts).
  worked();
  const { o } = cx;
  let addrs: ConnAddrs;
  try {
    addrs = connAddrs(sockName(fd), peerName(fd), o.forcev6);
  } catch (e) {
    cx.log.drop(unable("get local address", e));
    return cx.limiter.done(fd, undefined);
  }
  socketOptions(fd, o);
  if (o.banner) {
    try {
      writeAll(fd, o.banner);
    } catch (e) {
      return drop(cx, fd, addrs.remoteIp, "print banner", e);
    }
  }
  const c = await lookups(o, addrs, cx.env);
  const err = applyRules(o, c);
  if (err !== undefined) return drop(cx, fd, addrs.remoteIp, `read ${o.rules}`, err);
  return startProgram(cx, fd, c);
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("tcpserver");
  sigpipeIgnore();
  // Bun marks the fds it inherited close-on-exec; a C tcpserver's children inherit them (`3>file` in run).
  const inherited = inheritedFds();
  for (const fd of inherited) {
    try {
      inheritFd(fd);
    } catch {}
  }
  const { o, host, port: portName, prog } = parseOptions(argv, env, usage);
  setVerbosity(o.verbosity);
  const log = new Log();
  const port = portNumber(portName);
  if (port === undefined) {
    fatalUnable(`figure out port number for ${portName}`);
    quit();
  }
  if (prog.length === 0) dieUsage(usage);

  // Readiness (supervise(8)'s notification-fd): said once the socket is bound and listening.
  const ready = takeReadyFd(env);
  // The program gets the very bytes of tcpserver's arguments and environment (core/bytes.ts); the
  // values set per connection are text (UTF-8) and a rule's values the cdb's bytes.
  const raw = rawEnv(env);
  const base = environ(raw);
  const args = rawArgs(argv).slice(argv.length - prog.length);
  // pathexec_run searches the PATH of tcpserver's own environment.
  const path = raw.PATH === undefined ? undefined : bytesOf(raw.PATH);

  process.on("SIGTERM", () => exit(0));

  const localIp = await localAddress(host, o);
  const { lfd, boundPort } = bindListener(localIp, port, o);
  dropPrivileges(o);
  if (o.flag1) {
    try {
      writeAll(1, `${boundPort}\n`);
    } catch {}
  }
  signalReady(ready);
  releaseStdio();

  // 32 and 33: glibc's posix_spawn would otherwise leave its internal signals ignored in the program.
  // The children get the socket and what tcpserver inherited (the notification fd is closed by now), nothing else.
  const pool = new SpawnPool(
    2,
    [...CHILD_SIGDEFAULT, SIGTERM, SIGCHLD],
    inherited.filter((fd) => fd !== ready),
  );
  let cx: Ctx | undefined;
  const limiter = new Limiter(lfd, o.limit, o.backlog, (fd) => serve(cx as Ctx, fd), log);
  const onChild = () => limiter.reap(true);
  process.on("SIGCHLD", onChild);

  // QTS_PRESTART: copies of qmail-smtpd started ahead of connections (lib/prestart.ts); others as in C.
  const ahead = prestartFor(env[PRESTART_VAR], args, path);
  const prestart =
    ahead.file === undefined
      ? undefined
      : new Prestart(ahead.n, ahead.file, args, base, pool, prestartIdle(env[PRESTART_IDLE_VAR]));
  if (prestart) limiter.collect = () => prestart.collect();
  // SIGCHLD is the fast path; the poll catches any exit whose signal was merged away, and lets copies
  // started ahead go once QTS_PRESTARTIDLE has passed without a connection.
  setInterval(() => {
    prestart?.idle(Date.now());
    onChild();
  }, 1000);
  const spawner = new Spawner(pool, limiter.children, args, path, log);
  cx = { o, env, log, limiter, spawner, prestart, base, prog };
  prestart?.fill();

  limiter.status();
  return await new Promise<number>(() => {});
}
