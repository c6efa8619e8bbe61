// SPDX-License-Identifier: MIT
// Numbers in control files and the environment, read as qmail's scan_ulong and
// control_readint do (the shared Control.int throws on garbage; C keeps the default).
import type { Control } from "./control.ts";

/** scan_ulong: the leading decimal digits of s (0 if none), as a BigInt. */
export function scanUlong(s: string): bigint {
  const m = /^[0-9]+/.exec(s);
  return m ? BigInt(m[0]) : 0n;
}

/** control_readint into a C int: def if missing or no digits; wraps to 32 bits signed. */
export function readInt(c: Control, name: string, def: number): number {
  const v = c.line(name);
  if (v === undefined || !/^[0-9]/.test(v)) return def;
  return Number(BigInt.asIntN(32, scanUlong(v)));
}

/** ASCII-only lower case (constmap and case_lowerb leave 8-bit bytes alone). */
export function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
