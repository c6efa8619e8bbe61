// SPDX-License-Identifier: MIT
// A connection's addresses and the variables tcpserver sets from them: 0.88's for IPv4, and for IPv6
// (or any connection under -6) those of Debian's ucspi-tcp-ipv6: PROTO=TCP6 and TCP6* beside TCP*.
import type { SockAddr } from "@qts/sys/sockname";
import { ifName } from "@qts/sys/sockname";
import type { EnvMod } from "./env.ts";
import { fmt4, fmt6, isV4Mapped, mapV4 } from "./ip6.ts";

export interface ConnAddrs {
  /** IPv6 variables and log lines: an IPv6 peer, or -6. */
  v6: boolean;
  /** The family for the paranoid (-p) lookup of the remote name. */
  family: 4 | 6;
  /** TCPLOCALIP, TCPREMOTEIP: a dotted quad, or ip6_fmt's form (v4-mapped under -6). */
  localIp: string;
  remoteIp: string;
  /** TCP6LOCALIP, TCP6REMOTEIP: always ip6_fmt's form. */
  localIp6: string;
  remoteIp6: string;
  localPort: number;
  remotePort: number;
  /** TCP6INTERFACE: the local scope id's interface name, for a link-local IPv6 connection. */
  iface?: string;
  /** The addresses as the resolver and the ident connection take them (with %scope for link-local). */
  lookupLocal: string;
  lookupRemote: string;
  identLocal: string;
  identRemote: string;
}

export function connAddrs(local: SockAddr, remote: SockAddr, forcev6: boolean): ConnAddrs {
  const l16 = local.ip.length === 4 ? mapV4(local.ip) : local.ip;
  const r16 = remote.ip.length === 4 ? mapV4(remote.ip) : remote.ip;
  const mapped = isV4Mapped(r16);
  const v6 = !mapped || forcev6;
  const lookupLocal = mapped ? fmt4(l16.subarray(12)) : fmt6(l16);
  const lookupRemote = mapped ? fmt4(r16.subarray(12)) : fmt6(r16);
  const scope = mapped ? 0 : local.scope;
  const pct = scope ? `%${scope}` : "";
  return {
    v6,
    family: mapped ? 4 : 6,
    localIp: v6 ? fmt6(l16) : lookupLocal,
    remoteIp: v6 ? fmt6(r16) : lookupRemote,
    localIp6: fmt6(l16),
    remoteIp6: fmt6(r16),
    localPort: local.port,
    remotePort: remote.port,
    iface: scope ? ifName(scope) : undefined,
    lookupLocal,
    lookupRemote,
    identLocal: lookupLocal + pct,
    identRemote: lookupRemote + pct,
  };
}

/** The pathexec_env calls, in the order of 0.88's doit() or ucspi-tcp-ipv6's. */
export function connEnv(a: ConnAddrs, localhost?: string, remotehost?: string, remoteinfo?: string): EnvMod[] {
  const lport = String(a.localPort);
  const rport = String(a.remotePort);
  if (!a.v6) {
    return [
      ["PROTO", "TCP"],
      ["TCPLOCALIP", a.localIp],
      ["TCPLOCALPORT", lport],
      ["TCPLOCALHOST", localhost],
      ["TCPREMOTEIP", a.remoteIp],
      ["TCPREMOTEPORT", rport],
      ["TCPREMOTEHOST", remotehost],
      ["TCPREMOTEINFO", remoteinfo],
    ];
  }
  const mods: EnvMod[] = [
    ["PROTO", "TCP6"],
    ["TCPLOCALIP", a.localIp],
    ["TCP6LOCALIP", a.localIp6],
    ["TCPLOCALPORT", lport],
    ["TCP6LOCALPORT", lport],
    ["TCPLOCALHOST", localhost],
    ["TCP6LOCALHOST", localhost],
  ];
  if (a.iface !== undefined) mods.push(["TCP6INTERFACE", a.iface]);
  mods.push(
    ["TCPREMOTEIP", a.remoteIp],
    ["TCP6REMOTEIP", a.remoteIp6],
    ["TCPREMOTEPORT", rport],
    ["TCP6REMOTEPORT", rport],
    ["TCPREMOTEHOST", remotehost],
    ["TCP6REMOTEHOST", remotehost],
    ["TCPREMOTEINFO", remoteinfo],
    ["TCP6REMOTEINFO", remoteinfo],
  );
  return mods;
}
