// SPDX-License-Identifier: MIT
// qmail-smtpd's Received line (received.c).
import { date822 } from "../date822.ts";

/** safeput: anything outside [A-Za-z0-9.@%+/=:\-\[\]] becomes '?', so no value can start a header line. */
export function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9.@%+/=:\-[\]]/g, "?");
}

export interface ReceivedInfo {
  protocol: string;
  local: string;
  remoteip: string;
  remotehost: string;
  remoteinfo?: string;
  /** The HELO argument when it differs from remotehost, else undefined. */
  helo?: string;
}

export function receivedLine(r: ReceivedInfo, unixMs = Date.now()): string {
  let s = `Received: from ${safe(r.remotehost)}`;
  if (r.helo !== undefined) s += ` (HELO ${safe(r.helo)})`;
  s += " (";
  if (r.remoteinfo !== undefined) s += `${safe(r.remoteinfo)}@`;
  // An IPv6 peer (TCPREMOTEIP with ':', from tcpserver's PROTO=TCP6) as an RFC 5321 address literal.
  const ip = r.remoteip.includes(":") ? `[IPv6:${r.remoteip}]` : r.remoteip;
  s += `${safe(ip)})\n  by ${safe(r.local)} with ${r.protocol}; ${date822(unixMs)}\n`;
  return s;
}
