// SPDX-License-Identifier: MIT
// Memory at rest. Every program of ours maps the 110 MB multicall executable;
// start-up and each burst of work fault in 25-35 MB of its code and read-only
// data (the kernel maps up to 64 KB around each faulting page), though a
// daemon that waits needs a small part of it. madvise(MADV_DONTNEED) on a
// private file mapping removes this process's page-table entries: a page that
// was never written is still the file's page in the page cache and faults back
// in, unchanged, when the code runs again; a page that was written (a private
// copy) would be lost and the file's bytes would come back instead (madvise(2)).
// Figures: BENCHMARKS.md, "Memory at rest, 2026-12-07 evening".
import { libc } from "./ffi.ts";
import { readFileSync, readlinkSync } from "./fs.ts";

const MADV_DONTNEED = 4;

const c = libc({ madvise: { args: ["u64", "u64", "i32"], returns: "i32" } });

/** A mapping that may be dropped if clean: its range, as /proc/self/maps and smaps print it, and bytes. */
interface Candidate {
  head: string;
  start: bigint;
  len: bigint;
}

/**
 * From /proc/self/maps's text, the mappings of the executable exe that are read-only for good:
 * r-xp (its code) or r--p at file offset 0 (its first segment: headers, .rodata, the runtime's
 * builtins). The r--p RELRO part at another offset was written by the dynamic loader's
 * relocations before its mprotect, and the rw-p segments are writable: never candidates.
 */
function candidates(maps: string, exe: string): Candidate[] {
  const out: Candidate[] = [];
  for (const line of maps.split("\n")) {
    const m = /^(([0-9a-f]+)-([0-9a-f]+)) (\S{4}) ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(line);
    if (!m || m[6] !== exe || !(m[4] === "r-xp" || (m[4] === "r--p" && /^0+$/.test(m[5] as string)))) continue;
    const start = BigInt(`0x${m[2]}`);
    out.push({ head: m[1] as string, start, len: BigInt(`0x${m[3]}`) - start });
  }
  return out;
}

/**
 * The "Anonymous:" figure (kB) of the mapping whose /proc/self/smaps block starts with head: the
 * pages of it that are private copies, written since it was mapped. -1 when the block or the line
 * is not found. Searched in the bytes, without a string per line (a string of the whole file and
 * its 1,500 lines cost a daemon about 0.15 MB of heap for good).
 */
function anonKiB(smaps: Buffer, head: string): number {
  for (let at = smaps.indexOf(`${head} `); at >= 0; at = smaps.indexOf(`${head} `, at + 1)) {
    if (at > 0 && smaps[at - 1] !== 10) continue; // not at a line's start
    const a = smaps.indexOf("\nAnonymous:", at);
    const end = smaps.indexOf("\nVmFlags:", at);
    if (a < 0 || end < 0 || a > end) return -1;
    const m = /^ *(\d+) kB/.exec(smaps.toString("latin1", a + 11, a + 40));
    return m ? Number(m[1]) : -1;
  }
  return -1;
}

/**
 * The mappings trimResident() may drop: only clean, read-only, file-backed mappings of our own
 * executable. A candidate (above: its path is /proc/self/exe's, so no library, JIT or heap memory,
 * and it is read-only for good) counts only when smaps says "Anonymous: 0 kB" for it: not one page
 * of it is a private copy, so no page was ever written (a text relocation, a debugger's
 * breakpoint, anyone's mprotect). A mapping with any written page, or whose figure cannot be
 * read, is left whole.
 */
export function trimmable(maps: string, smaps: Buffer, exe: string): { start: bigint; len: bigint }[] {
  return candidates(maps, exe)
    .filter((c) => anonKiB(smaps, c.head) === 0)
    .map((c) => ({ start: c.start, len: c.len }));
}

/**
 * Drops this process's resident pages of the mappings trimmable() picks; they stay in the page
 * cache and fault back in when used. Returns how many mappings were dropped.
 */
export function trimResident(): number {
  let ranges: { start: bigint; len: bigint }[];
  try {
    // Read each time: a rebuilt executable leaves this one "(deleted)", in both names alike.
    const exe = readlinkSync("/proc/self/exe");
    // The ranges first, the calls after: code that ran between two madvise calls would fault back in.
    ranges = trimmable(readFileSync("/proc/self/maps", "latin1"), readFileSync("/proc/self/smaps"), exe);
  } catch {
    return 0;
  }
  const madvise = c().madvise;
  let n = 0;
  for (const r of ranges) if (madvise(r.start, r.len, MADV_DONTNEED) === 0) n++;
  return n;
}
