// SPDX-License-Identifier: MIT
// cdb (DJB's cdb.c and cdb_make.c): a reader (all values of a key, from a
// Buffer or by positional reads on an fd, bounded and safe on corrupt files)
// and a writer that lays the file out exactly as DJB's cdb_make does.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from "@qts/sys/fs";

export type Bytes = string | Uint8Array;

function bytes(b: Bytes): Buffer {
  return typeof b === "string"
    ? Buffer.from(b)
    : Buffer.isBuffer(b)
      ? b
      : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** cdb_hash: h = 5381; h = ((h << 5) + h) ^ c, mod 2^32. */
export function cdbHash(key: Uint8Array): number {
  let h = 5381;
  for (let i = 0; i < key.length; i++) h = (((h << 5) + h) ^ (key[i] as number)) >>> 0;
  return h;
}

/** Thrown on a file that is not a valid cdb; cdb_read's error_proto (EPROTO, "protocol error"). */
export class CdbFormatError extends Error {
  readonly code = "EPROTO";
  readonly errno = 71;
  constructor(what: string) {
    super(`cdb: ${what}`);
  }
}

const HEADER = 2048;
const MAX = 0xffffffff;

// ---------------------------------------------------------------- reader

/** Where a cdb's bytes come from: a whole Buffer, or positional reads on an fd. */
interface Source {
  size: number;
  read(pos: number, len: number): Buffer;
}

function bufferSource(buf: Buffer): Source {
  return {
    size: buf.length,
    read(pos, len) {
      if (pos > buf.length || buf.length - pos < len) throw new CdbFormatError("read past end of file");
      return buf.subarray(pos, pos + len);
    },
  };
}

function fdSource(fd: number, size: number): Source {
  return {
    size,
    read(pos, len) {
      if (pos > size || size - pos < len) throw new CdbFormatError("read past end of file");
      const out = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, out, got, len - got, pos + got);
        if (n === 0) throw new CdbFormatError("file shrank while reading");
        got += n;
      }
      return out;
    },
  };
}

export class Cdb {
  private constructor(private readonly src: Source) {}

  /** A cdb held in memory (e.g. from readFileSync). */
  static fromBuffer(buf: Uint8Array): Cdb {
    return new Cdb(bufferSource(bytes(buf)));
  }

  /**
   * A cdb read with pread on fd (the caller keeps and closes the fd). size
   * is the file's size, from fstat, unless given.
   */
  static fromFd(fd: number, size?: number): Cdb {
    const n = size ?? fstatSync(fd).size;
    return new Cdb(fdSource(fd, n));
  }

  /** The first value stored under key (cdb_find), or undefined. */
  get(key: Bytes): Buffer | undefined {
    for (const v of this.values(key)) return v;
    return undefined;
  }

  /** Every value stored under key, in the order they were added (cdb_findnext). */
  getAll(key: Bytes): Buffer[] {
    return [...this.values(key)];
  }

  /** Lazily yields every value stored under key; at most nslots probes, so it ends on any file. */
  *values(key: Bytes): Generator<Buffer> {
    const k = bytes(key);
    const h = cdbHash(k);
    const slot = this.src.read((h << 3) & 2047, 8);
    const hpos = slot.readUInt32LE(0);
    const hslots = slot.readUInt32LE(4);
    if (hslots === 0) return;
    let kpos = hpos + ((h >>> 8) % hslots) * 8;
    const end = hpos + hslots * 8;
    for (let loop = 0; loop < hslots; loop++) {
      const e = this.src.read(kpos, 8);
      const pos = e.readUInt32LE(4);
      if (pos === 0) return;
      kpos += 8;
      if (kpos === end) kpos = hpos;
      if (e.readUInt32LE(0) !== h) continue;
      const rec = this.src.read(pos, 8);
      if (rec.readUInt32LE(0) !== k.length) continue;
      if (!this.src.read(pos + 8, k.length).equals(k)) continue;
      yield Buffer.from(this.src.read(pos + 8 + k.length, rec.readUInt32LE(4)));
    }
  }

  /** Every record in file order (like cdbdump); stops at the first hash table. */
  *entries(): Generator<[Buffer, Buffer]> {
    const eod = this.src.read(0, 4).readUInt32LE(0);
    let pos = HEADER;
    while (pos < eod) {
      const rec = this.src.read(pos, 8);
      const klen = rec.readUInt32LE(0);
      const dlen = rec.readUInt32LE(4);
      if (klen > eod - pos - 8 || dlen > eod - pos - 8 - klen) throw new CdbFormatError("record crosses the tables");
      const key = Buffer.from(this.src.read(pos + 8, klen));
      const data = Buffer.from(this.src.read(pos + 8 + klen, dlen));
      yield [key, data];
      pos += 8 + klen + dlen;
    }
  }
}

// ---------------------------------------------------------------- writer

/**
 * cdb_make: records go out in the order added (streamed to fd when one is
 * given), then the 256 hash tables, each with 2 slots per key and linear
 * probing from (h >> 8) % nslots, then the header at offset 0.
 */
export class CdbMake {
  private pos = HEADER;
  private readonly hashes: number[] = [];
  private readonly places: number[] = [];
  private chunks: Buffer[] = [];
  private pending = 0;
  private written = 0;

  /** With fd, records are written to it as they come (from offset 0); without, finish() returns the file. */
  constructor(private readonly fd?: number) {
    this.chunks.push(Buffer.alloc(HEADER));
    this.pending = HEADER;
  }

  add(key: Bytes, data: Bytes): void {
    const k = bytes(key);
    const d = bytes(data);
    const size = 8 + k.length + d.length;
    // cdb_make's posplus: the file must stay addressable with 32 bits.
    if (this.pos + size > MAX) throw Object.assign(new Error("cdb too big"), { code: "ENOMEM", errno: 12 });
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(k.length, 0);
    head.writeUInt32LE(d.length, 4);
    this.push(head);
    this.push(k);
    this.push(d);
    this.hashes.push(cdbHash(k));
    this.places.push(this.pos);
    this.pos += size;
  }

  private push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.pending += b.length;
    if (this.fd !== undefined && this.pending >= 65536) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined || this.pending === 0) return;
    const buf = Buffer.concat(this.chunks, this.pending);
    let off = 0;
    while (off < buf.length) {
      off += writeSync(this.fd, buf, off, buf.length - off, this.written + off);
    }
    this.written += buf.length;
    this.chunks = [];
    this.pending = 0;
  }

  /** One hash table of len slots for the entries (indexes into hashes and places), linear probing. */
  private table(entries: Uint32Array, len: number): Buffer {
    const slotH = new Uint32Array(len);
    const slotP = new Uint32Array(len);
    for (const j of entries) {
      const h = this.hashes[j] as number;
      let where = (h >>> 8) % len;
      while (slotP[where] !== 0) if (++where === len) where = 0;
      slotH[where] = h;
      slotP[where] = this.places[j] as number;
    }
    const table = Buffer.allocUnsafe(len * 8);
    for (let s = 0; s < len; s++) {
      table.writeUInt32LE(slotH[s] as number, s * 8);
      table.writeUInt32LE(slotP[s] as number, s * 8 + 4);
    }
    return table;
  }

  /** Writes the tables and the header; returns the whole file when there is no fd. */
  finish(): Buffer | undefined {
    const n = this.hashes.length;
    const count = new Uint32Array(256);
    for (const h of this.hashes) count[h & 255] = (count[h & 255] as number) + 1;
    // Entries of each table in insertion order (cdb_make fills "split" back to front from a reversed list).
    const start = new Uint32Array(256);
    let u = 0;
    for (let i = 0; i < 256; i++) {
      start[i] = u;
      u += count[i] as number;
    }
    const fill = start.slice();
    const order = new Uint32Array(n);
    for (let j = 0; j < n; j++) {
      const t = (this.hashes[j] as number) & 255;
      const at = fill[t] as number;
      order[at] = j;
      fill[t] = at + 1;
    }

    const header = Buffer.alloc(HEADER);
    let pos = this.pos;
    for (let i = 0; i < 256; i++) {
      const c = count[i] as number;
      const len = c * 2;
      header.writeUInt32LE(pos, i * 8);
      header.writeUInt32LE(len, i * 8 + 4);
      if (len === 0) continue;
      if (pos + len * 8 > MAX) throw Object.assign(new Error("cdb too big"), { code: "ENOMEM", errno: 12 });
      this.push(this.table(order.subarray(start[i] as number, (start[i] as number) + c), len));
      pos += len * 8;
    }
    if (this.fd === undefined) {
      const out = Buffer.concat(this.chunks, this.pending);
      header.copy(out, 0);
      return out;
    }
    this.flush();
    let off = 0;
    while (off < HEADER) off += writeSync(this.fd, header, off, HEADER - off, off);
    return undefined;
  }
}

/** Builds a whole cdb in memory from [key, value] pairs, in order. */
export function cdbBuild(entries: Iterable<readonly [Bytes, Bytes]>): Buffer {
  const m = new CdbMake();
  for (const [k, v] of entries) m.add(k, v);
  return m.finish() as Buffer;
}

/**
 * The tcprules/qmail-newu way to replace a cdb atomically: create tmp
 * (mode 0644 less umask, truncated), let fill add the records, then fsync,
 * close and rename tmp over path. Errors carry the failing step in .step
 * ("create", "write" or "rename") so callers can word their messages.
 */
export function cdbWriteAtomic(path: string, tmp: string, fill: (m: CdbMake) => void): void {
  let fd: number;
  try {
    fd = openSync(tmp, "w", 0o644);
  } catch (e) {
    throw Object.assign(e as object, { step: "create" });
  }
  try {
    const m = new CdbMake(fd);
    fill(m);
    m.finish();
    fsyncSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {}
    throw Object.assign(e as object, { step: (e as { step?: string }).step ?? "write" });
  }
  try {
    closeSync(fd);
  } catch (e) {
    throw Object.assign(e as object, { step: "write" });
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    throw Object.assign(e as object, { step: "rename" });
  }
}
