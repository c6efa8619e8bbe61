// SPDX-License-Identifier: MIT
// Name lookups for tcpserver/tcpclient through the system resolver (node:dns).
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { readFileSync } from "@qts/sys/fs";
import { fmt4, fmt6, scan4, scan6 } from "./ip6.ts";

// dns_domain_todot_cat's rendering: lower case, and bytes other than [a-z0-9-_] as \ooo (dots separate labels).
export function djbName(name: string): string {
  let out = "";
  for (const ch of Buffer.from(name.replace(/\.$/, ""))) {
    let c = ch;
    if (c >= 0x41 && c <= 0x5a) c += 32;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e) {
      out += String.fromCharCode(c);
    } else out += `\\${c.toString(8).padStart(3, "0")}`;
  }
  return out;
}

type Dns = typeof import("node:dns/promises");

// node:dns is loaded on the first lookup, not at start: tcpserver -H (the service's) never makes one,
// and loading it costs every start (BENCHMARKS.md, "tcpserver without node:net").
function dnsp(): Dns {
  return require("node:dns/promises") as Dns;
}

/** A dotted quad in its one plain form ("1.2.3.4", not "01.2.3.4"), as node:net's isIPv4 (not loaded for it). */
function isIPv4(s: string): boolean {
  const b = scan4(s);
  return b !== undefined && fmt4(b) === s;
}

let resolver: InstanceType<Dns["Resolver"]> | undefined;

/**
 * The resolver of djbdns's dns library, which ucspi-tcp links: the servers in $DNSCACHEIP
 * when set (dns_resolvconfip in dns_rcip.c), else /etc/resolv.conf's. It asks DNS only:
 * c-ares's query functions never read /etc/hosts, unlike dns.reverse and getnameinfo.
 */
function djbResolver(env: Env): InstanceType<Dns["Resolver"]> {
  if (resolver) return resolver;
  resolver = new (dnsp().Resolver)();
  const ips = (env.DNSCACHEIP ?? "").split(/[\s,]+/).filter((s) => isIPv4(s));
  if (ips.length > 0) resolver.setServers(ips);
  return resolver;
}

/**
 * The PTR name of an address, as dns_name4 builds the query (d.c.b.a.in-addr.arpa), or for IPv6
 * as dns_name6 does (32 nibbles, last first, then ip6.arpa).
 */
function ptrName(ip: string): string {
  const b = ip.includes(":") ? scan6(ip) : undefined;
  if (!b) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = b.length - 1; i >= 0; i--) {
    const x = b[i] as number;
    nibbles.push((x & 15).toString(16), (x >> 4).toString(16));
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

/**
 * dns_name4 (dns_name6 for an IPv6 address): the first PTR name for ip from DNS: a name, "" when
 * DNS has none, undefined when the lookup failed (temporary). /etc/hosts is not consulted, as in
 * the original.
 */
export async function name4(ip: string, env: Env = process.env): Promise<string | undefined> {
  try {
    const n = (await djbResolver(env).resolvePtr(ptrName(ip)))[0];
    return n ? djbName(n) : "";
  } catch (e) {
    const code = errnoName(e);
    return code === "ENOTFOUND" || code === "ENODATA" ? "" : undefined;
  }
}

/**
 * dns_ip4 (dns_ip6 with family 6): the addresses of name from DNS (A or AAAA records, never
 * /etc/hosts), IPv6 in ip6_fmt's form, the form TCPREMOTEIP is compared in (tcpserver -p);
 * undefined when the lookup failed.
 */
export async function ip4(name: string, family: 4 | 6 = 4, env: Env = process.env): Promise<string[] | undefined> {
  try {
    if (family === 4) return await djbResolver(env).resolve4(name);
    return (await djbResolver(env).resolve6(name)).map((a) => {
      const b = scan6(a);
      return b ? fmt6(b) : a;
    });
  } catch (e) {
    const code = errnoName(e) || undefined;
    if (code === "ENOTFOUND" || code === "ENODATA") return [];
    return undefined;
  }
}

export class NoAddress extends Error {}

/**
 * dns_ip4's shortcut: a name made only of digits, dots and brackets is read
 * as addresses, one byte (mod 256) per dot-separated part, four bytes per
 * address, a short tail dropped ("127.1" has none). undefined for any other name.
 */
export function literalIp4s(name: string): string[] | undefined {
  if (!/^[0-9.[\]]*$/.test(name)) return undefined;
  const bytes: number[] = [];
  let code = 0;
  for (const ch of `${name}.`) {
    if (ch === "[" || ch === "]") continue;
    if (ch === ".") {
      bytes.push(code);
      code = 0;
    } else code = (code * 10 + Number(ch)) & 255;
  }
  const out: string[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) out.push(bytes.slice(i, i + 4).join("."));
  return out;
}

/**
 * The address tcpserver listens on: "" and "0" are every address (:: for both families as in
 * ucspi-tcp-ipv6, 0.0.0.0 with noipv6, its -4), an IPv6 literal is itself, a name its first IPv4
 * address (0.88's choice), else its first IPv6 one. NoAddress when there is none.
 */
export async function hostIp(host: string, noipv6 = true): Promise<string> {
  if (host === "" || host === "0") return noipv6 ? "0.0.0.0" : "::";
  const lit = literalIp4s(host);
  if (lit) {
    if (lit.length === 0) throw new NoAddress(host);
    return lit[0] as string;
  }
  // (A dotted quad never gets here: literalIp4s took it.)
  if (scan6(host)) return host;
  try {
    const r = await dnsp().lookup(host, { all: true });
    const a = r.find((x) => x.family === 4) ?? (noipv6 ? undefined : r.find((x) => x.family === 6));
    if (!a) throw Object.assign(new Error("ENODATA"), { code: "ENODATA" });
    return a.address;
  } catch (e) {
    const code = errnoName(e);
    if (code === "ENOTFOUND" || code === "ENODATA") throw new NoAddress(host);
    throw Object.assign(new Error(String(code)), { code: code === "EAI_AGAIN" ? "EAGAIN" : code });
  }
}

/** getservbyname(name, "tcp") from /etc/services; undefined when unknown. */
export function servicePort(name: string, file = "/etc/services"): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [svc, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(portProto ?? "");
    if (m?.[2] !== "tcp") continue;
    if (svc === name || aliases.includes(name)) return Number(m[1]) & 0xffff;
  }
  return undefined;
}

/** scan_ulong: the leading decimal digits of s (0 when none), wrapping like C's unsigned long. */
/** A port given as a number (its low 16 bits, as C's scan_ulong and uint16) or a tcp service name in /etc/services. */
export function portNumber(name: string): number | undefined {
  const sc = scanUlong(name);
  return sc.used === name.length ? sc.value & 0xffff : servicePort(name);
}

export function scanUlong(s: string): { value: number; used: number } {
  let v = 0n;
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) {
    v = (v * 10n + BigInt(s.charCodeAt(i) - 0x30)) & 0xffffffffffffffffn;
    i++;
  }
  return { value: v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v), used: i };
}
