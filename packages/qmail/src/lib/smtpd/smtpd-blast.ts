// SPDX-License-Identifier: MIT
// qmail-smtpd's DATA reader (qmail-smtpd.c's blast()): the bytes after
// "354 go ahead" up to CRLF.CRLF, unstuffed for qmail-queue, with the hops
// (Received and Delivered-To lines) counted and the databytes limit kept.
// Only CRLF.CRLF ends the data, and any bare LF is refused (straynewline():
// 451 and exit), so that no other server can read a different end of the
// message than ours (SMTP smuggling, notqmail#251). CRLF becomes LF, a lone
// CR is kept, a dot at the start of a line is removed.

/** The most bytes handed to qmail-queue in one write. */
export const QQCHUNK = 65536;

/**
 * blast()'s states, with qmail-smtpd.c's numbers. The data starts at
 * LINESTART, as if right after a CRLF, so that "." CRLF alone ends it.
 */
enum St {
  /** 0: inside a line. A bare LF here is refused. */
  MIDLINE = 0,
  /** 1: at the start of a line, right after CRLF. A dot here is dot-stuffing (RFC 5321 section 4.5.2). */
  LINESTART = 1,
  /** 2: CRLF "." seen; the dot is dropped. A CR may be the end; anything else is the line's first byte. */
  DOT = 2,
  /** 3: CRLF "." CR seen: an LF ends the data; anything else puts the held "." CR back. */
  DOTCR = 3,
  /** 4: a CR inside a line, held back: an LF makes CRLF, copied as LF; anything else puts the CR back. */
  CR = 4,
}

// step()'s answer: the next state in the low three bits, and what else to do with the byte.
/** The byte is not copied (a CR held back, or a stuffed dot). */
const SKIP = 8;
/** A held CR is copied before the byte: it was not part of a CRLF. */
const PUT_CR = 16;
/** A held "." CR is copied before the byte: it was not the end. */
const PUT_DOTCR = 32;
/** A bare LF (not after a CR): straynewline(). */
const STRAY = 64;
/** CRLF "." CRLF: the end of the data. */
const END = 128;
const STATE = 7;

const CR = 13;
const LF = 10;
const DOT = 46;

// blast()'s switch as a table: for each state in order, what an LF, a CR, a dot and any other byte do.
// In CR, a second CR is copied in place of the first and is held back itself.
// biome-ignore format: one row per state
const NEXT: readonly number[] = [
  /* MIDLINE   */ STRAY, St.CR | SKIP, St.MIDLINE, St.MIDLINE,
  /* LINESTART */ STRAY, St.CR | SKIP, St.DOT | SKIP, St.MIDLINE,
  /* DOT       */ STRAY, St.DOTCR | SKIP, St.MIDLINE, St.MIDLINE,
  /* DOTCR     */ END, St.CR | SKIP | PUT_DOTCR, St.MIDLINE | PUT_DOTCR, St.MIDLINE | PUT_DOTCR,
  /* CR        */ St.LINESTART, St.CR, St.MIDLINE | PUT_CR, St.MIDLINE | PUT_CR,
];

/** One byte through blast()'s switch: the next state, with the flags above. */
function step(state: St, ch: number): number {
  const cls = ch === LF ? 0 : ch === CR ? 1 : ch === DOT ? 2 : 3;
  return NEXT[state * 4 + cls] as number;
}

/** Where scan() stopped. */
export enum Scan {
  /** The input or the chunk ran out: hand over the chunk, read more, scan again. */
  MORE = 0,
  /** CRLF.CRLF. */
  END = 1,
  /** A bare LF: the caller answers 451 and exits. */
  STRAY = 2,
}

const RECEIVED = "received";
const DELIVERED = "delivered";

/** blast()'s state across reads: the byte state, the header's hop count, the databytes count, the chunk for qmail-queue. */
export class Blast {
  private state = St.LINESTART;
  /** Received: and Delivered-To: lines in the header. */
  hops = 0;
  private inHeader = true;
  /** The column in the current header line, counted up to 9. */
  private hpos = 0;
  /** The line might still be "received" ... */
  private mx = true;
  /** ... might still be CRLF, the end of the header ... */
  private my = true;
  /** ... might still be "delivered". */
  private mz = true;
  /** bytestooverflow: databytes + 1 counted down; 0 without a limit. */
  private left: number;
  /** The message went over databytes: nothing more is copied. */
  failed = false;
  /** The bytes for qmail-queue so far. */
  chunk = new Uint8Array(QQCHUNK);
  olen = 0;
  /** Where the last scan() stopped. */
  pos = 0;

  constructor(databytes: number) {
    this.left = databytes ? databytes + 1 : 0;
  }

  /** The chunk is full: hand it over (the caller writes it) and start a new one. */
  get full(): boolean {
    return this.olen >= QQCHUNK - 4;
  }

  /** The chunk's bytes, and a fresh chunk in its place. */
  take(): Uint8Array {
    const b = this.chunk.subarray(0, this.olen);
    this.chunk = new Uint8Array(QQCHUNK);
    this.olen = 0;
    return b;
  }

  /** buf[p..) until the chunk is full or buf runs out (MORE), the end (END) or a bare LF (STRAY); this.pos is where. */
  scan(buf: Uint8Array, p: number): Scan {
    const end = buf.length;
    while (p < end && this.olen < QQCHUNK - 4) {
      const q = this.run(buf, p);
      if (q > p) {
        p = q;
        continue;
      }
      const ch = buf[p++] as number;
      if (this.inHeader) this.header(ch);
      const t = step(this.state, ch);
      if (t >= STRAY) {
        this.pos = p;
        return t === END ? Scan.END : Scan.STRAY;
      }
      this.state = t & STATE;
      this.emit(t, ch);
    }
    this.pos = p;
    return Scan.MORE;
  }

  /** The fast path: a run of plain bytes inside a line, past the header's first 9 columns, copied at once; p if none. */
  private run(buf: Uint8Array, p: number): number {
    if (this.state !== St.MIDLINE || (this.inHeader && this.hpos < 9)) return p;
    let stop = buf.length;
    const cr = buf.indexOf(CR, p);
    if (cr >= 0 && cr < stop) stop = cr;
    const lf = buf.indexOf(LF, p);
    if (lf >= 0 && lf < stop) stop = lf;
    stop = Math.min(stop, p + (QQCHUNK - 4 - this.olen));
    const left = this.left;
    // the byte that goes over databytes takes the slow path, which marks the overflow
    if (left && stop - p >= left) stop = p + left - 1;
    if (stop <= p) return p;
    if (!this.failed) {
      this.chunk.set(buf.subarray(p, stop), this.olen);
      this.olen += stop - p;
    }
    if (left) this.left = left - (stop - p);
    return stop;
  }

  /** What step() said to copy: a held-back CR or "." CR, then the byte unless it is skipped. */
  private emit(t: number, ch: number): void {
    if (t & PUT_DOTCR) {
      this.put(DOT);
      this.put(CR);
    } else if (t & PUT_CR) this.put(CR);
    if (!(t & SKIP)) this.put(ch);
  }

  /** put(): one byte for qmail-queue, unless the message is over databytes. */
  private put(b: number): void {
    if (this.left) {
      this.left--;
      if (!this.left) this.failed = true;
    }
    if (!this.failed) this.chunk[this.olen++] = b;
  }

  /** The hop count: each header line is matched against "received" and "delivered" in its first columns. */
  private header(ch: number): void {
    if (this.hpos < 9) this.column(ch);
    if (ch === LF) {
      this.hpos = 0;
      this.mx = this.my = this.mz = true;
    }
  }

  /** One of a header line's first 9 bytes; a line that is just CRLF ends the header. */
  private column(ch: number): void {
    const hpos = this.hpos;
    const lc = ch | 0x20;
    if (lc !== DELIVERED.charCodeAt(hpos)) this.mz = false;
    if (this.mz && hpos === 8) this.hops++;
    if (hpos < 8 && lc !== RECEIVED.charCodeAt(hpos)) this.mx = false;
    if (this.mx && hpos === 7) this.hops++;
    if (hpos < 2 && ch !== (hpos === 0 ? CR : LF)) this.my = false;
    if (this.my && hpos === 1) this.inHeader = false;
    this.hpos = hpos + 1;
  }
}
