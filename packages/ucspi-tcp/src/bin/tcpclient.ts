// SPDX-License-Identifier: MIT
// tcpclient(1): connect, then run the program with
// the socket on fds 6 (read) and 7 (write) and the tcpserver variables.
import dns from "node:dns/promises";
import { connect, type Socket } from "node:net";
import { byteStr, bytesOf, rawArgs, rawEnv } from "@qts/core/bytes";
import { Exit, errWrite, setProg, sigpipeIgnore } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
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
import { literalIp4s, NoAddress, name4, scanUlong, servicePort } from "../lib/names.ts";

export const usage =
  "tcpclient [ -46hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] host port program";

function dieUsage(): never {
  errWrite(`tcpclient: usage: ${usage}\n`);
  throw new Exit(EXIT_USAGE);
}

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
    const code = (e as { code?: string }).code;
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

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("tcpclient");
  sigpipeIgnore();
  // What the C program would pass on: the fds it inherited, less 6 and 7, which it closes first.
  const inherited = inheritedFds([6, 7]);
  let verbosity = 1;
  let delay = true;
  let remoteinfo = true;
  let remotehost = true;
  let itimeout = 26;
  const ctimeout = [2, 58];
  let localIp = "0.0.0.0";
  let localPort = 0;
  let forcelocal: string | undefined;
  let noipv6 = false;
  let forcev6 = false;
  let iface: string | undefined;
  const { opts, rest } = getopt(argv, "46dDvqQhHrRi:p:t:T:l:I:");
  for (const { opt, arg = "" } of opts) {
    switch (opt) {
      case "d":
        delay = true;
        break;
      case "D":
        delay = false;
        break;
      case "v":
        verbosity = 2;
        break;
      case "q":
        verbosity = 0;
        break;
      case "Q":
        verbosity = 1;
        break;
      case "l":
        forcelocal = arg;
        break;
      case "H":
        remotehost = false;
        break;
      case "h":
        remotehost = true;
        break;
      case "R":
        remoteinfo = false;
        break;
      case "r":
        remoteinfo = true;
        break;
      case "t":
        itimeout = scanUlong(arg).value;
        break;
      case "T": {
        const a = scanUlong(arg);
        ctimeout[0] = a.value;
        let j = a.used;
        if (arg[j] === "+") j++;
        ctimeout[1] = scanUlong(arg.slice(j)).value;
        break;
      }
      case "4":
        noipv6 = true;
        break;
      case "6":
        forcev6 = true;
        break;
      case "I":
        iface = arg;
        break;
      case "i": {
        const v6 = scan6(arg);
        if (v6) {
          localIp = fmt6(v6);
          break;
        }
        // ip4_scan accepts a leading dotted quad
        const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(arg);
        if (!m) dieUsage();
        localIp = m
          .slice(1, 5)
          .map((x) => Number(x) & 255)
          .join(".");
        break;
      }
      case "p":
        localPort = scanUlong(arg).value & 0xffff;
        break;
      default:
        dieUsage();
    }
  }
  const say = (s: string) => {
    if (verbosity > 0) errWrite(s);
  };
  const fatal = (msg: string): never => {
    say(`tcpclient: fatal: ${msg}\n`);
    throw new Exit(EXIT_TEMP);
  };

  let host = rest[0];
  if (host === undefined) dieUsage();
  if (host === "" || host === "0") host = "127.0.0.1";
  const portName = rest[1];
  if (portName === undefined) dieUsage();
  let port: number;
  const sc = scanUlong(portName);
  if (sc.used === portName.length) port = sc.value & 0xffff;
  else {
    const p = servicePort(portName);
    if (p === undefined) fatal(`unable to figure out port number for ${portName}`);
    port = p as number;
  }
  const prog = rest.slice(2);
  if (prog.length === 0) dieUsage();

  let addrs: string[];
  try {
    addrs = await addresses(host, noipv6);
  } catch (e) {
    if (e instanceof NoAddress) fatal(`no IP address for ${host}`);
    fatal(`temporarily unable to figure out IP address for ${host}: ${errorStr(e)}`);
    throw e;
  }
  // -I: the scope of link-local addresses (ucspi-tcp-ipv6); an unknown interface is scope 0.
  const scope = iface === undefined ? 0 : ifIndex(iface);
  if (scope) addrs = addrs.map((a) => (a.includes(":") ? `${a}%${scope}` : a));
  if (addrs.length === 1) {
    ctimeout[0] = (ctimeout[0] as number) + (ctimeout[1] as number);
    ctimeout[1] = 0;
  }

  let sock: Socket | undefined;
  // Every address with the short timeout, then the ones that timed out with the long one.
  for (let loop = 0; loop < 2 && !sock; loop++) {
    const more: string[] = [];
    for (const ip of addrs) {
      try {
        sock = await tryConnect(ip, port, localIp, localPort, ctimeout[loop] as number);
        break;
      } catch (e) {
        const code = (e as { code?: string }).code;
        // Bun reports a failed bind() of -i/-p as a connect error; C dies on the bind.
        if ((localIp !== "0.0.0.0" || localPort !== 0) && (code === "EADDRNOTAVAIL" || code === "EADDRINUSE")) {
          fatal(`unable to bind socket: ${errorStr(e)}`);
        }
        if (loop === 0 && ctimeout[1] && code === "ETIMEDOUT") more.push(ip);
        else say(`tcpclient: unable to connect to ${ip.replace(/%.*/, "")} port ${port}: ${errorStr(e)}\n`);
      }
    }
    addrs = more;
  }
  if (!sock) return EXIT_TEMP;

  const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
  // Bun sets TCP_NODELAY on its sockets; C leaves Nagle on unless -D.
  try {
    setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, delay ? 0 : 1);
  } catch {}
  // The same addresses as tcpserver's: PROTO=TCP6 and ip6_fmt's form for IPv6 or -6 (ucspi-tcp-ipv6).
  const a = connAddrs(sockName(fd), peerName(fd), forcev6);
  const lip = a.localIp;
  const lport = a.localPort;
  const rip = a.remoteIp;
  const rport = a.remotePort;
  const mods: EnvMod[] = [
    ["PROTO", a.v6 ? "TCP6" : "TCP"],
    ["TCPLOCALPORT", String(lport)],
    ["TCPLOCALIP", lip],
  ];
  mods.push(["TCPLOCALHOST", forcelocal ?? (await name4(a.lookupLocal, env))]);
  mods.push(["TCPREMOTEPORT", String(rport)], ["TCPREMOTEIP", rip]);
  if (verbosity >= 2) errWrite(`tcpclient: connected to ${rip} port ${rport}\n`);
  mods.push(["TCPREMOTEHOST", remotehost ? await name4(a.lookupRemote, env) : undefined]);
  mods.push([
    "TCPREMOTEINFO",
    remoteinfo ? await remoteInfo(a.identRemote, rport, a.identLocal, lport, itimeout) : undefined,
  ]);

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
    fatal(`unable to set up descriptor 6: ${errorStr(e)}`);
  }
  prepareExec([6, 7, ...inherited.filter((f) => f !== fd)]);
  const err = pathexec(args[0] as Buffer, args, entries);
  return fatal(`unable to run ${prog[0]}: ${errorStr(err)}`);
}
