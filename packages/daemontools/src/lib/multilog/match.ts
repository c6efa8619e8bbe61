// SPDX-License-Identifier: MIT
// multilog(8)'s selection: the patterns of + and - items, and the script's
// actions on one line (e, =, our 1) in the order given.
import { checkPipe, writeAll } from "@qts/core/die";
import { writeSync } from "@qts/sys/fs";
import { pause } from "./pause.ts";
import type { Item } from "./script.ts";

/** The length of a line multilog looks at; a status file gets exactly this many bytes (padded with newlines). */
export const LINE = 1000;
/** e: at most this many bytes of the line go to standard error, then "...". */
const ALERT = 200;
const STAR = 0x2a;

/** Index of the first next at or after j in line[0, len), or -1. */
function skipTo(line: Uint8Array, j: number, len: number, next: number | undefined): number {
  for (; j < len; j++) if (line[j] === next) return j;
  return -1;
}

/** multilog's pattern match: whole line, "*" skips to the first occurrence of the next byte, no backtracking. */
export function match(pat: Uint8Array, line: Uint8Array, len: number): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    if (i === pat.length) return j === len;
    const ch = pat[i++];
    if (ch === STAR) {
      if (i === pat.length) return true;
      j = skipTo(line, j, len, pat[i]);
      if (j < 0) return false;
      continue;
    }
    if (j === len || line[j] !== ch) return false;
    j++;
  }
}

function alert(line: Buffer, len: number): void {
  const b =
    len > ALERT
      ? Buffer.concat([line.subarray(0, ALERT), Buffer.from("...\n")])
      : Buffer.concat([line.subarray(0, len), Buffer.from("\n")]);
  try {
    writeSync(2, b);
  } catch (e) {
    checkPipe(e);
  }
}

function toStdout(prefix: Buffer, line: Buffer, len: number): void {
  try {
    writeAll(1, Buffer.concat([prefix, line.subarray(0, len), Buffer.from("\n")]));
  } catch (e) {
    checkPipe(e);
  }
}

/** =file: the line, padded, written over the file's start until it all goes in. */
function status(fd: number, name: string, line: Buffer): void {
  for (;;) {
    try {
      if (writeSync(fd, line, 0, LINE + 1, 0) === LINE + 1) return;
      pause(new Error(), `write ${name}`);
    } catch (e) {
      pause(e, `write ${name}`);
    }
  }
}

/**
 * The script's items on line[0, len) (line has room for LINE + 1 bytes; the rest is filled with
 * newlines): each directory's selected says whether the line goes there.
 */
export function runScript(items: readonly Item[], line: Buffer, len: number): void {
  line.fill(10, len, LINE + 1);
  let sel = true;
  for (const it of items)
    switch (it.k) {
      case "+":
        if (!sel && match(it.pat, line, len)) sel = true;
        break;
      case "-":
        if (sel && match(it.pat, line, len)) sel = false;
        break;
      case "e":
        if (sel) alert(line, len);
        break;
      case "1":
        if (sel) toStdout(it.prefix, line, len);
        break;
      case "=":
        if (sel) status(it.fd, it.name, line);
        break;
      case "d":
        it.dir.selected = sel;
        break;
    }
}
