// SPDX-License-Identifier: MIT
// qmail-remote's SMTP side (qmail-remote(8), RFC 5321):
// the reply parser of smtpcode(), the message encoder, and one SMTP session.
import { connect, type Socket } from "node:net";
import { errnoName } from "@qts/core/errstr";
import { setBlocking } from "@qts/sys/exec";
import { readSync } from "@qts/sys/fs";

/** Most reply text kept for "Remote host said:" (HUGESMTPTEXT). */
export const HUGESMTPTEXT = 5000;

/** ReplyParser's states: where in a reply the next byte falls. */
enum St {
  /** the first line's 3 code digits */
  CODE = 0,
  /** the byte after a line's code: '-' continues, anything else starts the last line */
  AFTERCODE = 1,
  /** a continuation line, up to LF */
  MORELINE = 2,
  /** the next line's 3 code characters, ignored */
  NEXTCODE = 3,
  /** the last line, up to LF */
  LASTLINE = 4,
  /** the reply is complete */
  DONE = 5,
}

/**
 * smtpcode(): reads one (multi-line) reply byte by byte: 3 code characters,
 * then '-' lines continue. Text keeps every byte but CR, capped at 5000, so an
 * endless reply costs no memory.
 */
export class ReplyParser {
  private st = St.CODE;
  private n = 0;
  private c = 0;
  private text: number[] = [];

  reset(): void {
    this.st = St.CODE;
    this.n = 0;
    this.c = 0;
    this.text = [];
  }

  /** Feeds bytes from buf[at..]; returns the index after the reply's last byte, or -1 if it needs more. */
  feed(buf: Uint8Array, at: number): number {
    for (let i = at; i < buf.length; i++) {
      const ch = buf[i] as number;
      if (ch !== 13 && this.text.length < HUGESMTPTEXT) this.text.push(ch);
      if (this.step(ch)) return i + 1;
    }
    return -1;
  }

  /** One byte through the states; true when it ends the reply. */
  private step(ch: number): boolean {
    switch (this.st) {
      case St.CODE:
        this.c = this.c * 10 + (ch - 48);
        if (++this.n === 3) this.st = St.AFTERCODE;
        break;
      case St.AFTERCODE:
        if (ch === 45) this.st = St.MORELINE;
        else if (ch === 10) {
          this.st = St.DONE;
          return true;
        } else this.st = St.LASTLINE;
        break;
      case St.MORELINE:
        if (ch === 10) {
          this.st = St.NEXTCODE;
          this.n = 0;
        }
        break;
      case St.NEXTCODE:
        if (++this.n === 3) this.st = St.AFTERCODE;
        break;
      case St.LASTLINE:
        if (ch === 10) {
          this.st = St.DONE;
          return true;
        }
        break;
    }
    return false;
  }

  /** The code as C's unsigned long arithmetic sees it: garbage below '0' is huge. */
  get code(): number {
    return this.c < 0 ? Number.MAX_SAFE_INTEGER : this.c;
  }

  get textBytes(): Buffer {
    return Buffer.from(this.text);
  }
}

/**
 * The DATA encoder. Stored lines end in LF; on the wire every line ends in
 * CRLF. Unlike netqmail (lone CR sent as is) and notqmail 1.09 (lone CR
 * becomes CRLF without dot-stuffing what follows), a lone CR becomes CRLF and
 * a dot after ANY line break we emit is doubled, so the output holds exactly
 * one CRLF.CRLF, at the end, and no lone CR or LF (RFC 5321 section 2.3.8).
 */
export class DataEncoder {
  private lineStart = true;
  private cr = false;

  /** Encodes a chunk of the stored message. */
  encode(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(chunk.length * 3 + 2);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.cr) {
        this.cr = false;
        out[o++] = 13;
        out[o++] = 10;
        this.lineStart = true;
        if (b === 10) continue;
      }
      if (b === 13) {
        this.cr = true;
        continue;
      }
      if (b === 10) {
        out[o++] = 13;
        out[o++] = 10;
        this.lineStart = true;
        continue;
      }
      if (this.lineStart && b === 46) out[o++] = 46;
      out[o++] = b;
      this.lineStart = false;
    }
    return out.subarray(0, o);
  }

  /** At end of input: true when the message ended inside a line (a partial final line). */
  get partial(): boolean {
    return this.cr || !this.lineStart;
  }
}

/** Ends qmail-remote: the report is complete. */
export class Done {}

/** Reads the message from fd in big chunks through the encoder. */
export function* readMessage(fd: number, enc: DataEncoder): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      // a non-blocking pipe from the caller: make it blocking, as a C program expects
      if (errnoName(e) !== "EAGAIN") throw e;
      setBlocking(fd, true);
      continue;
    }
    if (n === 0) return;
    yield enc.encode(buf.subarray(0, n));
  }
}

export class SmtpConnLost extends Error {}

/** A connected SMTP socket with timeouts on every read and write (timeoutread/timeoutwrite). */
export class SmtpConn {
  private chunks: Buffer[] = [];
  private queued = 0;
  private wake: (() => void) | undefined;
  private dead = false;
  readonly parser = new ReplyParser();

  constructor(
    public sock: Socket,
    readonly timeoutMs: number,
  ) {
    this.attach(sock);
  }

  /**
   * Reads through sock from now on (STARTTLS: the TLS socket over the old
   * one). Anything the server sent before is dropped: after "220 ready",
   * plain-text bytes are never taken for replies (RFC 3207 section 4.2).
   */
  attach(sock: Socket): void {
    this.sock.removeAllListeners("data");
    this.chunks = [];
    this.queued = 0;
    this.sock = sock;
    sock.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.queued += d.length;
      // a server talking while we do not listen (during DATA) waits in the kernel, as with C's reads
      if (this.queued > 1 << 20) sock.pause();
      this.wake?.();
    });
    const die = () => {
      this.dead = true;
      this.wake?.();
    };
    sock.on("close", die);
    sock.on("error", die);
    sock.on("end", die);
  }

  /** timeoutconn: resolves a connected socket, or rejects with "timeout" / the error. */
  static open(ip: string, port: number, timeoutMs: number, ioTimeoutMs: number): Promise<SmtpConn> {
    return new Promise((ok, fail) => {
      const s = connect({ host: ip, port });
      const t = setTimeout(() => {
        s.destroy();
        fail(new Error("timeout"));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.removeAllListeners("error");
        ok(new SmtpConn(s, ioTimeoutMs));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        fail(e);
      });
    });
  }

  /** smtpcode(): the next reply's code; text in parser.textBytes. */
  async code(): Promise<number> {
    this.parser.reset();
    for (;;) {
      while (this.chunks.length > 0) {
        const c = this.chunks[0] as Buffer;
        const end = this.parser.feed(c, 0);
        if (end < 0) {
          this.chunks.shift();
          this.queued -= c.length;
        } else {
          if (end >= c.length) this.chunks.shift();
          else this.chunks[0] = c.subarray(end);
          this.queued -= Math.min(end, c.length);
          return this.parser.code;
        }
      }
      if (this.dead) throw new SmtpConnLost();
      if (this.sock.isPaused()) this.sock.resume();
      await this.waitData();
    }
  }

  private waitData(): Promise<void> {
    return new Promise((ok, fail) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        fail(new SmtpConnLost());
      }, this.timeoutMs);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        ok();
      };
    });
  }

  /** Writes data and waits until the kernel has it (bounded by the timeout). */
  write(data: string | Uint8Array): Promise<void> {
    if (this.dead) return Promise.reject(new SmtpConnLost());
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new SmtpConnLost()), this.timeoutMs);
      this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data, (e) => {
        clearTimeout(t);
        if (e) fail(new SmtpConnLost());
        else ok();
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
