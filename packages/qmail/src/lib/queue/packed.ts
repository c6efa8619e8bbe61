// SPDX-License-Identifier: MIT
// An envelope kept as bytes, as C keeps it in one stralloc: records of a
// prefix byte, the address and a NUL, packed into 64 KiB chunks, so a
// recipient costs its address plus two bytes, not a string object. Bounded:
// past its budget push() throws NoMem, the caller's "out of memory" (C's
// stralloc returning 0).
import { readFileSync } from "@qts/sys/fs";

/** The envelope would outgrow its budget: C's die_nomem / temp_nomem. */
export class NoMem extends Error {
  constructor() {
    super("out of memory");
  }
}

const CHUNK = 65536;
/** Envelope bytes allowed without reading the limits: any process can hold them. */
const FREE = 1 << 20;

export class Packed {
  private chunks: Buffer[] = [];
  private cur: Buffer | undefined;
  private used = 0;
  /** Records pushed. */
  count = 0;
  /** Bytes held (sum of the records). */
  bytes = 0;

  /** budget: bytes; default envelopeBudget(), read once the envelope passes 1 MiB. */
  constructor(private budget?: number) {}

  /** Appends prefix (one byte, or "") + s (latin1, cut at its first NUL as a C string is) + NUL; throws NoMem past the budget. */
  push(prefix: string, s: string): void {
    const nul = s.indexOf("\0");
    if (nul >= 0) s = s.slice(0, nul);
    const need = prefix.length + s.length + 1;
    // the first MiB needs no look at the limits: the common session never reads /proc
    if (this.bytes + need > FREE) {
      this.budget ??= envelopeBudget();
      if (this.bytes + need > this.budget) throw new NoMem();
    }
    if (!this.cur || this.used + need > this.cur.length) {
      if (this.cur && this.used > 0) this.chunks.push(this.cur.subarray(0, this.used));
      this.cur = Buffer.allocUnsafe(Math.max(CHUNK, need));
      this.used = 0;
    }
    if (prefix) this.used += this.cur.write(prefix, this.used, "latin1");
    this.used += this.cur.write(s, this.used, "latin1");
    this.cur[this.used++] = 0;
    this.bytes += need;
    this.count++;
  }

  /** The bytes, chunk by chunk (views, no copy). */
  parts(): Buffer[] {
    return this.cur && this.used > 0 ? [...this.chunks, this.cur.subarray(0, this.used)] : [...this.chunks];
  }

  /** The records without their prefix (skip bytes) and NUL. */
  *strings(skip = 1): Generator<string> {
    for (const c of this.parts()) {
      let at = 0;
      while (at < c.length) {
        const z = c.indexOf(0, at);
        yield c.toString("latin1", at + skip, z);
        at = z + 1;
      }
    }
  }
}

const ENVELOPE_MAX = 2 ** 31;
let cached: number | undefined;

function field(text: string, re: RegExp): number | undefined {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * How many envelope bytes a session may hold: half of what is left between
 * the address space and data in use now (/proc/self/status VmSize, VmData)
 * and their limits (RLIMIT_AS, RLIMIT_DATA, as softlimit -m sets them); the
 * rest stays for the runtime's heap and the message's buffers. Under the
 * smtpd run script's limit that is about 16 MB (the runtime's reservations
 * take the rest of the 500 MB). Without limits, 2 GiB. Read once per process.
 */
export function envelopeBudget(): number {
  if (cached !== undefined) return cached;
  let budget = ENVELOPE_MAX;
  try {
    const limits = readFileSync("/proc/self/limits", "latin1");
    const status = readFileSync("/proc/self/status", "latin1");
    const as = field(limits, /^Max address space\s+(\d+)/m);
    const data = field(limits, /^Max data size\s+(\d+)/m);
    const vm = (field(status, /^VmSize:\s+(\d+) kB/m) ?? 0) * 1024;
    const vd = (field(status, /^VmData:\s+(\d+) kB/m) ?? 0) * 1024;
    if (as !== undefined) budget = Math.min(budget, Math.max(0, as - vm) / 2);
    if (data !== undefined) budget = Math.min(budget, Math.max(0, data - vd) / 2);
  } catch {}
  cached = Math.floor(Math.max(budget, 65536));
  return cached;
}

/** The runtime's own allocation failure ("Out of memory" RangeError from JSC, ENOMEM from a system call). */
export function isOutOfMemory(e: unknown): boolean {
  if (e instanceof NoMem) return true;
  const err = e as { message?: unknown; code?: unknown };
  return err?.code === "ENOMEM" || (typeof err?.message === "string" && /^out of memory/i.test(err.message));
}
