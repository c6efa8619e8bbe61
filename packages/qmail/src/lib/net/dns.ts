// SPDX-License-Identifier: MIT
// qmail-remote's DNS (netqmail dns.c with the oversize-DNS patch,
// qmail-remote(8)) on node:dns: c-ares takes answers of any size and retries over
// TCP on truncation. Results keep dns.c's soft/hard split.
//
// Servers: /etc/resolv.conf, unless $QMAILREMOTE_DNS lists "ip[:port]"
// entries (comma or space separated), like glibc's RES_OPTIONS an
// environment override for tests; our programs are never setuid, so the
// environment is the invoker's own.
import { Resolver } from "node:dns/promises";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { fmt6, scan6 } from "@qts/ucspi-tcp/lib/ip6";
import { ipLiteral } from "./addrip.ts";

export const DNS_SOFT = "soft";
export const DNS_HARD = "hard";
export type DnsFail = typeof DNS_SOFT | typeof DNS_HARD;

export class DnsError extends Error {
  constructor(readonly kind: DnsFail) {
    super(kind);
  }
}

// NXDOMAIN and NOERROR-without-data are res_query's HOST_NOT_FOUND/NO_DATA: hard.
// Everything else (timeouts, SERVFAIL, REFUSED, garbled or truncated answers) is
// TRY_AGAIN in glibc: soft, never a bounce.
const HARD = new Set(["ENOTFOUND", "ENODATA", "EFORMERR", "EBADNAME", "ENONAME"]);

function kind(e: unknown): DnsFail {
  return HARD.has(errnoName(e)) ? DNS_HARD : DNS_SOFT;
}

export interface IpMx {
  ip: string;
  pref: number;
  /** The name the address came from (the MX or relay host), for qmail-remote's TLS name check. */
  host?: string;
}

interface Mx {
  name: string;
  p: number;
}

/**
 * dns_mxip's choice of the next MX to resolve: the lowest preference, ties broken by dns.c's
 * random = random * 69069 + 1 step. Returns its index and the new random.
 */
function nextMx(left: Mx[], rnd: bigint): { i: number; rnd: bigint } {
  let i = 0;
  let numsame = 1n;
  for (let j = 1; j < left.length; j++) {
    const a = left[j] as Mx;
    const b = left[i] as Mx;
    if (a.p < b.p) {
      i = j;
      numsame = 1n;
    } else if (a.p === b.p) {
      numsame++;
      rnd = BigInt.asUintN(64, rnd * 69069n + 1n);
      if (rnd / 2n < 2147483647n / numsame) i = j;
    }
  }
  return { i, rnd };
}

export class Dns {
  private res: Resolver | undefined;

  constructor(private env: Env = process.env) {}

  /** The resolver, made at the first lookup (a route to a literal IP needs none). */
  get r(): Resolver {
    if (!this.res) {
      // glibc's defaults: 5 s per try, 2 tries
      this.res = new Resolver({ timeout: 5000, tries: 2 });
      const list = this.env.QMAILREMOTE_DNS;
      if (list) this.res.setServers(list.split(/[\s,]+/).filter((s) => s.length > 0));
    }
    return this.res;
  }

  private async q<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw new DnsError(kind(e));
    }
  }

  /**
   * dns_ipplus: a literal (with pref 0, as dns.c), else the AAAA records of name, then its A records
   * (IPv6 first, IPv4 the fallback). Fails only when neither gives an address: soft if either lookup
   * failed softly.
   */
  async ipplus(name: string, pref: number, into: IpMx[]): Promise<void> {
    const lit = ipLiteral(name);
    if (lit !== undefined) {
      into.push({ ip: lit, pref: 0 });
      return;
    }
    if (name === "" || name === ".") throw new DnsError(DNS_HARD);
    const [v6, v4] = await Promise.allSettled([this.r.resolve6(name), this.r.resolve4(name)]);
    const ips = [
      ...(v6.status === "fulfilled" ? v6.value.map((a) => fmt6(scan6(a) as Uint8Array)) : []),
      ...(v4.status === "fulfilled" ? v4.value : []),
    ];
    if (ips.length === 0) {
      const soft = [v6, v4].some((r) => r.status === "rejected" && kind(r.reason) === DNS_SOFT);
      if (soft || v4.status === "rejected") throw new DnsError(soft ? DNS_SOFT : DNS_HARD);
    }
    for (const ip of ips) into.push({ ip, pref, host: name });
  }

  /** dns_ip: the relay's addresses, pref 0. */
  async ip(name: string): Promise<IpMx[]> {
    const out: IpMx[] = [];
    await this.ipplus(name, 0, out);
    return out;
  }

  /** dns_ptr: the first PTR name of an IPv4 address, from DNS only (never /etc/hosts). */
  async ptr(ip: string): Promise<string> {
    const arpa = `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
    const names = await this.q(() => this.r.resolvePtr(arpa));
    if (names[0] === undefined) throw new DnsError(DNS_HARD);
    return names[0];
  }

  /**
   * dns_mxip: a literal; else MX records by preference (ties in dns.c's
   * pseudo-random order), each resolved to A records; no MX → A of name.
   * Returns the list and whether some MX's A lookup failed softly.
   */
  async mxip(name: string, random: bigint): Promise<{ ips: IpMx[]; soft: boolean }> {
    const lit = ipLiteral(name);
    if (lit !== undefined) return { ips: [{ ip: lit, pref: 0 }], soft: false };
    let mx: { exchange: string; priority: number }[];
    try {
      mx = await this.r.resolveMx(name);
    } catch (e) {
      if (kind(e) === DNS_HARD) return { ips: await this.ip(name), soft: false };
      throw new DnsError(DNS_SOFT);
    }
    if (mx.length === 0) return { ips: await this.ip(name), soft: false };
    const left: Mx[] = mx.map((m) => ({ name: m.exchange, p: m.priority }));
    const ips: IpMx[] = [];
    let soft = false;
    let rnd = BigInt.asUintN(64, random);
    while (left.length > 0) {
      const next = nextMx(left, rnd);
      rnd = next.rnd;
      const pick = left[next.i] as Mx;
      try {
        await this.ipplus(pick.name, pick.p, ips);
      } catch (e) {
        if (e instanceof DnsError && e.kind === DNS_SOFT) soft = true;
        else if (!(e instanceof DnsError)) throw e;
      }
      left[next.i] = left[left.length - 1] as Mx;
      left.pop();
    }
    return { ips, soft };
  }

  /**
   * dns_cname: follows CNAMEs of a host up to 10 times; returns the loop count
   * (0 = not an alias) and the canonical name. A trailing dot is dropped and
   * counts as a step, as in dns.c. Soft failures throw.
   */
  async cname(host: string): Promise<{ loop: number | "loop"; name: string }> {
    let name = host;
    for (let loop = 0; loop < 10; loop++) {
      if (!name) return { loop, name };
      if (name.endsWith("]")) return { loop, name };
      if (name.endsWith(".")) {
        name = name.slice(0, -1);
        continue;
      }
      let c: string[];
      try {
        c = await this.r.resolveCname(name);
      } catch (e) {
        if (kind(e) === DNS_HARD) return { loop, name };
        throw new DnsError(DNS_SOFT);
      }
      if (c.length === 0 || c[0] === undefined) return { loop, name };
      name = c[0];
    }
    return { loop: "loop", name };
  }
}
