// SPDX-License-Identifier: MIT
// The line-end conversions of ucspi-tcp's addcr.c, delcr.c, fixcrio.c and
// mconnect-io.c, as byte filters that keep their state across chunks, and
// cat -v's rendering, which the who@, date@ and finger@ scripts pipe into.
import { readChunk } from "@qts/core/io";

const CR = 13;
const LF = 10;

export interface Filter {
  /** The output for one chunk of input. */
  put(chunk: Uint8Array): Uint8Array;
  /** What is still owed at the end of the input. */
  end(): Uint8Array;
}

const NONE = new Uint8Array(0);

/** addcr (and mconnect-io's stdin side): a CR before every LF, whatever came before it. */
export function addCr(): Filter {
  return {
    put(chunk) {
      let n = 0;
      for (const b of chunk) if (b === LF) n++;
      if (n === 0) return chunk;
      const out = new Uint8Array(chunk.length + n);
      let j = 0;
      for (const b of chunk) {
        if (b === LF) out[j++] = CR;
        out[j++] = b;
      }
      return out;
    },
    end: () => NONE,
  };
}

/**
 * delcr: a CR right before an LF is dropped; any other CR stays, and so does
 * a CR at the very end of the input (delcr.c holds a CR back until it sees
 * the next byte).
 */
export function delCr(): Filter {
  let held = false;
  return {
    put(chunk) {
      const out = new Uint8Array(chunk.length + 1);
      let j = 0;
      for (const b of chunk) {
        if (!held) {
          if (b === CR) held = true;
          else out[j++] = b;
          continue;
        }
        if (b !== LF) {
          out[j++] = CR;
          if (b === CR) continue;
        }
        held = false;
        out[j++] = b;
      }
      return out.subarray(0, j);
    },
    end() {
      if (!held) return NONE;
      held = false;
      return Uint8Array.of(CR);
    },
  };
}

/** fixcrio's conversion, each direction on its own: a CR before every LF that lacks one. */
export function fixCr(): Filter {
  let lastCr = false;
  return {
    put(chunk) {
      const out = new Uint8Array(chunk.length * 2);
      let j = 0;
      for (const b of chunk) {
        if (b === LF && !lastCr) out[j++] = CR;
        out[j++] = b;
        lastCr = b === CR;
      }
      return out.subarray(0, j);
    },
    end: () => NONE,
  };
}

/**
 * cat -v: control bytes as ^X (DEL as ^?), bytes with the high bit as M- and
 * the rendering of the low seven bits; newline and tab pass unchanged.
 */
export function catV(chunk: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let b of chunk) {
    const high = b >= 128;
    if (high) {
      out.push(0x4d, 0x2d); // "M-"
      b -= 128;
    }
    if (b === 127) out.push(0x5e, 0x3f);
    // Newline and tab show as themselves, but not with the high bit set (M-^J, M-^I).
    else if (b < 32 && (high || (b !== LF && b !== 9))) out.push(0x5e, b + 64);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

/**
 * Copies fd to the writer through f, one read at a time (the C programs flush
 * before every read); at the end of the input, f's remainder. Read errors are
 * thrown.
 */
export function pump(fd: number, f: Filter, write: (b: Uint8Array) => void): void {
  const buf = new Uint8Array(8192);
  for (;;) {
    const n = readChunk(fd, buf);
    if (n === 0) break;
    const out = f.put(buf.subarray(0, n));
    if (out.length > 0) write(out);
  }
  const rest = f.end();
  if (rest.length > 0) write(rest);
}

/** cat -v as a filter. */
export function catVFilter(): Filter {
  return { put: catV, end: () => NONE };
}

/**
 * http@'s awk program `/^$/ { body=1; next } { if (body) print }`: every line
 * after the first empty one, except the empty ones, each ending in a newline
 * (awk's print adds one to a last line without it).
 */
export function afterHeader(): Filter {
  let body = false;
  let line: number[] = [];
  const flush = (out: number[]) => {
    if (line.length === 0) body = true;
    else if (body) {
      for (const b of line) out.push(b);
      out.push(LF);
    }
    line = [];
  };
  return {
    put(chunk) {
      const out: number[] = [];
      for (const b of chunk) {
        if (b === LF) flush(out);
        else line.push(b);
      }
      return Uint8Array.from(out);
    },
    end() {
      const out: number[] = [];
      if (line.length > 0) flush(out);
      return Uint8Array.from(out);
    },
  };
}
