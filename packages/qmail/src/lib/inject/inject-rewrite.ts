// SPDX-License-Identifier: MIT
// qmail-inject's address rewriting (qmail-inject.c's rwgeneric() and its
// parts; qmail-inject(8), "ADDRESS REWRITING"). Strings hold bytes as latin1.
//
// qmail rewrites an address twice, and the two stages differ on purpose;
// send-rewrite.ts holds the second:
//   - here, when a message is injected: each address in the header (To, Cc,
//     From, ...) and on the command line, as RFC 822 tokens (token822.ts,
//     reversed: the domain comes first). A source route goes, a bare user
//     gets @defaulthost, a host ending in + gets plusdomain in place of the
//     +, and a host without a dot gets .defaultdomain. The header is changed
//     with them: what the reader sees is what the envelope says.
//   - in qmail-send, on each envelope recipient as a plain string, when the
//     message is queued for delivery: a bare user gets @envnoathost, the
//     percenthack domains turn user%host@domain into user@host, and locals
//     and virtualdomains choose the local or remote channel. The header is
//     never touched there.
// Both add a default host to an address without @, but from different
// controls (defaulthost here, envnoathost there) and for different readers.
import { T, type Token } from "./token822.ts";

/** The controls rwgeneric() uses, as tokens: defaulthost as "@host", defaultdomain and plusdomain as ".domain". */
export interface InjectRewrite {
  defaulthost: Token[];
  defaultdomain: Token[];
  plusdomain: Token[];
}

/** rwroute(): a source route (@a,@b:user@host) goes, up to and with its colon. */
function rwroute(a: Token[]): void {
  if ((a[a.length - 1] as Token).type === T.AT)
    while (a.length) {
      const t = a.pop() as Token;
      if (t.type === T.COLON) return;
    }
}

/** A copy of tokens put in front of the reversed address a (so after its last token when printed). */
function insertFront(a: Token[], tokens: readonly Token[]): void {
  const add: Token[] = [];
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i] as Token;
    add.push({ type: t.type, s: t.s });
  }
  a.unshift(...add);
}

/** rwnoat(): no @ at all: @defaulthost added. */
function rwnoat(a: Token[], rw: InjectRewrite): void {
  for (const t of a) if (t.type === T.AT) return;
  insertFront(a, rw.defaulthost);
}

/** rwnodot(): a host with no dot and not a [literal]: .defaultdomain added. */
function rwnodot(a: Token[], rw: InjectRewrite): void {
  for (const t of a) {
    if (t.type === T.DOT) return;
    if (t.type === T.AT) break;
  }
  for (const t of a) {
    if (t.type === T.LITERAL) return;
    if (t.type === T.AT) break;
  }
  insertFront(a, rw.defaultdomain);
}

/** rwplus(): a host ending in + has the + replaced by .plusdomain. */
function rwplus(a: Token[], rw: InjectRewrite): void {
  const t = a[0] as Token;
  if (t.type !== T.ATOM) return;
  if (!t.s.length || !t.s.endsWith("+")) return;
  a[0] = { type: T.ATOM, s: t.s.slice(0, -1) };
  insertFront(a, rw.plusdomain);
}

/** rwgeneric(): one reversed address rewritten in place; the empty @[] (a null sender's host) is left alone. */
export function rwgeneric(a: Token[], rw: InjectRewrite): void {
  if (!a.length) return;
  if (a.length >= 2 && (a[1] as Token).type === T.AT && (a[0] as Token).type === T.LITERAL && !(a[0] as Token).s)
    return;
  rwroute(a);
  if (!a.length) return;
  if ((a[0] as Token).type === T.DOT) a.shift();
  if (!a.length) return;
  if ((a[0] as Token).type === T.AT) a.shift();
  if (!a.length) return;
  rwnoat(a, rw);
  rwplus(a, rw);
  rwnodot(a, rw);
}
