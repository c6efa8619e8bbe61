// SPDX-License-Identifier: MIT
// qmail's scan_ulong and case_lowerb, which control files, users/assign, the
// environment and SMTP arguments all go through.

// Loops, not regular expressions: these run at most starts, and a program's first regular
// expression costs it about 20 page faults (BENCHMARKS.md, "Start-up: lazy modules").

/** scan_ulong: the leading decimal digits of s (0 if none), as a BigInt. */
export function scanUlong(s: string): bigint {
  let n = 0;
  while (n < s.length && s.charCodeAt(n) >= 0x30 && s.charCodeAt(n) <= 0x39) n++;
  return n > 0 ? BigInt(s.slice(0, n)) : 0n;
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

/** case_lowerb: ASCII letters only, every other byte unchanged (constmap does the same). */
export function lowerAscii(s: string): string {
  let i = 0;
  while (i < s.length && !isUpper(s.charCodeAt(i))) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += isUpper(c) ? String.fromCharCode(c + 0x20) : s[i];
  }
  return out;
}
