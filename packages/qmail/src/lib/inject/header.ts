// SPDX-License-Identifier: MIT
// Header-field helpers of qmail-inject (hfield.c, quote.c): field names it
// knows, field validity, and RFC 821/822 quoting of a mailbox (send-quote.ts).

export enum H {
  UNKNOWN = 0,
  SENDER,
  FROM,
  REPLYTO,
  TO,
  CC,
  BCC,
  DATE,
  MESSAGEID,
  SUBJECT,
  R_SENDER,
  R_FROM,
  R_REPLYTO,
  R_TO,
  R_CC,
  R_BCC,
  R_DATE,
  R_MESSAGEID,
  RETURNRECEIPTTO,
  ERRORSTO,
  APPARENTLYTO,
  RECEIVED,
  RETURNPATH,
  DELIVEREDTO,
  CONTENTLENGTH,
  CONTENTTYPE,
  CONTENTTRANSFERENCODING,
  NOTICEREQUESTED,
  MAILFOLLOWUPTO,
  NUM,
}

const NAMES = [
  "",
  "sender",
  "from",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "date",
  "message-id",
  "subject",
  "resent-sender",
  "resent-from",
  "resent-reply-to",
  "resent-to",
  "resent-cc",
  "resent-bcc",
  "resent-date",
  "resent-message-id",
  "return-receipt-to",
  "errors-to",
  "apparently-to",
  "received",
  "return-path",
  "delivered-to",
  "content-length",
  "content-type",
  "content-transfer-encoding",
  "notice-requested-upon-delivery-to",
  "mail-followup-to",
];

/** hmatch: the name, letters in either case, then optional blanks and a colon. */
function hmatch(s: string, t: string): boolean {
  let i = 0;
  for (; i < t.length; i++) {
    if (i >= s.length) return false;
    const ch = t.charCodeAt(i);
    const c = s.charCodeAt(i);
    if (ch !== c) {
      if (ch === 0x2d) return false;
      if (ch - 32 !== c) return false;
    }
  }
  for (;;) {
    if (i >= s.length) return false;
    const c = s[i];
    if (c === ":") return true;
    if (c !== " " && c !== "\t") return false;
    ++i;
  }
}

/** hfield_known: the field's H number, or 0. */
export function known(s: string): H {
  for (let i = 1; i < NAMES.length; i++) if (hmatch(s, NAMES[i] as string)) return i as H;
  return H.UNKNOWN;
}

/** hfield_valid: a colon, and a non-empty name of printable non-space bytes before it (blanks allowed before the colon). */
export function valid(s: string): boolean {
  let j = s.indexOf(":");
  if (j < 0) return false;
  while (j) {
    const ch = s[j - 1];
    if (ch !== " " && ch !== "\t") break;
    --j;
  }
  if (!j) return false;
  for (let i = 0; i < j; i++) {
    const ch = s.charCodeAt(i);
    if (ch <= 32 || ch >= 127) return false;
  }
  return true;
}

// quote.c's quoting, shared with qmail-send's bounces and qreceipt.
export { quote2, quoteNeed } from "../send/send-quote.ts";

/**
 * Folds a header field we generate so that a CR or LF inside it never starts
 * a new header line: each one not followed by a
 * blank (or CR by LF) gets a space after it. The field's final LF is kept.
 */
export function fold(field: string): string {
  const body = field.endsWith("\n") ? field.slice(0, -1) : field;
  const tail = field.length === body.length ? "" : "\n";
  // includes(), not a regular expression: the common field costs no regex (BENCHMARKS.md, "Start-up: lazy modules")
  if (!body.includes("\r") && !body.includes("\n")) return field;
  return body.replace(/\r(?![\n \t]|\\\n)|\n(?![ \t])/g, "$& ") + tail;
}
