// SPDX-License-Identifier: MIT
// quote.c: an address's local part quoted for RFC 821/822 only when needed.
// Strings hold bytes as latin1 characters.

// The characters that may appear unquoted in a box (quote.c's ok[] table).
const OK = new Set<number>();
for (const c of "!#$%&'*+-/0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~.")
  OK.add(c.charCodeAt(0));

function quoteNeed(s: string): boolean {
  if (!s.length) return true;
  for (let i = 0; i < s.length; i++) if (!OK.has(s.charCodeAt(i))) return true;
  if (s[0] === "." || s[s.length - 1] === ".") return true;
  return s.includes("..");
}

/** quote(): "..." with \ before CR, LF, " and \, or s unchanged when no quoting is needed. */
export function quote(s: string): string {
  if (!quoteNeed(s)) return s;
  return `"${s.replace(/[\r\n"\\]/g, (c) => `\\${c}`)}"`;
}

/** quote2(): quotes the part before the last @ of an address; "" stays "". */
export function quote2(s: string): string {
  if (!s) return s;
  const j = s.lastIndexOf("@");
  if (j < 0) return quote(s);
  return quote(s.slice(0, j)) + s.slice(j);
}
