// SPDX-License-Identifier: MIT
// quote.c: an address's local part quoted for RFC 821/822 only when needed
// (qmail-send's bounces, qreceipt, qmail-inject). Strings hold bytes as latin1.

// quote.c's ok[] table: the bytes that may appear unquoted in a box (every printable byte but the specials).
const OK = new Uint8Array(128);
for (let c = 33; c < 127; c++) OK[c] = 1;
for (const c of '"(),:;<>@[\\]') OK[c.charCodeAt(0)] = 0;

/** quote_need(): empty, a special or 8-bit byte, or a dot at either end or doubled. */
export function quoteNeed(s: string): boolean {
  if (!s.length) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || !OK[c]) return true;
  }
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
