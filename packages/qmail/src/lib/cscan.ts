// SPDX-License-Identifier: MIT
// qmail's scan_ulong and case_lowerb, which control files, users/assign, the
// environment and SMTP arguments all go through.

/** scan_ulong: the leading decimal digits of s (0 if none), as a BigInt. */
export function scanUlong(s: string): bigint {
  const m = /^[0-9]+/.exec(s);
  return m ? BigInt(m[0]) : 0n;
}

/** case_lowerb: ASCII letters only, every other byte unchanged (constmap does the same). */
export function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
