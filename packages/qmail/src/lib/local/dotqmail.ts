// SPDX-License-Identifier: MIT
// .qmail files: which one applies to an address extension, and what its
// lines mean (dot-qmail(5); qmail-local.c qmesearch, qmeexists,
// qmeox and the main loop).
import { bytesOf } from "@qts/core/bytes";
import { errnoName, errorStr, errorTemp } from "@qts/core/errstr";
import { closeSync, constants, fstatSync, openIfExists, readFileSync, statSync } from "@qts/sys/fs";
import { AUTO_PATRN } from "../conf.ts";
import { lowerAscii } from "../cscan.ts";
import { temp } from "./local-message.ts";

// Names here are byte strings (core/bytes.ts): the extension's bytes are the file name's, as in C.

/** ext lowercased (ASCII), every "." made ":", so an extension cannot name "..": dot-qmail(5). */
export function safeExt(ext: string): string {
  return lowerAscii(ext).replaceAll(".", ":");
}

export interface QmailFile {
  /** The file name, relative to the home. */
  name: string;
  /** The open fd (the caller reads and closes it). */
  fd: number;
  /** The user-execute bit: forward-only (dot-qmail(5)). */
  cutable: boolean;
  /** DEFAULT for the environment, when a -default file (or a name ending in "default") matched. */
  defaultPart?: string;
}

/**
 * qmeexists: opens name; undefined when it does not exist (or is not a
 * regular file). EPERM, EACCES and temporary errors defer with "Unable to
 * open"; a world-writable file defers with "Uh-oh: .qmail file is writable".
 */
export function qmeExists(name: string): { fd: number; cutable: boolean } | undefined {
  let fd: number | undefined;
  try {
    // A missing file (the common case: most users have no .qmail-default) makes no error object.
    fd = openIfExists(bytesOf(name), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = errnoName(e);
    if (errorTemp(e) || code === "EPERM" || code === "EACCES")
      throw temp(`Unable to open ${name}: ${errorStr(e)}. (#4.3.0)`);
    return undefined;
  }
  if (fd === undefined) return undefined;
  let mode: number;
  try {
    mode = fstatSync(fd).mode;
  } catch (e) {
    closeSync(fd);
    throw temp(`Unable to open ${name}: ${errorStr(e)}. (#4.3.0)`);
  }
  if ((mode & constants.S_IFMT) === constants.S_IFREG) {
    if (mode & AUTO_PATRN) {
      closeSync(fd);
      throw temp("Uh-oh: .qmail file is writable. (#4.7.0)");
    }
    return { fd, cutable: (mode & 0o100) !== 0 };
  }
  closeSync(fd);
  return undefined;
}

/**
 * qmesearch: ".qmail<dash><safeext>" itself, then ".qmail<dash><prefix>default"
 * for every prefix of safeext that ends in "-" (longest first) and the empty
 * prefix. As in qmail-local, the empty prefix is tried even for the bare user
 * (dash ""), i.e. ".qmaildefault" after ".qmail".
 */
export function qmeSearch(dash: string, ext: string): QmailFile | undefined {
  const safe = safeExt(ext);
  const first = `.qmail${dash}${safe}`;
  const f = qmeExists(first);
  if (f) {
    const r: QmailFile = { name: first, ...f };
    if (safe.length >= 7 && safe.endsWith("default")) {
      const i = safe.length - 7;
      if (i <= ext.length) r.defaultPart = ext.slice(i);
    }
    return r;
  }
  for (let i = safe.length; i >= 0; i--) {
    if (i !== 0 && safe[i - 1] !== "-") continue;
    const name = `.qmail${dash}${safe.slice(0, i)}default`;
    const g = qmeExists(name);
    if (g) return { name, ...g, defaultPart: i <= ext.length ? ext.slice(i) : undefined };
  }
  return undefined;
}

/** qmeox: does ".qmail<dash><safeext><suffix>" exist (stat)? A temporary error defers. */
export function qmeOx(dash: string, ext: string, suffix: string): boolean {
  const name = `.qmail${dash}${safeExt(ext)}${suffix}`;
  try {
    // throwIfNoEntry: a missing file (ENOENT, never temporary) makes no error object.
    return statSync(bytesOf(name), { throwIfNoEntry: false }) !== undefined;
  } catch (e) {
    if (errorTemp(e)) throw temp(`Unable to open ${name}: ${errorStr(e)}. (#4.3.0)`);
    return false;
  }
}

/** Reads and closes a .qmail file found by qmeSearch. */
export function slurp(fd: number): Buffer {
  try {
    return readFileSync(fd);
  } catch {
    throw temp("Out of memory. (#4.3.0)");
  } finally {
    closeSync(fd);
  }
}

export type Instruction =
  | { kind: "blank" }
  | { kind: "comment" }
  | { kind: "maildir"; path: Buffer }
  | { kind: "mbox"; path: Buffer }
  | { kind: "program"; command: Buffer }
  | { kind: "forward"; address: Buffer }
  | { kind: "list" }
  | { kind: "plus" };

/** Bytes up to the first NUL: qmail-local hands each line on as a C string. */
function cstring(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/**
 * Splits .qmail text into lines (a missing final newline added), strips
 * trailing spaces and tabs, and classifies each line by its first byte
 * (dot-qmail(5)): "#" comment, "." or "/" a file (maildir when it ends in "/"),
 * "|" a program, "+list" forward-only, any other "+" ignored, "&" or
 * anything else a forward.
 */
export function parseQmail(text: Buffer): Instruction[] {
  const out: Instruction[] = [];
  let i = 0;
  while (i < text.length) {
    let j = text.indexOf(10, i);
    if (j < 0) j = text.length;
    let k = j;
    while (k > i && (text[k - 1] === 0x20 || text[k - 1] === 0x09)) k--;
    const line = text.subarray(i, k);
    i = j + 1;
    const c = line.length ? (line[0] as number) : 0;
    switch (c) {
      case 0:
        out.push({ kind: "blank" });
        break;
      case 0x23: // #
        out.push({ kind: "comment" });
        break;
      case 0x2e: // .
      case 0x2f: // /
        out.push({ kind: line[line.length - 1] === 0x2f ? "maildir" : "mbox", path: cstring(line) });
        break;
      case 0x7c: // |
        out.push({ kind: "program", command: cstring(line.subarray(1)) });
        break;
      case 0x2b: // +
        out.push(cstring(line.subarray(1)).toString("latin1") === "list" ? { kind: "list" } : { kind: "plus" });
        break;
      case 0x26: // &
        out.push({ kind: "forward", address: cstring(line.subarray(1)) });
        break;
      default:
        out.push({ kind: "forward", address: cstring(line) });
    }
  }
  return out;
}
