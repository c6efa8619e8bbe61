// SPDX-License-Identifier: MIT
// rcpthosts_init and rcpthosts (rcpthosts.c), for qmail-smtpd and qmail-qmtpd:
// control/rcpthosts first, then control/morercpthosts.cdb (qmail-newmrh),
// the latter only consulted when rcpthosts exists.
import { Cdb } from "@qts/cdb/cdb";
import { openIfExists } from "@qts/sys/fs";
import type { Control } from "../control.ts";
import { lowerAscii } from "../cscan.ts";
import { ip6Literal } from "../net/addrip.ts";

export interface Rcpthosts {
  /** undefined: control/rcpthosts missing, every recipient allowed. */
  rcpthosts?: Set<string>;
  morercpthosts?: Cdb;
}

/** rcpthosts_init(): throws when a file exists but cannot be read (the callers' "unable to read controls"). */
export function loadRcpthosts(c: Control): Rcpthosts {
  const rh = c.lines("rcpthosts");
  if (rh === undefined) return {};
  // A missing morercpthosts.cdb (most sites) makes no error object (sys/fs.ts openIfExists).
  const fd = openIfExists(c.path("morercpthosts.cdb"), "r");
  return { rcpthosts: new Set(rh.map(lowerAscii)), morercpthosts: fd !== undefined ? Cdb.fromFd(fd) : undefined };
}

/** Whether has() holds for host or any of its ".suffix"es, longest first (rcpthosts.c's loop over j). */
function anySuffix(host: string, has: (suffix: string) => boolean): boolean {
  for (let j = 0; j < host.length; j++) if ((j === 0 || host[j] === ".") && has(host.slice(j))) return true;
  return false;
}

/**
 * rcpthosts(): allowed when there is no rcpthosts file or the address has no
 * "@"; else when the domain after the last "@" (lower-cased) or any of its
 * ".suffix"es is in rcpthosts, then when one is a key of morercpthosts.cdb.
 * A cdb read error is thrown (the C returns -1).
 */
export function rcptAllowed(cfg: Rcpthosts, addr: string): boolean {
  const rh = cfg.rcpthosts;
  if (!rh) return true;
  const at = addr.lastIndexOf("@");
  if (at < 0) return true;
  const host = lowerAscii(addr.slice(at + 1));
  // An IPv6 literal also matches rcpthosts' line for the same address in ip6_fmt's form.
  const v6 = ip6Literal(host);
  if (v6 !== undefined && v6 !== "bad" && rh.has(`[ipv6:${v6}]`)) return true;
  if (anySuffix(host, (d) => rh.has(d))) return true;
  const m = cfg.morercpthosts;
  return m !== undefined && anySuffix(host, (d) => m.get(Buffer.from(d, "latin1")) !== undefined);
}
