// SPDX-License-Identifier: MIT
// tcpserver(1)'s messages on fd 2: -q silences them all, -v adds the status, pid and end lines.
import { errWrite } from "@qts/core/die";

export const DROP = "tcpserver: warning: dropping connection, ";

export class Log {
  constructor(readonly verbosity: number) {}

  /** Any message but -v's: nothing under -q (C's buffer_2->fd = -1), in the parent and before exec. */
  say(s: string): void {
    if (this.verbosity > 0) errWrite(s);
  }

  /** -v's lines. */
  info(s: string): void {
    if (this.verbosity >= 2) errWrite(s);
  }
}

// safecats: bytes <33 or >126, '%' and ':' become '?'; cut at 100 bytes with "...". ucspi-tcp-ipv6
// keeps ':' (keepColon), which its IPv6 lines need.
export function safe(s: string, keepColon = false): string {
  const b = Buffer.from(s);
  let out = "";
  for (let i = 0; i < b.length && i < 100; i++) {
    const c = b[i] as number;
    out += c < 33 || c > 126 || c === 0x25 || (c === 0x3a && !keepColon) ? "?" : String.fromCharCode(c);
  }
  return b.length >= 100 ? `${out}...` : out;
}
