// SPDX-License-Identifier: MIT
// SMTPUTF8 (RFC 6531): which addresses need it, whether their bytes are UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF), and the EHLO keyword. Addresses are byte strings
// (latin1, one char per byte), as qmail-smtpd and qmail-remote hold them.
import { isUtf8 } from "@qts/core/bytes";

/** A byte outside ASCII: the address needs SMTPUTF8 to be sent as it is. */
export function nonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

/** The bytes of s are well-formed UTF-8 (node's isUtf8 refuses overlongs such as C0 AF, and surrogates). */
export function validUtf8(s: string): boolean {
  return isUtf8(Buffer.from(s, "latin1"));
}
