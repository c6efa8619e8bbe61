// SPDX-License-Identifier: MIT
// The network input of qmail-qmtpd and qmail-qmqpd: buffered reads of fd 0
// (substdio over saferead), netstring lengths (getlen) and commas (getcomma),
// with the programs' ways out: EOF or a read error is exit 0, a protocol
// violation exit 100, the hour's alarm or an absurd length exit 111.
import { ReadTimeout, timeoutRead } from "./timeoutio.ts";

/** Ends the program with code (after the caller abandons any open message). */
export class Quit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** qmail-qmtpd.c, qmail-qmqpd.c: alarm(3600), then resources() (exit 111). */
export const ALARM_MS = 3600 * 1000;

/** getlen(): a length past 200000000 is resources() (111), not a protocol error. */
export const MAXLEN = 200000000;

export class NetIn {
  private readonly buf = Buffer.allocUnsafe(65536);
  private start = 0;
  private end = 0;
  private readonly deadline: number;
  /** Bytes the next reads may still take (qmail-qmqpd's bytesleft); Infinity for QMTP. */
  left = Number.POSITIVE_INFINITY;

  /** before: called before each blocking read (qmail-qmtpd flushes its replies there). */
  constructor(
    private readonly fd: number,
    private readonly before: () => void = () => {},
    alarmMs = ALARM_MS,
  ) {
    this.deadline = Date.now() + alarmMs;
  }

  private async fill(): Promise<void> {
    this.before();
    const ms = this.deadline - Date.now();
    if (ms <= 0) throw new Quit(111);
    try {
      this.end = await timeoutRead(this.fd, this.buf, ms);
    } catch (e) {
      throw new Quit(e instanceof ReadTimeout ? 111 : 0);
    }
    this.start = 0;
  }

  private spend(n: number): void {
    if (n > this.left) throw new Quit(100);
    this.left -= n;
  }

  async byte(): Promise<number> {
    this.spend(1);
    if (this.start >= this.end) await this.fill();
    return this.buf[this.start++] as number;
  }

  /** Passes the next n bytes to sink in chunks (the chunk is only valid during the call). */
  async take(n: number, sink: (b: Buffer) => Promise<void> | void): Promise<void> {
    let rest = n;
    while (rest > 0) {
      if (this.start >= this.end) await this.fill();
      const k = Math.min(rest, this.end - this.start, this.left);
      if (k <= 0) throw new Quit(100);
      this.spend(k);
      const chunk = this.buf.subarray(this.start, this.start + k);
      this.start += k;
      rest -= k;
      await sink(chunk);
    }
  }

  /** The next n bytes (n is small: an address). */
  async bytes(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.take(n, (b) => {
      parts.push(Buffer.from(b));
    });
    return Buffer.concat(parts);
  }

  /**
   * getlen(): decimal digits up to ":"; any other byte is a protocol
   * violation (notqmail checks that lengths are numeric); a length past
   * MAXLEN is resources().
   */
  async len(): Promise<number> {
    let len = 0;
    for (;;) {
      const ch = await this.byte();
      if (len > MAXLEN) throw new Quit(111);
      if (ch === 0x3a) return len;
      if (ch < 0x30 || ch > 0x39) throw new Quit(100);
      len = 10 * len + (ch - 0x30);
    }
  }

  /** getcomma(): the "," that ends a netstring, else a protocol violation. */
  async comma(): Promise<void> {
    if ((await this.byte()) !== 0x2c) throw new Quit(100);
  }
}

/** A netstring: "len:data,". */
export function netstring(data: Uint8Array | string): Buffer {
  const d = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  return Buffer.concat([Buffer.from(`${d.length}:`), d, Buffer.from(",")]);
}
