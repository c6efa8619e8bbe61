// SPDX-License-Identifier: MIT
// The DNS lookups of rblsmtpd (djbdns's dns_txt and dns_ip4 as ucspi-tcp
// links them): the servers are $DNSCACHEIP's addresses when it names any, as
// in dns_rcip.c, else those of /etc/resolv.conf. A result is null when the
// lookup failed temporarily, empty when the name does not exist or has no
// such record.
import { Resolver } from "node:dns/promises";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";

// NXDOMAIN and an answer without records are answers (empty); anything else (a timeout, SERVFAIL,
// REFUSED, no server) is dns_resolve's temporary failure.
const ANSWERED = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * dns_rcip.c: the dotted quads at the start of $DNSCACHEIP, dots between
 * them skipped, up to the first thing that is not one (at most 16). None:
 * /etc/resolv.conf's servers.
 */
function cacheIps(x: string | undefined): string[] {
  const ips: string[] = [];
  let at = 0;
  while (x !== undefined && ips.length < 16) {
    if (x[at] === ".") {
      at++;
      continue;
    }
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(x.slice(at));
    if (!m) break;
    ips.push(
      m
        .slice(1, 5)
        .map((p) => Number(p) & 255)
        .join("."),
    );
    at += m[0].length;
  }
  return ips;
}

export class RblDns {
  private res: Resolver;

  constructor(env: Env) {
    this.res = new Resolver({ timeout: 5000, tries: 2 });
    const ips = cacheIps(env.DNSCACHEIP);
    if (ips.length > 0) this.res.setServers(ips);
  }

  /**
   * dns_txt: the strings of every TXT record, run together without a
   * separator, bytes outside 32..126 as '?' (dns_txt_packet).
   */
  async txt(name: string): Promise<string | null> {
    let recs: string[][];
    try {
      recs = await this.res.resolveTxt(name);
    } catch (e) {
      return ANSWERED.has(errnoName(e)) ? "" : null;
    }
    // node:dns hands over the strings decoded as UTF-8: a valid character stands for its bytes (one
    // '?' each), and U+FFFD for the invalid byte it replaced (one '?'; a truncated sequence of several
    // bytes also makes one U+FFFD, so it shows shorter than in C).
    let out = "";
    for (const ch of recs.map((r) => r.join("")).join("")) {
      const c = ch.codePointAt(0) as number;
      if (c >= 32 && c <= 126) out += ch;
      else out += "?".repeat(ch === "\uFFFD" ? 1 : Buffer.byteLength(ch));
    }
    return out;
  }

  /** dns_ip4: the IPv4 addresses of name. */
  async ip4(name: string): Promise<string[] | null> {
    try {
      return await this.res.resolve4(name);
    } catch (e) {
      return ANSWERED.has(errnoName(e)) ? [] : null;
    }
  }
}
