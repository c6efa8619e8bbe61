// SPDX-License-Identifier: MIT
// qmail-smtpd's addrparse (qmail-smtpd.c). Strings are
// latin1: one char per protocol byte; the caller has cut the line at any NUL.
import { ip6Literal, ipme, ipme6, ipScanBracket } from "../net/addrip.ts";

/** Longest address accepted; addr.len in C counts the NUL, so 900 content bytes fail. */
export const ADDR_MAX = 899;

/**
 * addrparse's start: just after "<" (terminator ">"), else, for a partner that should go read RFC 821,
 * after ":" and any spaces (terminator " "); then past a source route "@a,@b:".
 */
function addrStart(arg: string): { p: number; terminator: string } {
  let terminator = ">";
  let p = arg.indexOf("<");
  if (p >= 0) p++;
  else {
    terminator = " ";
    p = arg.indexOf(":");
    if (p < 0) p = arg.length;
    else p++;
    while (arg[p] === " ") p++;
  }
  if (arg[p] === "@") {
    while (p < arg.length) if (arg[p++] === ":") break;
  }
  return { p, terminator };
}

/**
 * addrparse's copy of arg from p to addr, stripping quotes and backslashes, up to an unquoted terminator.
 * With bounded, undefined as soon as the copy is longer than any address accepted.
 */
function addrCopy(arg: string, p: number, terminator: string, bounded: boolean): string | undefined {
  let addr = "";
  let esc = false;
  let quoted = false;
  for (let i = p; i < arg.length; i++) {
    const ch = arg[i] as string;
    if (esc) {
      addr += ch;
      esc = false;
      continue;
    }
    if (!quoted && ch === terminator) break;
    if (ch === "\\") esc = true;
    else if (ch === '"') quoted = !quoted;
    else addr += ch;
    if (bounded && addr.length > ADDR_MAX + 1) return undefined;
  }
  return addr;
}

/**
 * addrparse's liphostok step: a domain that is a literal of one of our own addresses becomes liphost.
 * undefined for a malformed IPv6 literal.
 */
function localIpHost(addr: string, liphost: string): string | undefined {
  const at = addr.lastIndexOf("@");
  if (at < 0 || addr[at + 1] !== "[") return addr;
  const [n, ip] = ipScanBracket(addr, at + 1);
  if (n && at + 1 + n === addr.length && ipme().has(ip)) return addr.slice(0, at + 1) + liphost;
  // An IPv6 address literal (RFC 5321 section 4.1.3): malformed, a syntax error; ours, localiphost.
  const v6 = /^\[ipv6:/i.test(addr.slice(at + 1)) ? ip6Literal(addr.slice(at + 1)) : undefined;
  if (v6 === "bad") return undefined;
  if (v6 !== undefined && ipme6().has(v6)) return addr.slice(0, at + 1) + liphost;
  return addr;
}

/**
 * The address in a MAIL/RCPT argument, or undefined for a syntax error (555).
 * liphost: control/localiphost (or me), replacing our own [ip] literals.
 */
export function addrparse(arg: string, liphost?: string): string | undefined {
  const { p, terminator } = addrStart(arg);
  let addr = addrCopy(arg, p, terminator, liphost === undefined);
  if (addr !== undefined && liphost !== undefined) addr = localIpHost(addr, liphost);
  if (addr === undefined || addr.length > ADDR_MAX) return undefined;
  return addr;
}

const QUOTE_OK = (() => {
  const ok = new Uint8Array(128);
  const s = "!#$%&'*+-/0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~.";
  for (let i = 0; i < s.length; i++) ok[s.charCodeAt(i)] = 1;
  return ok;
})();

/**
 * quote.c's quote_need: a local part that must be sent as a quoted string. With utf8 (an SMTPUTF8
 * transaction), bytes past ASCII are atom text as RFC 6531 section 3.3 allows.
 */
export function quoteNeed(s: string, utf8 = false): boolean {
  if (!s) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 ? !utf8 : !QUOTE_OK[c]) return true;
  }
  if (s[0] === "." || s[s.length - 1] === ".") return true;
  return s.includes("..");
}

/** quote.c's quote: as little quoting as possible (RFC 821). */
export function quoteBox(s: string, utf8 = false): string {
  if (!quoteNeed(s, utf8)) return s;
  return `"${s.replace(/[\r\n"\\]/g, (c) => `\\${c}`)}"`;
}
