// SPDX-License-Identifier: MIT
// Name lookups for tcpserver/tcpclient through the system resolver (node:dns).
import dns from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { fmt6, scan6 } from "./ip6.ts";

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

/** dns_name4: the first name for ip, or undefined (no name, or the lookup failed). */
export async function name4(ip: string): Promise<string | undefined> {
  try {
    const names = await dns.reverse(ip);
    const n = names[0];
    return n ? djbName(n) || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** dns_ip4 (dns_ip6 with family 6): the addresses of name; undefined when the lookup failed. */
export async function ip4(name: string, family: 4 | 6 = 4): Promise<string[] | undefined> {
  try {
    const r = await dns.lookup(name, { family, all: true });
    // IPv6 in ip6_fmt's form, the form TCPREMOTEIP is compared in (tcpserver -p).
    return r.map((a) => {
      const b = family === 6 ? scan6(a.address) : undefined;
      return b ? fmt6(b) : a.address;
    });
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
  if (isIPv4(host)) return host;
  if (scan6(host)) return host;
  try {
    const r = await dns.lookup(host, { all: true });
    const a = r.find((x) => x.family === 4) ?? (noipv6 ? undefined : r.find((x) => x.family === 6));
    if (!a) throw Object.assign(new Error("ENODATA"), { code: "ENODATA" });
    return a.address;
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
