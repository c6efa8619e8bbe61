// SPDX-License-Identifier: MIT
// headerbody.c and hfield_skipname (hfield.c): a message split into header
// fields (continuation lines joined, a "From " line as "MBOX-Line: From ...")
// and body lines, the way qreceipt, qbiff and maildirwatch read it. Lines are
// byte strings (one char per byte) ending in "\n"; a last line without one
// gets it.
import { readChunk } from "@qts/core/io";
import { valid } from "./header.ts";

/** The lines of fd, each with its "\n" (getln + headerbody.c getsa). Read errors are thrown. */
export function* lines(fd: number): Generator<string> {
  const buf = Buffer.allocUnsafe(65536);
  let part = "";
  for (;;) {
    const n = readChunk(fd, buf);
    if (n === 0) break;
    part += buf.toString("latin1", 0, n);
    let at = 0;
    for (;;) {
      const nl = part.indexOf("\n", at);
      if (nl < 0) break;
      yield part.slice(at, nl + 1);
      at = nl + 1;
    }
    part = part.slice(at);
  }
  if (part.length > 0) yield `${part}\n`;
}

export type Part = { field: string } | { end: true } | { body: string };

/**
 * headerbody(): each header field, then { end } once the header is over,
 * then each body line (a blank separator line is the first body line; a
 * line that is not a field ends the header and comes after a "\n").
 */
export function* headerbody(input: Iterable<string>): Generator<Part> {
  let line: string | undefined;
  let inHeader = true;
  for (const next of input) {
    if (!inHeader) {
      yield { body: next };
      continue;
    }
    if (line !== undefined) {
      if (next[0] === " " || next[0] === "\t") {
        line += next;
        continue;
      }
      yield { field: line };
      line = undefined;
    }
    if (next === "\n") {
      yield { end: true };
      yield { body: next };
      inHeader = false;
    } else if (next.startsWith("From ")) line = `MBOX-Line: ${next}`;
    else if (valid(next)) line = next;
    else {
      yield { end: true };
      yield { body: "\n" };
      yield { body: next };
      inHeader = false;
    }
  }
  if (inHeader) {
    if (line !== undefined) yield { field: line };
    yield { end: true };
  }
}

/** hfield_skipname: the offset just past the field's colon and the blanks (and CR, LF) after it. */
export function skipName(h: string): number {
  let i = h.indexOf(":");
  i = i < 0 ? h.length : i + 1;
  while (i < h.length && (h[i] === " " || h[i] === "\t" || h[i] === "\r" || h[i] === "\n")) i++;
  return i;
}

/** A byte string with every byte outside 32..126 replaced by sub (qbiff's and maildirwatch's screens). */
export function printable(s: string, sub: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 32 || c > 126 ? sub : s[i];
  }
  return out;
}
