// SPDX-License-Identifier: MIT

import { setProg } from "@qts/core/die";
import { EXIT_OK } from "@qts/core/exit";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { UnixDgram } from "@qts/sys/unixdgram";

export const usage = "splogger [ tag [ facility ] ]";

const LOG_MAIL = 2 << 3;
const LOG_USER = 1 << 3;
const LOG_FACMASK = 0x3f8;
const LOG_ALERT = 1;
const LOG_WARNING = 4;
const LOG_INFO = 6;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** glibc syslog()'s datagram: "<PRI>Mmm dd hh:mm:ss TAG: MESSAGE", local time, no newline. */
export function syslogLine(pri: number, tag: string, msg: string, now = new Date()): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  const head = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, " ")} ${p2(now.getHours())}:${p2(
    now.getMinutes(),
  )}:${p2(now.getSeconds())}`;
  return `<${pri}>${head} ${tag}: ${msg}`;
}

/** scan_ulong: the leading decimal digits, 0 when there are none. */
function scanUlong(s: string): number {
  const m = /^\d*/.exec(s)?.[0] ?? "";
  return m === "" ? 0 : Number(m);
}

class Syslog {
  private sock: UnixDgram | undefined;

  constructor(
    readonly tag: string,
    readonly facility: number,
  ) {}

  /** Like glibc: connect on first use, reconnect and resend once on failure, else drop the message. */
  send(priority: number, msg: string): void {
    const b = Buffer.from(syslogLine(priority | this.facility, this.tag, msg), "latin1");
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        this.sock ??= new UnixDgram("/dev/log");
        this.sock.send(b);
        return;
      } catch {
        this.sock?.close();
        this.sock = undefined;
      }
    }
  }
}

function stampNow(): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")}`;
}

/** splogger.c's line buffer: bytes gathered into 799-byte pieces, each piece sent by flush(). */
class Pieces {
  private readonly buf = Buffer.alloc(800);
  private pos = 0;
  private cont = false;
  private priority = LOG_INFO;
  private stamp = "";

  constructor(private readonly log: Syslog) {}

  /** One input byte: a newline ends the line, anything outside 32..126 becomes "?". */
  put(ch: number): void {
    if (ch === 10) {
      this.flush();
      this.cont = false;
      return;
    }
    if (this.pos === this.buf.length - 1) this.flush();
    this.buf[this.pos++] = ch < 32 || ch > 126 ? 63 : ch;
  }

  // splogger.c's flush(): a line's first piece gets a new stamp and its priority, the rest "stamp+".
  private flush(): void {
    if (this.pos) {
      const text = this.buf.toString("latin1", 0, this.pos);
      if (this.cont) this.log.send(this.priority, `${this.stamp}+${text}`);
      else {
        this.stamp = stampNow();
        this.priority = LOG_INFO;
        if (text.startsWith("warning:")) this.priority = LOG_WARNING;
        if (text.startsWith("alert:")) this.priority = LOG_ALERT;
        this.log.send(this.priority, `${this.stamp} ${text}`);
        this.cont = true;
      }
    }
    this.pos = 0;
  }
}

// splogger.c: lines cut into 799-byte pieces (the rest follows as "stamp+piece"), bytes outside
// 32..126 as "?", priority from a "warning:" or "alert:" start; a last line without "\n" is dropped.
export function main(argv: string[], _env: Env): number {
  setProg("splogger");
  let facility = LOG_MAIL;
  if (argv[0] !== undefined && argv[1] !== undefined) {
    const f = scanUlong(argv[1]) * 8;
    facility = f !== 0 && f <= LOG_FACMASK && (f & ~LOG_FACMASK) === 0 ? f : LOG_USER;
  }
  const pieces = new Pieces(new Syslog(argv[0] ?? "splogger", facility));
  const inb = Buffer.allocUnsafe(8192);
  for (;;) {
    let n: number;
    try {
      n = readChunk(0, inb);
    } catch {
      return EXIT_OK;
    }
    if (n <= 0) return EXIT_OK;
    for (let i = 0; i < n; i++) pieces.put(inb[i] as number);
  }
}
