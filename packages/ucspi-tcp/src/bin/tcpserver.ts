// SPDX-License-Identifier: MIT
// tcpserver(1). The C original forks a child per
// connection that does the lookups and then execs the program. Here the
// parent does the lookups (asynchronously, so the accept loop never waits)
// and posix_spawns the program, on worker threads, with the socket on fds 0
// and 1; the pid in the log lines is the program's, as in C, where exec
// keeps the pid. bench/ucspi-tcp.md has the measurements behind this.
import { accessSync, closeSync, constants, openSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { Cdb } from "@qts/cdb/cdb";
import { byteStr, bytesOf, rawArgs, rawEnv } from "@qts/core/bytes";
import { Exit, errWrite, setProg, sigpipeIgnore, writeAll } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import { signalReady, takeReadyFd } from "@qts/core/ready";
import { type Env, exit } from "@qts/core/run";
import { dup, dup2 } from "@qts/sys/dup";
import { closeOnExec, inheritedFds, inheritFd, setBlocking } from "@qts/sys/exec";
import { pathCandidates } from "@qts/sys/execraw";
import { listen } from "@qts/sys/listen";
import { ifIndex, peerName, sockName } from "@qts/sys/sockname";
import { IPPROTO_IP, IPPROTO_TCP, setsockoptInt, TCP_NODELAY } from "@qts/sys/sockopt";
import { SpawnPool } from "@qts/sys/spawnpool";
import { reap } from "@qts/sys/waitpid";
import { type ConnAddrs, connAddrs, connEnv } from "../lib/conn6.ts";
import { type EnvMod, environ, pathexecEnv } from "../lib/env.ts";
import { remoteInfo } from "../lib/ident.ts";
import { hostIp, ip4, NoAddress, name4, scanUlong, servicePort } from "../lib/names.ts";
import { PRESTART_VAR, Prestart, prestartFor } from "../lib/prestart.ts";
import { findRule, ruleAction } from "../lib/rules.ts";

export const usage =
  "tcpserver [ -461UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program";

const DROP = "tcpserver: warning: dropping connection, ";
const SIGPIPE = 13;
const SIGTERM = 15;
const SIGCHLD = 17;
const SIGXFSZ = 25;

interface Opts {
  verbosity: number;
  killopts: boolean;
  delay: boolean;
  banner: string;
  remoteinfo: boolean;
  remotehost: boolean;
  paranoid: boolean;
  timeout: number;
  rules?: string;
  allowNoRules: boolean;
  localhost?: string;
  limit: number;
  backlog: number;
  uid: number;
  gid: number;
  flag1: boolean;
  /** -4 (ucspi-tcp-ipv6): IPv4 sockets only. */
  noipv6: boolean;
  /** -6: IPv6 variables (PROTO=TCP6, v4-mapped addresses) for IPv4 connections too. */
  forcev6: boolean;
  /** -I: the interface for link-local addresses. */
  iface?: string;
}

function dieUsage(): never {
  errWrite(`tcpserver: usage: ${usage}\n`);
  throw new Exit(EXIT_USAGE);
}

function fatal(msg: string, err?: unknown): never {
  errWrite(`tcpserver: fatal: ${msg}${err === undefined ? "" : errorStr(err)}\n`);
  throw new Exit(EXIT_TEMP);
}

// safecats: bytes <33 or >126, '%' and ':' become '?'; cut at 100 bytes with "...". ucspi-tcp-ipv6
// keeps ':' (keepColon), which its IPv6 lines need.
function safe(s: string, keepColon = false): string {
  const b = Buffer.from(s);
  let out = "";
  for (let i = 0; i < b.length && i < 100; i++) {
    const c = b[i] as number;
    out += c < 33 || c > 126 || c === 0x25 || (c === 0x3a && !keepColon) ? "?" : String.fromCharCode(c);
  }
  return b.length >= 100 ? `${out}...` : out;
}

function parse(argv: string[], env: Env): { o: Opts; host: string; port: string; prog: string[] } {
  const o: Opts = {
    verbosity: 1,
    killopts: true,
    delay: true,
    banner: "",
    remoteinfo: true,
    remotehost: true,
    paranoid: false,
    timeout: 26,
    allowNoRules: false,
    limit: 40,
    backlog: 20,
    uid: 0,
    gid: 0,
    flag1: false,
    noipv6: false,
    forcev6: false,
  };
  const num = (s: string | undefined) => scanUlong(s ?? "").value;
  const { opts, rest } = getopt(argv, "46dDvqQhHrR1UXx:t:u:g:l:b:B:c:I:pPoO");
  for (const { opt, arg } of opts) {
    switch (opt) {
      case "b":
        o.backlog = num(arg);
        break;
      case "c":
        o.limit = num(arg);
        break;
      case "X":
        o.allowNoRules = true;
        break;
      case "x":
        o.rules = arg;
        break;
      case "B":
        o.banner = arg ?? "";
        break;
      case "d":
        o.delay = true;
        break;
      case "D":
        o.delay = false;
        break;
      case "v":
        o.verbosity = 2;
        break;
      case "q":
        o.verbosity = 0;
        break;
      case "Q":
        o.verbosity = 1;
        break;
      case "P":
        o.paranoid = false;
        break;
      case "p":
        o.paranoid = true;
        break;
      case "O":
        o.killopts = true;
        break;
      case "o":
        o.killopts = false;
        break;
      case "H":
        o.remotehost = false;
        break;
      case "h":
        o.remotehost = true;
        break;
      case "R":
        o.remoteinfo = false;
        break;
      case "r":
        o.remoteinfo = true;
        break;
      case "t":
        o.timeout = num(arg);
        break;
      case "U":
        if (env.UID !== undefined) o.uid = num(env.UID);
        if (env.GID !== undefined) o.gid = num(env.GID);
        break;
      case "u":
        o.uid = num(arg);
        break;
      case "g":
        o.gid = num(arg);
        break;
      case "1":
        o.flag1 = true;
        break;
      case "4":
        o.noipv6 = true;
        break;
      case "6":
        o.forcev6 = true;
        break;
      case "I":
        o.iface = arg;
        break;
      case "l":
        o.localhost = arg;
        break;
      default:
        dieUsage();
    }
  }
  const [host, port, ...prog] = rest;
  if (host === undefined || port === undefined) dieUsage();
  return { o, host, port, prog };
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("tcpserver");
  sigpipeIgnore();
  // Bun marks the fds it inherited close-on-exec; a C tcpserver's children inherit them (`3>file` in run).
  for (const fd of inheritedFds()) {
    try {
      inheritFd(fd);
    } catch {}
  }
  const { o, host, port: portName, prog } = parse(argv, env);
  // -q: tcpserver's own messages go nowhere (buffer_2->fd = -1), in the parent and before exec.
  const say = (s: string) => {
    if (o.verbosity > 0) errWrite(s);
  };
  const info = (s: string) => {
    if (o.verbosity >= 2) errWrite(s);
  };

  let port: number;
  const sc = scanUlong(portName);
  if (sc.used === portName.length) port = sc.value & 0xffff;
  else {
    const p = servicePort(portName);
    if (p === undefined) {
      say(`tcpserver: fatal: unable to figure out port number for ${portName}\n`);
      throw new Exit(EXIT_TEMP);
    }
    port = p;
  }
  if (prog.length === 0) dieUsage();

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

  let localIp: string;
  try {
    localIp = await hostIp(host, o.noipv6);
  } catch (e) {
    if (e instanceof NoAddress) {
      say(`tcpserver: fatal: no IP address for ${host}\n`);
      throw new Exit(EXIT_TEMP);
    }
    if (o.verbosity > 0) fatal(`temporarily unable to figure out IP address for ${host}: `, e);
    throw new Exit(EXIT_TEMP);
  }

  // -I names the scope of a link-local address (an unknown interface is scope 0, as in ucspi-tcp-ipv6).
  const scope = o.iface !== undefined && localIp.includes(":") ? ifIndex(o.iface) : 0;
  const bindIp = scope ? `${localIp}%${scope}` : localIp;
  let first = createServer({ pauseOnConnect: true });
  const bind = (ip: string) =>
    new Promise<void>((ok, fail) => {
      first.once("error", fail);
      first.listen({ host: ip, port, backlog: o.backlog, exclusive: true }, () => ok());
    });
  try {
    try {
      await bind(bindIp);
    } catch (e) {
      // "0" on a host without IPv6: every IPv4 address, as 0.88.
      const code = (e as { code?: string }).code;
      if (bindIp !== "::" || (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL")) throw e;
      first = createServer({ pauseOnConnect: true });
      await bind("0.0.0.0");
    }
  } catch (e) {
    if (o.verbosity > 0) fatal("unable to bind: ", e);
    throw new Exit(EXIT_TEMP);
  }
  const boundPort = (first.address() as { port: number }).port;
  // The listening socket outlives any one node:net server: -c closes the server to stop accepting, so
  // further connections wait in the kernel's backlog, and a new server over a dup resumes (§6.4).
  const lfd = dup((first as unknown as { _handle: { fd: number } })._handle.fd);
  closeOnExec(lfd);
  // Bun listens with its own backlog (511); -b is the original's listen(s, backlog).
  const setBacklog = () => {
    try {
      listen(lfd, o.backlog);
    } catch {}
  };
  setBacklog();

  try {
    if (o.gid) {
      (process.setgroups as (g: number[]) => void)([o.gid]);
      (process.setgid as (g: number) => void)(o.gid);
    }
  } catch (e) {
    if (o.verbosity > 0) fatal("unable to set gid: ", e);
    throw new Exit(EXIT_TEMP);
  }
  try {
    if (o.uid) (process.setuid as (u: number) => void)(o.uid);
  } catch (e) {
    if (o.verbosity > 0) fatal("unable to set uid: ", e);
    throw new Exit(EXIT_TEMP);
  }

  if (o.flag1) {
    try {
      writeAll(1, `${boundPort}\n`);
    } catch {}
  }
  signalReady(ready);
  // C closes fds 0 and 1 here; /dev/null in their place keeps them from being reused for sockets.
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

  const children = new Set<number>();
  const waiting: Socket[] = [];
  let numchildren = 0;
  let server: Server | undefined = first;
  const status = () => info(`tcpserver: status: ${numchildren}/${o.limit}\n`);

  const onConnection = (sock: Socket) => {
    // Bun runs signal callbacks only when no I/O is pending: under a stream of connections SIGCHLD would
    // wait, so children that ended are collected here too, as C's handler would have done at once.
    reapChildren(true);
    if (numchildren >= o.limit) {
      waiting.push(sock);
      pause();
      return;
    }
    start(sock);
  };
  const start = (sock: Socket) => {
    // A reset while the lookups run must not end tcpserver; the child sees it on its own.
    sock.on("error", () => {});
    numchildren++;
    status();
    if (numchildren >= o.limit) pause();
    serve(sock).catch((e) => {
      // A bug, not a connection problem: count the connection as done.
      say(`${DROP}${e instanceof Error ? e.message : String(e)}\n`);
      sock.destroy();
      numchildren--;
      status();
      resume();
    });
  };
  const pause = () => {
    if (!server) return;
    server.close();
    server = undefined;
  };
  const resume = () => {
    while (waiting.length > 0 && numchildren < o.limit) start(waiting.shift() as Socket);
    if (server || numchildren >= o.limit) return;
    const s = createServer({ pauseOnConnect: true }, onConnection);
    // accept() failures (EMFILE, ECONNABORTED) are skipped, as C's loop does.
    s.on("error", () => {});
    const fd = dup(lfd);
    closeOnExec(fd);
    s.listen({ fd }, setBacklog);
    server = s;
  };
  first.on("connection", onConnection);
  first.on("error", () => {});
  if (numchildren >= o.limit) pause();

  function reapChildren(andResume: boolean): void {
    prestart?.collect();
    for (const pid of children) {
      let r: ReturnType<typeof reap>;
      try {
        r = reap(pid);
      } catch {
        r = { pid, status: 0 };
      }
      if (!r) continue;
      children.delete(pid);
      info(`tcpserver: end ${pid} status ${r.status}\n`);
      if (numchildren) numchildren--;
      status();
    }
    if (andResume) resume();
  }
  const onChild = () => reapChildren(true);
  process.on("SIGCHLD", onChild);
  // SIGCHLD is the fast path; the poll catches any exit whose signal was merged away.
  setInterval(onChild, 1000);

  // 32 and 33: glibc's posix_spawn would otherwise leave its internal signals ignored in the program.
  const pool = new SpawnPool(2, [SIGPIPE, SIGTERM, SIGCHLD, SIGXFSZ, 32, 33]);
  // QTS_PRESTART: copies of qmail-smtpd started ahead of connections (lib/prestart.ts); others as in C.
  const ahead = prestartFor(env[PRESTART_VAR], args, path);
  const prestart = ahead.file === undefined ? undefined : new Prestart(ahead.n, ahead.file, args, base, pool);
  prestart?.fill();
  const startChild = async (
    file: string | Uint8Array,
    args: readonly (string | Uint8Array)[],
    envp: readonly (string | Uint8Array)[],
    fd: number | undefined,
  ) => {
    const dups: [number, number][] =
      fd === undefined
        ? []
        : [
            [0, fd],
            [1, fd],
          ];
    // With nothing else running the main thread is idle anyway: spawn there, without two thread hand-overs.
    // Every string here is a byte string (ASCII ones read the same either way).
    const pid = await pool.spawn(file, args, envp, dups, children.size === 0 && pool.busy === 0, true);
    children.add(pid);
    return pid;
  };
  // A stand-in child that exits with code, where the C child would have: its pid and status are what -v logs.
  const standIn = async (code: number): Promise<number | undefined> => {
    try {
      return await startChild("/bin/sh", ["sh", "-c", `exit ${code}`], [], undefined);
    } catch (e) {
      say(`${DROP}unable to fork: ${errorStr(e)}\n`);
      return undefined;
    }
  };
  const gone = (sock: Socket, pid: number | undefined) => {
    sock.destroy();
    if (pid === undefined) {
      numchildren--;
      status();
    }
    // The child may have ended before it was in children; collect it now, after its pid line.
    reapChildren(true);
  };

  const runProgram = async (envp: string[], fd: number): Promise<{ pid?: number; err?: unknown }> => {
    const file = args[0] as string;
    if (file.includes("/")) {
      try {
        return { pid: await startChild(file, args, envp, fd) };
      } catch (e) {
        return { err: e };
      }
    }
    let saved: unknown;
    for (const p of pathCandidates(bytesOf(file), path)) {
      try {
        accessSync(p, constants.F_OK);
      } catch {
        continue;
      }
      try {
        return { pid: await startChild(p, args, envp, fd) };
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === "ENOENT") continue;
        saved = e;
        if (code !== "EACCES" && code !== "EPERM" && code !== "EISDIR") break;
      }
    }
    return { err: saved ?? Object.assign(new Error("ENOENT"), { code: "ENOENT" }) };
  };

  const serve = async (sock: Socket): Promise<void> => {
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    let addrs: ConnAddrs;
    try {
      addrs = connAddrs(sockName(fd), peerName(fd), o.forcev6);
    } catch (e) {
      say(`${DROP}unable to get local address: ${errorStr(e)}\n`);
      return gone(sock, undefined);
    }
    const v6 = addrs.v6;
    const remoteIp = addrs.remoteIp;
    const remotePort = addrs.remotePort;
    const drop = async (msg: string, err?: unknown) => {
      const pid = await standIn(111);
      if (pid !== undefined) info(`tcpserver: pid ${pid} from ${remoteIp}\n`);
      say(`${DROP}${msg}${err === undefined ? "" : errorStr(err)}\n`);
      gone(sock, pid);
    };
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
    if (o.banner) {
      try {
        writeAll(fd, o.banner);
      } catch (e) {
        return drop("unable to print banner: ", e);
      }
    }
    const localPort = String(addrs.localPort);
    let localhost = o.localhost;
    if (localhost === undefined) localhost = (await name4(addrs.lookupLocal, env)) || undefined;
    let remotehost: string | undefined;
    if (o.remotehost) {
      const name = await name4(addrs.lookupRemote, env);
      if (name) {
        let ok = !o.paranoid;
        if (!ok) ok = ((await ip4(name, addrs.family, env)) ?? []).includes(addrs.lookupRemote);
        if (ok) remotehost = name;
      }
    }
    let remoteinfo: string | undefined;
    if (o.remoteinfo)
      remoteinfo = await remoteInfo(addrs.identRemote, remotePort, addrs.identLocal, addrs.localPort, o.timeout);
    const mods: EnvMod[] = connEnv(
      addrs,
      localhost === undefined ? undefined : byteStr(localhost),
      remotehost,
      remoteinfo === undefined ? undefined : byteStr(remoteinfo),
    );

    let deny = false;
    if (o.rules !== undefined) {
      let rfd: number | undefined;
      try {
        rfd = openSync(o.rules, "r");
      } catch (e) {
        if ((e as { code?: string }).code !== "ENOENT" || !o.allowNoRules)
          return drop(`unable to read ${o.rules}: `, e);
      }
      if (rfd !== undefined) {
        try {
          const hit = findRule(Cdb.fromFd(rfd), remoteIp, remotehost, remoteinfo);
          if (hit) {
            const act = ruleAction(hit.data, "latin1");
            deny = act.deny;
            mods.push(...act.env);
          }
        } catch (e) {
          return drop(`unable to read ${o.rules}: `, e);
        } finally {
          closeSync(rfd);
        }
      }
    }

    const line = (pid: number) =>
      `tcpserver: ${deny ? "deny" : "ok"} ${pid} ${localhost ? safe(localhost, v6) : ""}:${safe(addrs.localIp, v6)}:${safe(localPort)} ${remotehost ? safe(remotehost, v6) : ""}:${safe(remoteIp, v6)}:${remoteinfo !== undefined ? safe(remoteinfo, v6) : ""}:${safe(String(remotePort))}\n`;
    if (deny) {
      const pid = await standIn(100);
      if (pid !== undefined) info(`tcpserver: pid ${pid} from ${remoteIp}\n${line(pid)}`);
      return gone(sock, pid);
    }
    const handed = prestart?.hand(mods, fd);
    if (handed !== undefined) {
      children.add(handed);
      info(`tcpserver: pid ${handed} from ${remoteIp}\n${line(handed)}`);
      return gone(sock, handed);
    }
    const r = await runProgram(pathexecEnv(base, mods), fd);
    const code = (r.err as { code?: string } | undefined)?.code;
    if (code === "EAGAIN" || code === "ENOMEM") {
      // posix_spawn could not create the process: C's "unable to fork" in the parent.
      say(`${DROP}unable to fork: ${errorStr(r.err)}\n`);
      return gone(sock, undefined);
    }
    if (r.pid !== undefined) {
      info(`tcpserver: pid ${r.pid} from ${remoteIp}\n${line(r.pid)}`);
      return gone(sock, r.pid);
    }
    const pid = await standIn(111);
    if (pid !== undefined) info(`tcpserver: pid ${pid} from ${remoteIp}\n${line(pid)}`);
    say(`${DROP}unable to run ${prog[0]}: ${errorStr(r.err)}\n`);
    gone(sock, pid);
  };

  status();
  return await new Promise<number>(() => {});
}
