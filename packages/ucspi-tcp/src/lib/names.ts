// SPDX-License-Identifier: MIT
// Name lookups for tcpserver/tcpclient through the system resolver (node:dns).
import dns from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import type { Env } from "@qts/core/run";

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

let resolver: dns.Resolver | undefined;

/**
 * The resolver of djbdns's dns library, which ucspi-tcp links: the servers in $DNSCACHEIP
 * when set (dns_resolvconfip in dns_rcip.c), else /etc/resolv.conf's. It asks DNS only:
 * c-ares's query functions never read /etc/hosts, unlike dns.reverse and getnameinfo.
 */
function djbResolver(env: Env): dns.Resolver {
  if (resolver) return resolver;
  resolver = new dns.Resolver();
  const ips = (env.DNSCACHEIP ?? "").split(/[\s,]+/).filter((s) => isIPv4(s));
  if (ips.length > 0) resolver.setServers(ips);
  return resolver;
}

/** The PTR name of an IPv4 address, as dns_name4 builds the query: d.c.b.a.in-addr.arpa. */
function ptrName4(ip: string): string {
  return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
}

/**
 * dns_name4: the first PTR name for ip from DNS: a name, "" when DNS has none, undefined when
 * the lookup failed (temporary). /etc/hosts is not consulted, as in the original.
 */
export async function name4(ip: string, env: Env = process.env): Promise<string | undefined> {
  try {
    const n = (await djbResolver(env).resolvePtr(ptrName4(ip)))[0];
    return n ? djbName(n) : "";
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === "ENOTFOUND" || code === "ENODATA" ? "" : undefined;
  }
}

/** dns_ip4: the IPv4 addresses of name from DNS (A records); undefined when the lookup failed. */
export async function ip4(name: string, env: Env = process.env): Promise<string[] | undefined> {
  try {
    return await djbResolver(env).resolve4(name);
  } catch (e) {
    const code = (e as { code?: string }).code;
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

/** The first IPv4 address of host ("" and "0" are 0.0.0.0); NoAddress when it has none. */
export async function hostIp(host: string): Promise<string> {
  if (host === "" || host === "0") return "0.0.0.0";
  const lit = literalIp4s(host);
  if (lit) {
    if (lit.length === 0) throw new NoAddress(host);
    return lit[0] as string;
  }
  if (isIPv4(host)) return host;
  try {
    const r = await dns.lookup(host, { family: 4 });
    return r.address;
  } catch (e) {
    const code = (e as { code?: string }).code;
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
export function scanUlong(s: string): { value: number; used: number } {
  let v = 0n;
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) {
    v = (v * 10n + BigInt(s.charCodeAt(i) - 0x30)) & 0xffffffffffffffffn;
    i++;
  }
  return { value: v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v), used: i };
}
