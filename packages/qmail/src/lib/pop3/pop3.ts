// SPDX-License-Identifier: MIT
// What qmail-popup and qmail-pop3d share: commands() (commands.c) reading one
// command line at a time from the network with a 20-minute idle timeout
// (timeoutread 1200), and replies written with the same timeout (timeoutwrite).
import { Exit } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { setBlocking } from "@qts/sys/exec";
import { readSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { writeFully, writeTimeout } from "../net/timeoutio.ts";

/** qmail-popup(8), qmail-pop3d(8): "a 20-minute idle timeout". */
export const POP_TIMEOUT_MS = 1200 * 1000;

/**
 * Longest command line kept. commands.c grows its buffer without bound (a
 * longer line ends the program only when memory runs out); we keep the first
 * MAXLINE bytes, discard the rest of the line, and answer what was kept, which
 * is the original's answer for every command (no argument is that long).
 */
export const MAXLINE = 65536;

export class PopIn {
  private readonly buf: Buffer;
  private start = 0;
  private end = 0;

  /**
   * dieCode: the exit code on EOF, a read error or the timeout (the program's
   * die()). bufSize bounds each read: qmail-popup reads 128 bytes at a time as
   * the C does, so what a client sends after PASS is left for qmail-pop3d.
   */
  constructor(
    private readonly fd: number,
    private readonly dieCode: number,
    bufSize = 4096,
    private readonly timeoutMs = POP_TIMEOUT_MS,
  ) {
    this.buf = Buffer.allocUnsafe(bufSize);
  }

  private fill(): void {
    if (!waitReadable(this.fd, this.timeoutMs)) throw new Exit(this.dieCode);
    let n: number;
    for (let retry = true; ; ) {
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
        break;
      } catch (e) {
        const code = errnoName(e);
        if (code === "EINTR") continue;
        if (code === "EAGAIN" && retry) {
          retry = false;
          setBlocking(this.fd, true);
          continue;
        }
        throw new Exit(this.dieCode);
      }
    }
    if (n <= 0) throw new Exit(this.dieCode);
    this.start = 0;
    this.end = n;
  }

  /**
   * commands.c: the next line up to "\n", less one "\r" before it, cut at the
   * first NUL (the C string ends there). A line cut off by EOF is never
   * answered: the program ends (throws Exit(dieCode)).
   */
  line(): Buffer {
    const parts: Buffer[] = [];
    let kept = 0;
    for (;;) {
      if (this.start >= this.end) this.fill();
      const nl = this.buf.indexOf(10, this.start);
      const stop = nl < 0 || nl >= this.end ? this.end : nl;
      if (kept < MAXLINE) {
        const take = Math.min(stop - this.start, MAXLINE - kept);
        parts.push(Buffer.from(this.buf.subarray(this.start, this.start + take)));
        kept += take;
      }
      if (stop < this.end) {
        this.start = stop + 1;
        break;
      }
      this.start = this.end;
    }
    let line = Buffer.concat(parts);
    if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    const nul = line.indexOf(0);
    return nul < 0 ? line : line.subarray(0, nul);
  }
}

/** commands.c's split: the verb up to the first space (lower-cased for case_equals), the argument after the spaces. */
export function splitCommand(line: Buffer): { verb: string; arg: Buffer } {
  const sp = line.indexOf(32);
  if (sp < 0) return { verb: line.toString("latin1").toLowerCase(), arg: Buffer.alloc(0) };
  let a = sp;
  while (line[a] === 32) a++;
  return { verb: line.subarray(0, sp).toString("latin1").toLowerCase(), arg: line.subarray(a) };
}

/** Buffered replies (substdio on fd 1), flushed with the 20-minute write timeout; a failed write is die(). */
export class PopOut {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly fd: number,
    private readonly dieCode: number,
  ) {
    writeTimeout(fd, POP_TIMEOUT_MS);
  }

  put(s: string | Buffer): void {
    const b = typeof s === "string" ? Buffer.from(s, "latin1") : s;
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= 65536) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    const b = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    try {
      writeFully(this.fd, b);
    } catch {
      throw new Exit(this.dieCode);
    }
  }

  /** err(): "-ERR text", flushed. */
  err(text: string): void {
    this.put(`-ERR ${text}\r\n`);
    this.flush();
  }

  /** okay(): "+OK ", flushed. */
  okay(): void {
    this.put("+OK \r\n");
    this.flush();
  }
}

/** scan_ulong: the value of the leading decimal digits and how many there were (unsigned long wraps). */
export function scanUlong(b: Buffer, at = 0): { value: bigint; len: number } {
  let v = 0n;
  let i = at;
  while (i < b.length && (b[i] as number) >= 48 && (b[i] as number) <= 57) {
    v = BigInt.asUintN(64, v * 10n + BigInt((b[i] as number) - 48));
    i++;
  }
  return { value: v, len: i - at };
}
