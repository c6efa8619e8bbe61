// SPDX-License-Identifier: MIT
// users/assign -> users/cdb records, as qmail-newu builds them (qmail-users(5); qmail-newu.c).

/** A users/assign syntax error: qmail-newu's "bad format in users/assign". */
export class AssignFormatError extends Error {
  readonly step = "format";
  constructor() {
    super("bad format in users/assign");
  }
}

function lowerBytes(b: Buffer): Buffer {
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c >= 0x41 && c <= 0x5a) b[i] = c + 32;
  }
  return b;
}

/**
 * One line's cdb key, lowercased: "!prefix" for a wildcard line ("+"), "!name\0"
 * for an exact one; a wildcard's last prefix character joins wild (qmail-newu.c's main loop).
 */
function assignKey(line: Buffer, colon: number, wild: number[]): Buffer {
  if (line[0] !== 0x2b) return lowerBytes(Buffer.concat([Buffer.from("!"), line.subarray(1, colon), Buffer.from([0])]));
  const last = line[colon - 1] as number;
  if (colon >= 2 && !wild.includes(last)) wild.push(last);
  return lowerBytes(Buffer.concat([Buffer.from("!"), line.subarray(1, colon)]));
}

/** The fields after the name, their first six colons turned into NULs and cut after the sixth. */
function assignData(line: Buffer, colon: number): Buffer {
  const data = Buffer.from(line.subarray(colon + 1));
  let colons = 0;
  let j = 0;
  for (; j < data.length; j++) {
    if (data[j] === 0x3a) {
      data[j] = 0;
      if (++colons === 6) break;
    }
  }
  if (colons < 6) throw new AssignFormatError();
  return data.subarray(0, j);
}

/**
 * Parses users/assign into [key, value] records in file order, plus the
 * wildcard-character record under the empty key last. Reading stops at a line
 * starting with "."; every line before it must end in a newline, hold no NUL,
 * have a non-empty name before its first colon and at least six more colons.
 * A line starting with "+" is a wildcard (key "!prefix"), any other an exact
 * entry (key "!name\0"); keys are lowercased. Throws AssignFormatError.
 */
export function assignRecords(text: Buffer): [Buffer, Buffer][] {
  const out: [Buffer, Buffer][] = [];
  const wild: number[] = [];
  let pos = 0;
  for (;;) {
    const nl = text.indexOf(10, pos);
    const line = nl < 0 ? text.subarray(pos) : text.subarray(pos, nl + 1);
    pos = nl < 0 ? text.length : nl + 1;
    if (line.length && line[0] === 0x2e) break;
    if (nl < 0 || line.includes(0)) throw new AssignFormatError();
    const i = line.indexOf(0x3a);
    if (i <= 0) throw new AssignFormatError();
    const key = assignKey(line, i, wild);
    out.push([key, assignData(line, i)]);
  }
  out.push([Buffer.alloc(0), Buffer.from(wild)]);
  return out;
}
