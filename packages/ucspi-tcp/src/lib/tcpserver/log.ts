// SPDX-License-Identifier: MIT
// tcpserver(1)'s messages on fd 2, through core's verbosity switch (set from -q/-Q/-v): -q silences
// them all, as C's buffer_2->fd = -1 does, and -v adds the status, pid and end lines.
import { errWrite, getVerbosity, warn } from "@qts/core/die";

export class Log {
  get verbosity(): number {
    return getVerbosity();
  }

  /** C's DROP lines, `tcpserver: warning: dropping connection, ...`: the connection's child gives up. */
  drop(...parts: string[]): void {
    warn("dropping connection, ", ...parts);
  }

  /** -v's lines. */
  info(s: string): void {
    if (getVerbosity() >= 2) errWrite(s);
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
