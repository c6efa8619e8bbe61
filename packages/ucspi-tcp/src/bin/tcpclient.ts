// SPDX-License-Identifier: MIT
// tcpclient(1): connect, then run the program with
// the socket on fds 6 (read) and 7 (write) and the tcpserver variables.
import dns from "node:dns/promises";
import { connect, type Socket } from "node:net";
import { byteStr, bytesOf, rawArgs, rawEnv } from "@qts/core/bytes";
import {
  dieUsage,
  Exit,
  errWrite,
  fatal,
  fatalSys,
  fatalUnable,
  getVerbosity,
  setProg,
  setVerbosity,
  sigpipeIgnore,
  unable,
  verbose,
} from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { dup2 } from "@qts/sys/dup";
import { inheritedFds, pathexec, prepareExec, setBlocking } from "@qts/sys/exec";
import { ifIndex, peerName, sockName } from "@qts/sys/sockname";
import { IPPROTO_TCP, setsockoptInt, TCP_NODELAY } from "@qts/sys/sockopt";
import { connAddrs } from "../lib/conn6.ts";
import { type EnvMod, environ, pathexecEnv } from "../lib/env.ts";
import { remoteInfo } from "../lib/ident.ts";
import { fmt6, scan6 } from "../lib/ip6.ts";
import { literalIp4s, NoAddress, name4, portNumber, scanUlong } from "../lib/names.ts";
import { SHARED_SET } from "../lib/options.ts";

export const usage =
  "tcpclient [ -46hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] host port program";

// A name's IPv4 addresses first (0.88's), then its IPv6 ones unless -4 (ucspi-tcp-ipv6).
async function addresses(host: string, noipv6: boolean): Promise<string[]> {
  const lit = literalIp4s(host);
  if (lit) {
    if (lit.length === 0) throw new NoAddress(host);
    return lit;
  }
  const ip6 = scan6(host);
  if (ip6) return [fmt6(ip6)];
  try {
    const r = (await dns.lookup(host, { all: true })).filter((a) => a.family === 4 || !noipv6);
    if (r.length === 0) throw new NoAddress(host);
    return [...r.filter((a) => a.family === 4), ...r.filter((a) => a.family === 6)].map((a) => a.address);
  } catch (e) {
    if (e instanceof NoAddress) throw e;
    const code = errnoName(e);
    if (code === "ENOTFOUND" || code === "ENODATA") throw new NoAddress(host);
    throw Object.assign(new Error(String(code)), { code: code === "EAI_AGAIN" ? "EAGAIN" : code });
  }
}

function tryConnect(ip: string, port: number, localIp: string, localPort: number, secs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const family = ip.includes(":") ? 6 : 4;
    // An unset -i binds the wildcard of the address's family.
    const any = localIp === "0.0.0.0" || localIp === "::";
    const s = connect({ host: ip, port, family, localAddress: any ? undefined : localIp, localPort });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" }));
    }, secs * 1000);
    s.once("connect", () => {
      clearTimeout(timer);
      s.pause();
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    });
  });
}

interface Opts {
  verbosity: number;
  delay: boolean;
  remoteinfo: boolean;
  remotehost: boolean;
  itimeout: number;
  /** -T: the connect timeouts, first and second round. */
  ctimeout: [number, number];
  localIp: string;
  localPort: number;
  forcelocal: string | undefined;
  noipv6: boolean;
  forcev6: boolean;
  iface: string | undefined;
}

// -i: an IPv6 address, or ip4_scan's leading dotted quad.
function scanLocalIp(arg: string): string {
  const v6 = scan6(arg);
  if (v6) return fmt6(v6);
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(arg);
  if (!m) dieUsage(usage);
  return m
    .slice(1, 5)
    .map((x) => Number(x) & 255)
    .join(".");
}

// -T x+y: x seconds for each address's first try, y for the second round.
function scanTimeouts(arg: string): [number, number] {
  const a = scanUlong(arg);
  let j = a.used;
  if (arg[j] === "+") j++;
  return [a.value, scanUlong(arg.slice(j)).value];
}

const SET: Record<string, (o: Opts, arg: string) => void> = {
  ...SHARED_SET,
  l: (o, a) => {
    o.forcelocal = a;
  },
  t: (o, a) => {
    o.itimeout = scanUlong(a).value;
  },
  T: (o, a) => {
    o.ctimeout = scanTimeouts(a);
  },
  i: (o, a) => {
    o.localIp = scanLocalIp(a);
  },
  p: (o, a) => {
    o.localPort = scanUlong(a).value & 0xffff;
  },
};

function parseOptions(argv: string[]): { o: Opts; rest: string[] } {
  const o: Opts = {
    verbosity: 1,
    delay: true,
    remoteinfo: true,
    remotehost: true,
    itimeout: 26,
    ctimeout: [2, 58],
    localIp: "0.0.0.0",
    localPort: 0,
    forcelocal: undefined,
    noipv6: false,
    forcev6: false,
    iface: undefined,
  };
  const { opts, rest } = getopt(argv, "46dDvqQhHrRi:p:t:T:l:I:");
  for (const { opt, arg = "" } of opts) {
    const set = Object.hasOwn(SET, opt) ? SET[opt] : undefined;
    if (!set) dieUsage(usage);
    set(o, arg);
  }
  return { o, rest };
}

// C's strerr_die*: the fatal lines (core's fatal*, silent under -q, where C's buffer_2->fd is -1), then 111.
function quit(): never {
  throw new Exit(EXIT_TEMP);
}

/** The addresses to try, with -I's scope on link-local ones (ucspi-tcp-ipv6; an unknown interface is scope 0). */
async function targets(o: Opts, host: string): Promise<string[]> {
  let addrs: string[];
  try {
    addrs = await addresses(host, o.noipv6);
  } catch (e) {
    if (e instanceof NoAddress) fatal("no IP address for ", host);
    else fatalSys(e, "temporarily unable to figure out IP address for ", host);
    return quit();
  }
  const scope = o.iface === undefined ? 0 : ifIndex(o.iface);
  if (scope) addrs = addrs.map((a) => (a.includes(":") ? `${a}%${scope}` : a));
  if (addrs.length === 1) o.ctimeout = [o.ctimeout[0] + o.ctimeout[1], 0];
  return addrs;
}

/** A failed connect: fatal if it was -i/-p's bind, else true when the address is worth a second, longer try. */
function connectFailed(o: Opts, ip: string, port: number, loop: number, e: unknown): boolean {
  const code = errnoName(e);
  // Bun reports a failed bind() of -i/-p as a connect error; C dies on the bind.
  const bound = o.localIp !== "0.0.0.0" || o.localPort !== 0;
  if (bound && (code === "EADDRNOTAVAIL" || code === "EADDRINUSE")) {
    fatalUnable("bind socket", e);
    quit();
  }
  if (loop === 0 && o.ctimeout[1] && code === "ETIMEDOUT") return true;
  // C's CONNECT, "tcpclient: unable to connect to ", has no "warning: ".
  if (getVerbosity() > 0) errWrite(`tcpclient: ${unable(`connect to ${ip.replace(/%.*/, "")} port ${port}`, e)}\n`);
  return false;
}

/** Every address with the short timeout, then the ones that timed out with the long one. */
async function connectAny(o: Opts, addrs: string[], port: number): Promise<Socket | undefined> {
  for (let loop = 0; loop < 2; loop++) {
    const more: string[] = [];
    for (const ip of addrs) {
      try {
        return await tryConnect(ip, port, o.localIp, o.localPort, o.ctimeout[loop] as number);
      } catch (e) {
        if (connectFailed(o, ip, port, loop, e)) more.push(ip);
      }
    }
    addrs = more;
  }
  return undefined;
}

/** The variables tcpserver sets, for the connection on fd (with -v, the "connected" line between them). */
async function clientEnv(o: Opts, fd: number, env: Env): Promise<EnvMod[]> {
  // The same addresses as tcpserver's: PROTO=TCP6 and ip6_fmt's form for IPv6 or -6 (ucspi-tcp-ipv6).
  const a = connAddrs(sockName(fd), peerName(fd), o.forcev6);
  const mods: EnvMod[] = [
    ["PROTO", a.v6 ? "TCP6" : "TCP"],
    ["TCPLOCALPORT", String(a.localPort)],
    ["TCPLOCALIP", a.localIp],
  ];
  mods.push(["TCPLOCALHOST", o.forcelocal ?? (await name4(a.lookupLocal, env))]);
  mods.push(["TCPREMOTEPORT", String(a.remotePort)], ["TCPREMOTEIP", a.remoteIp]);
  verbose(`connected to ${a.remoteIp} port ${a.remotePort}`);
  mods.push(["TCPREMOTEHOST", o.remotehost ? await name4(a.lookupRemote, env) : undefined]);
  const info = o.remoteinfo
    ? await remoteInfo(a.identRemote, a.remotePort, a.identLocal, a.localPort, o.itimeout)
    : undefined;
  mods.push(["TCPREMOTEINFO", info]);
  return mods;
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("tcpclient");
  sigpipeIgnore();
  // What the C program would pass on: the fds it inherited, less 6 and 7, which it closes first.
  const inherited = inheritedFds([6, 7]);
  const { o, rest } = parseOptions(argv);
  setVerbosity(o.verbosity);
  let host = rest[0];
  // Missing host or port after -q: exit 100 without the usage line, as Debian's tcpclient does.
  if (host === undefined) dieUsage(usage, o.verbosity === 0);
  if (host === "" || host === "0") host = "127.0.0.1";
  const portName = rest[1];
  if (portName === undefined) dieUsage(usage, o.verbosity === 0);
  const port = portNumber(portName);
  if (port === undefined) {
    fatalUnable(`figure out port number for ${portName}`);
    quit();
  }
  const prog = rest.slice(2);
  if (prog.length === 0) dieUsage(usage);

  const sock = await connectAny(o, await targets(o, host), port);
  if (!sock) return EXIT_TEMP;
  const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
  // Bun sets TCP_NODELAY on its sockets; C leaves Nagle on unless -D.
  try {
    setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, o.delay ? 0 : 1);
  } catch {}
  const mods = await clientEnv(o, fd, env);

  // The program gets the very bytes of its arguments and of the environment (core/bytes.ts); the
  // values set here are text, as UTF-8.
  const entries = pathexecEnv(
    environ(rawEnv(env)),
    mods.map(([k, v]) => [k, v === undefined ? undefined : byteStr(v)] as const),
  ).map(bytesOf);
  const args = rawArgs(argv)
    .slice(argv.length - prog.length)
    .map(bytesOf);
  try {
    dup2(fd, 6);
    dup2(fd, 7);
    setBlocking(6, true);
  } catch (e) {
    fatalUnable("set up descriptor 6", e);
    quit();
  }
  prepareExec([6, 7, ...inherited.filter((f) => f !== fd)]);
  const err = pathexec(args[0] as Buffer, args, entries);
  fatalUnable(`run ${prog[0]}`, err);
  return quit();
}
