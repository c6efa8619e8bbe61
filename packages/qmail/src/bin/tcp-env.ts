// SPDX-License-Identifier: MIT
// tcp-env.c: set the TCP* variables from the socket on descriptor 0 (for a
// server started by inetd), then run the program.
import { execArgs, execEnv } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { peerName, type SockAddr, sockName } from "@qts/sys/sockname";
import { remoteInfo } from "@qts/ucspi-tcp/lib/ident";
import { fmt4, fmt6, isV4Mapped } from "@qts/ucspi-tcp/lib/ip6";
import { DNS_SOFT, Dns, DnsError } from "../lib/net/dns.ts";

export const usage = "tcp-env [ -rR ] [ -t timeout ] program [ arg ... ]";

/** dns_ptr as tcp-env uses it: the name in lower case, "softdnserror" on a temporary failure, undefined without one. */
async function hostName(dns: Dns, ip: string): Promise<string | undefined> {
  try {
    return (await dns.ptr(ip)).toLowerCase();
  } catch (e) {
    if (e instanceof DnsError && e.kind === DNS_SOFT) return "softdnserror";
    return undefined;
  }
}

/** An address as text: dotted IPv4 (an IPv4-mapped IPv6 address as its IPv4 part), else IPv6. */
function textIp(a: SockAddr): string {
  if (a.ip.length === 4) return fmt4(a.ip);
  return isV4Mapped(a.ip) ? fmt4(a.ip.subarray(12)) : fmt6(a.ip);
}

// Every failure is a silent exit 111 (tcp-env.c die()); unknown options are ignored (subgetopt).
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("tcp-env");
  let remoteinfo = true;
  let timeout = 30;
  const { opts, rest } = getopt(argv, "rRt:", true);
  for (const { opt, arg = "" } of opts) {
    if (opt === "r") remoteinfo = true;
    else if (opt === "R") remoteinfo = false;
    else if (opt === "t") timeout = Number(/^\d*/.exec(arg)?.[0] || 0);
  }
  if (rest.length === 0) return EXIT_TEMP;
  const out: Env = { ...env };
  // Under tcpserver (PROTO=TCP) the variables are already there.
  if (env.PROTO !== "TCP") {
    out.PROTO = "TCP";
    let local: { ip: string; port: number };
    let remote: { ip: string; port: number };
    try {
      const l = sockName(0);
      local = { ip: textIp(l), port: l.port };
    } catch {
      return EXIT_TEMP;
    }
    const dns = new Dns(env);
    out.TCPLOCALPORT = String(local.port);
    out.TCPLOCALIP = local.ip;
    out.TCPLOCALHOST = await hostName(dns, local.ip);
    try {
      const r = peerName(0);
      remote = { ip: textIp(r), port: r.port };
    } catch {
      return EXIT_TEMP;
    }
    out.TCPREMOTEPORT = String(remote.port);
    out.TCPREMOTEIP = remote.ip;
    out.TCPREMOTEHOST = await hostName(dns, remote.ip);
    out.TCPREMOTEINFO = remoteinfo
      ? await remoteInfo(remote.ip, remote.port, local.ip, local.port, timeout)
      : undefined;
  }
  const args = execArgs(rest);
  prepareExec(inheritedFds());
  pathexec(args[0] as string | Buffer, args, execEnv(out));
  return EXIT_TEMP;
}
