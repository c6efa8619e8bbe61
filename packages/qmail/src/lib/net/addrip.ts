// SPDX-License-Identifier: MIT
// IPv4 addresses as qmail's ip.c scans and prints them, IPv6 address literals (RFC 5321 section
// 4.1.3), and ipme (our own addresses).
import { fmt6, scan6 } from "@qts/ucspi-tcp/lib/ip6";

/** ip_scan: "a.b.c.d" at the start of s; returns [length consumed, dotted quad] or [0, ""]. Octets wrap mod 256 as in C. */
export function ipScan(s: string, at = 0): [number, string] {
  const d: number[] = [];
  let i = at;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (s[i] !== ".") return [0, ""];
      i++;
    }
    const start = i;
    let u = 0;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
      u = (u * 10 + s.charCodeAt(i) - 48) & 255;
      i++;
    }
    if (i === start) return [0, ""];
    d.push(u);
  }
  return [i - at, d.join(".")];
}

/** ip_scanbracket: "[a.b.c.d]" at the start of s. */
export function ipScanBracket(s: string, at = 0): [number, string] {
  if (s[at] !== "[") return [0, ""];
  const [n, ip] = ipScan(s, at + 1);
  if (!n) return [0, ""];
  if (s[at + n + 1] !== "]") return [0, ""];
  return [n + 2, ip];
}

/**
 * An IPv6 address literal: "[IPv6:addr]" (RFC 5321 section 4.1.3, the tag in any case), or "[addr]"
 * as smtproutes may name a relay. The address in ip6_fmt's form; undefined when s is no such literal,
 * "bad" when it has the IPv6 tag but a malformed address ("[IPv6:1::2::3]").
 */
export function ip6Literal(s: string): string | undefined {
  if (s[0] !== "[" || s[s.length - 1] !== "]") return undefined;
  const inner = s.slice(1, -1);
  const tagged = /^ipv6:/i.test(inner);
  const ip = scan6(tagged ? inner.slice(5) : inner);
  if (ip) return fmt6(ip);
  return tagged ? "bad" : undefined;
}

/** The whole of s is an IP, bare or bracketed (dns.c's literal check), or an IPv6 literal. */
export function ipLiteral(s: string): string | undefined {
  if (!s) return undefined;
  const v6 = ip6Literal(s);
  if (v6 !== undefined && v6 !== "bad") return v6;
  const [n, ip] = ipScan(s);
  if (n && n === s.length) return ip;
  const [m, ip2] = ipScanBracket(s);
  if (m && m === s.length) return ip2;
  return undefined;
}

// node:os on use: only a literal address in a recipient asks (BENCHMARKS.md, "Start-up: lazy modules").
const interfaces = () => (require("node:os") as typeof import("node:os")).networkInterfaces();

let me: Set<string> | undefined;

/** ipme: the IPv4 addresses of our interfaces, plus 0.0.0.0 (netqmail). */
export function ipme(): Set<string> {
  if (me) return me;
  const s = new Set<string>(["0.0.0.0"]);
  for (const list of Object.values(interfaces())) for (const a of list ?? []) if (a.family === "IPv4") s.add(a.address);
  me = s;
  return s;
}

let me6: Set<string> | undefined;

/** Our IPv6 addresses in ip6_fmt's form, plus :: (the IPv6 twin of ipme). */
export function ipme6(): Set<string> {
  if (me6) return me6;
  const s = new Set<string>(["::"]);
  for (const list of Object.values(interfaces()))
    for (const a of list ?? []) {
      const ip = a.family === "IPv6" ? scan6(a.address.replace(/%.*/, "")) : undefined;
      if (ip) s.add(fmt6(ip));
    }
  me6 = s;
  return s;
}

/**
 * An smtproutes relay split into host and port text: "[2001:db8::1]:2525" and "[IPv6:...]" keep
 * their brackets whole; otherwise at the first ':' as qmail-remote.c does.
 */
export function relaySplit(relay: string): [host: string, port: string | undefined] {
  if (relay[0] === "[") {
    const close = relay.indexOf("]");
    if (close > 0 && ip6Literal(relay.slice(0, close + 1)) !== undefined) {
      const rest = relay.slice(close + 1);
      return [relay.slice(0, close + 1), rest[0] === ":" ? rest.slice(1) : undefined];
    }
  }
  const i = relay.indexOf(":");
  return i < 0 ? [relay, undefined] : [relay.slice(0, i), relay.slice(i + 1)];
}
