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
import { readFileSync, readlinkSync } from "node:fs";
import { libc } from "./ffi.ts";

const MADV_DONTNEED = 4;

const c = libc({ madvise: { args: ["u64", "u64", "i32"], returns: "i32" } });

/** One mapping of /proc/self/smaps: its range, permissions, file offset, path and private-copy size. */
interface Vma {
  start: bigint;
  end: bigint;
  perms: string;
  offset: number;
  path: string;
  /** The "Anonymous:" line (kB): pages of the mapping that are private copies, written since the map. */
  anon: number;
}

function vmas(text: string): Vma[] {
  const out: Vma[] = [];
  let cur: Vma | undefined;
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      cur = {
        start: BigInt(`0x${m[1]}`),
        end: BigInt(`0x${m[2]}`),
        perms: m[3] as string,
        offset: Number.parseInt(m[4] as string, 16),
        path: m[5] as string,
        // Unknown until its Anonymous line: such a mapping is never a candidate.
        anon: -1,
      };
      out.push(cur);
    } else if (cur && line.startsWith("Anonymous:")) cur.anon = Number.parseInt(line.slice(10), 10);
  }
  return out;
}

/**
 * The mappings trimResident() may drop, from /proc/self/smaps's text, for the executable exe.
 * Only clean, read-only, file-backed mappings of our own executable:
 * - the path is the executable's (/proc/self/exe), so no library, JIT or heap memory;
 * - r-xp (its code) or r--p at file offset 0 (its first segment: headers, .rodata, the runtime's
 *   builtins): mappings that are neither writable now nor were ever made writable by the dynamic
 *   loader (the r--p RELRO part at another offset was written by relocations before mprotect, so
 *   it is left alone, as are the rw-p data segments);
 * - and smaps says "Anonymous: 0 kB" for it: not one page of it is a private copy, so no page was
 *   ever written (a text relocation, a debugger's breakpoint, an mprotect by anyone). A mapping
 *   with any written page is skipped whole.
 */
export function trimmable(text: string, exe: string): { start: bigint; len: bigint }[] {
  return vmas(text)
    .filter((v) => v.path === exe && (v.perms === "r-xp" || (v.perms === "r--p" && v.offset === 0)) && v.anon === 0)
    .map((v) => ({ start: v.start, len: v.end - v.start }));
}

/**
 * Drops this process's resident pages of the mappings trimmable() picks; they stay in the page
 * cache and fault back in when used. Returns how many mappings were dropped.
 */
export function trimResident(): number {
  let exe: string;
  let text: string;
  try {
    // Read each time: a rebuilt executable leaves this one "(deleted)", in both names alike.
    exe = readlinkSync("/proc/self/exe");
    text = readFileSync("/proc/self/smaps", "latin1");
  } catch {
    return 0;
  }
  // The ranges first, the calls after: code that ran between two madvise calls would fault back in.
  const ranges = trimmable(text, exe);
  const madvise = c().madvise;
  let n = 0;
  for (const r of ranges) if (madvise(r.start, r.len, MADV_DONTNEED) === 0) n++;
  return n;
}
