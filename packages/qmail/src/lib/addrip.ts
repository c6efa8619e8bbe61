// SPDX-License-Identifier: MIT
// IPv4 addresses as qmail's ip.c scans and prints them, and ipme (our own addresses).
import { networkInterfaces } from "node:os";

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

/** The whole of s is an IP, bare or bracketed (dns.c's literal check). */
export function ipLiteral(s: string): string | undefined {
  if (!s) return undefined;
  const [n, ip] = ipScan(s);
  if (n && n === s.length) return ip;
  const [m, ip2] = ipScanBracket(s);
  if (m && m === s.length) return ip2;
  return undefined;
}

let me: Set<string> | undefined;

/** ipme: the IPv4 addresses of our interfaces, plus 0.0.0.0 (netqmail). */
export function ipme(): Set<string> {
  if (me) return me;
  const s = new Set<string>(["0.0.0.0"]);
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4") s.add(a.address);
  me = s;
  return s;
}
