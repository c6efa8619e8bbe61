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
    if (nl < 0) throw new AssignFormatError();
    if (line.includes(0)) throw new AssignFormatError();
    const i = line.indexOf(0x3a);
    if (i <= 0) throw new AssignFormatError();
    let key: Buffer;
    if (line[0] === 0x2b) {
      key = lowerBytes(Buffer.concat([Buffer.from("!"), line.subarray(1, i)]));
      const last = line[i - 1] as number;
      if (i >= 2 && !wild.includes(last)) wild.push(last);
    } else {
      key = lowerBytes(Buffer.concat([Buffer.from("!"), line.subarray(1, i), Buffer.from([0])]));
    }
    const data = Buffer.from(line.subarray(i + 1));
    let colons = 0;
    let j = 0;
    for (; j < data.length; j++) {
      if (data[j] === 0x3a) {
        data[j] = 0;
        if (++colons === 6) break;
      }
    }
    if (colons < 6) throw new AssignFormatError();
    out.push([key, data.subarray(0, j)]);
  }
  out.push([Buffer.alloc(0), Buffer.from(wild)]);
  return out;
}
