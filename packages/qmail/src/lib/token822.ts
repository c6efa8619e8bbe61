// SPDX-License-Identifier: MIT
// RFC 822 tokens as qmail's token822 sees them: parse a header field into
// tokens, walk an address list right to left handing each address to a
// rewriting callback, and print the tokens back with qmail's line folding.
// Strings are latin1 (one char per byte) throughout.

export enum T {
  ATOM = 1,
  QUOTE = 2,
  LITERAL = 3,
  COMMENT = 4,
  COMMA = 5,
  AT = 6,
  DOT = 7,
  LEFT = 8,
  RIGHT = 9,
  SEMI = 10,
  COLON = 11,
}

export interface Token {
  type: T;
  s: string;
}

export function tok(type: T, s = ""): Token {
  return { type, s };
}

function atomok(c: string): boolean {
  switch (c) {
    case " ":
    case "\t":
    case "\r":
    case "\n":
    case "(":
    case "[":
    case '"':
    case "<":
    case ">":
    case ";":
    case ":":
    case "@":
    case ",":
    case ".":
      return false;
  }
  return true;
}

/** An atom holding a control, 8-bit, `)`, `]` or `\` byte is printed as a quoted string. */
function atomcheck(s: string): T {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 32 || ch > 126 || ch === 0x29 || ch === 0x5d || ch === 0x5c) return T.QUOTE;
  }
  return T.ATOM;
}

/** Scans a bracketed run starting after the opener at i; returns [content, index of the closer] or null. */
function bracket(sa: string, i: number, open: string, close: string, nests: boolean): [string, number] | null {
  let level = 1;
  let out = "";
  const n = sa.length;
  while (level) {
    if (++i >= n) return null;
    const c = sa[i] as string;
    if (nests && c === open) {
      ++level;
      continue;
    }
    if (c === close) {
      --level;
      continue;
    }
    if (c === "\\") {
      if (++i >= n) return null;
      out += sa[i];
      continue;
    }
    out += c;
  }
  return [out, i];
}

/** token822_parse: null where the C returns 0 (unbalanced `)` `]`, unterminated quote, comment or literal). */
export function parse(sa: string): Token[] | null {
  const out: Token[] = [];
  const n = sa.length;
  for (let i = 0; i < n; i++) {
    const c = sa[i] as string;
    switch (c) {
      case ".":
        out.push(tok(T.DOT));
        break;
      case ",":
        out.push(tok(T.COMMA));
        break;
      case "@":
        out.push(tok(T.AT));
        break;
      case "<":
        out.push(tok(T.LEFT));
        break;
      case ">":
        out.push(tok(T.RIGHT));
        break;
      case ":":
        out.push(tok(T.COLON));
        break;
      case ";":
        out.push(tok(T.SEMI));
        break;
      case " ":
      case "\t":
      case "\r":
      case "\n":
        break;
      case ")":
      case "]":
        return null;
      case "(":
      case '"':
      case "[": {
        const r =
          c === "("
            ? bracket(sa, i, "(", ")", true)
            : c === '"'
              ? bracket(sa, i, '"', '"', false)
              : bracket(sa, i, "[", "]", false);
        if (!r) return null;
        out.push(tok(c === "(" ? T.COMMENT : c === '"' ? T.QUOTE : T.LITERAL, r[0]));
        i = r[1];
        break;
      }
      default: {
        let s = "";
        do {
          if (sa[i] === "\\") if (++i >= n) break;
          s += sa[i];
          if (++i >= n) break;
        } while (atomok(sa[i] as string));
        --i;
        out.push(tok(atomcheck(s), s));
      }
    }
  }
  return out;
}

/** Reverses in place (the rewriting callbacks see addresses last token first, as in C). */
export function reverse(ta: Token[]): Token[] {
  return ta.reverse();
}

/** token822_unquote: the address as a plain string (comments dropped, quotes removed). */
export function unquote(ta: readonly Token[]): string {
  let s = "";
  for (const t of ta) {
    switch (t.type) {
      case T.COMMA:
        s += ",";
        break;
      case T.AT:
        s += "@";
        break;
      case T.DOT:
        s += ".";
        break;
      case T.LEFT:
        s += "<";
        break;
      case T.RIGHT:
        s += ">";
        break;
      case T.SEMI:
        s += ";";
        break;
      case T.COLON:
        s += ":";
        break;
      case T.LITERAL:
        s += `[${t.s}]`;
        break;
      case T.ATOM:
      case T.QUOTE:
        s += t.s;
        break;
    }
  }
  return s;
}

/**
 * token822_addrlist: ta is a whole header field (name, colon, value). Each
 * address is handed to cb as a token array in reverse order; cb may rewrite
 * it in place. Returns the rewritten field, or null on a syntax error.
 */
export function addrlist(ta: readonly Token[], cb: (addr: Token[]) => void): Token[] | null {
  const out: Token[] = [];
  let addr: Token[] = [];
  let ingroup = false;
  let wordok = true;
  const beginning = 2;
  let t = ta.length - 1;
  const at = (k: number) => ta[k] as Token;
  const flush = () => {
    if (addr.length) {
      cb(addr);
      for (const x of addr) out.push(x);
      addr = [];
    }
  };
  const flushComma = () => {
    if (addr.length) {
      flush();
      out.push(tok(T.COMMA));
    }
  };
  while (t >= beginning) {
    const type = at(t).type;
    switch (type) {
      case T.SEMI:
        flushComma();
        if (ingroup) return null;
        ingroup = true;
        wordok = true;
        break;
      case T.COLON:
        flush();
        if (!ingroup) return null;
        ingroup = false;
        while (t >= beginning && at(t).type !== T.COMMA) out.push(at(t--));
        if (t >= beginning) out.push(at(t--));
        wordok = true;
        continue;
      case T.RIGHT: {
        flushComma();
        out.push(at(t--));
        while (t >= beginning && at(t).type !== T.LEFT) addr.push(at(t--));
        // the address is used even when empty: <>
        cb(addr);
        for (const x of addr) out.push(x);
        addr = [];
        if (t < beginning) return null;
        out.push(at(t--));
        while (t >= beginning) {
          const k = at(t).type;
          if (k !== T.COMMENT && k !== T.ATOM && k !== T.QUOTE && k !== T.AT && k !== T.DOT) break;
          out.push(at(t--));
        }
        wordok = false;
        continue;
      }
      case T.ATOM:
      case T.QUOTE:
      case T.LITERAL:
        if (!wordok) flushComma();
        wordok = false;
        addr.push(at(t--));
        continue;
      case T.COMMENT:
        // a comment is lexically a space: wordok stays as it is
        break;
      case T.COMMA:
        flush();
        wordok = true;
        break;
      default:
        wordok = true;
        addr.push(at(t--));
        continue;
    }
    out.push(at(t--));
  }
  flush();
  ++t;
  while (t > 0) out.push(at(--t));
  return out.reverse();
}

function needspace(t1: number, t2: number): boolean {
  if (!t1) return false;
  if (t1 === T.COLON || t1 === T.COMMA) return true;
  if (t2 === T.LEFT) return true;
  const word = (x: number) => x === T.ATOM || x === T.LITERAL || x === T.QUOTE || x === T.COMMENT;
  return word(t1) && word(t2);
}

const ESC = new Set([0x22, 0x5b, 0x5d, 0x28, 0x29, 0x5c, 0x0d, 0x0a]);

/** After an escaped CR or LF, a byte that would start a new header line. */
function startsLine(s: string, j: number, ch: number): boolean {
  const next = j + 1 < s.length ? s.charCodeAt(j + 1) : -1;
  if (next === 0x20 || next === 0x09) return false;
  return !(ch === 0x0d && next === 0x0a);
}

/**
 * token822_unparse: prints the tokens, with ",\n  " between addresses and
 * the line breaks merged back while the line stays within linelen; ends in \n.
 * One change from C: an escaped CR or LF inside a
 * word is followed by a space unless whitespace follows anyway, so a value
 * from argv or the environment can never start a header line of its own.
 */
export function unparse(ta: readonly Token[], linelen = 80): string {
  let len = 0;
  let last = 0;
  for (const t of ta) {
    if (needspace(last, t.type)) ++len;
    last = t.type;
    if (t.type === T.COMMA) len += 3;
    else if (t.type === T.ATOM || t.type === T.QUOTE || t.type === T.LITERAL || t.type === T.COMMENT) {
      if (t.type !== T.ATOM) len += 2;
      for (let j = 0; j < t.s.length; j++) len += ESC.has(t.s.charCodeAt(j)) ? 3 : 1;
    } else ++len;
  }
  len += 4;
  const b = Buffer.alloc(len);
  let s = 0;
  let lineb = 0;
  let linee = -1;
  const nsuw = () => {
    b[s] = 0x0a;
    b[s + 1] = 0x20;
    if (linee >= 0 && (!linelen || s - lineb <= linelen)) {
      while (linee < s) {
        b[linee] = b[linee + 2] as number;
        ++linee;
      }
      linee -= 2;
    } else {
      if (linee >= 0) lineb = linee + 1;
      linee = s;
      s += 2;
    }
  };
  last = 0;
  for (const t of ta) {
    if (needspace(last, t.type)) b[s++] = 0x20;
    last = t.type;
    switch (t.type) {
      case T.COMMA:
        b[s++] = 0x2c;
        nsuw();
        break;
      case T.AT:
        b[s++] = 0x40;
        break;
      case T.DOT:
        b[s++] = 0x2e;
        break;
      case T.LEFT:
        b[s++] = 0x3c;
        break;
      case T.RIGHT:
        b[s++] = 0x3e;
        break;
      case T.SEMI:
        b[s++] = 0x3b;
        break;
      case T.COLON:
        b[s++] = 0x3a;
        break;
      default: {
        if (t.type === T.QUOTE) b[s++] = 0x22;
        if (t.type === T.LITERAL) b[s++] = 0x5b;
        if (t.type === T.COMMENT) b[s++] = 0x28;
        const v = t.s;
        for (let j = 0; j < v.length; j++) {
          const ch = v.charCodeAt(j) & 0xff;
          if (ESC.has(ch)) b[s++] = 0x5c;
          b[s++] = ch;
          if ((ch === 0x0a || ch === 0x0d) && startsLine(v, j, ch)) b[s++] = 0x20;
        }
        if (t.type === T.QUOTE) b[s++] = 0x22;
        if (t.type === T.LITERAL) b[s++] = 0x5d;
        if (t.type === T.COMMENT) b[s++] = 0x29;
      }
    }
  }
  nsuw();
  --s;
  return b.toString("latin1", 0, s);
}
