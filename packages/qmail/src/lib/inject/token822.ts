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

/** token822_parse's one-character tokens. */
const PUNCT = new Map<string, T>([
  [".", T.DOT],
  [",", T.COMMA],
  ["@", T.AT],
  ["<", T.LEFT],
  [">", T.RIGHT],
  [":", T.COLON],
  [";", T.SEMI],
]);

/** token822_parse's bracketed tokens by opener: the type, the closer, and whether it nests (comments do). */
const BRACKETED = new Map<string, [T, string, boolean]>([
  ["(", [T.COMMENT, ")", true]],
  ['"', [T.QUOTE, '"', false]],
  ["[", [T.LITERAL, "]", false]],
]);

/**
 * token822_parse's default case: the atom starting at i, a backslash quoting the next byte, up to a
 * byte that atomok refuses. Returns [content, index of its last byte].
 */
function scanAtom(sa: string, i: number): [string, number] {
  const n = sa.length;
  let s = "";
  do {
    if (sa[i] === "\\") if (++i >= n) break;
    s += sa[i];
    if (++i >= n) break;
  } while (atomok(sa[i] as string));
  return [s, i - 1];
}

/** token822_parse: null where the C returns 0 (unbalanced `)` `]`, unterminated quote, comment or literal). */
export function parse(sa: string): Token[] | null {
  const out: Token[] = [];
  for (let i = 0; i < sa.length; i++) {
    const c = sa[i] as string;
    const punct = PUNCT.get(c);
    const bracketed = BRACKETED.get(c);
    if (punct !== undefined) out.push(tok(punct));
    else if (c === " " || c === "\t" || c === "\r" || c === "\n") continue;
    else if (c === ")" || c === "]") return null;
    else if (bracketed !== undefined) {
      const [type, close, nests] = bracketed;
      const r = bracket(sa, i, c, close, nests);
      if (!r) return null;
      out.push(tok(type, r[0]));
      i = r[1];
    } else {
      const [s, last] = scanAtom(sa, i);
      out.push(tok(atomcheck(s), s));
      i = last;
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

/** token822_addrlist's beginning: the field's name and colon are the first two tokens, never part of an address. */
const BEGINNING = 2;

/**
 * token822_addrlist's state, read right to left from the field's last token (t): the tokens put out
 * so far (reversed), the address being gathered (reversed, as the callback gets it), ingroup and wordok.
 */
class AddrList {
  readonly out: Token[] = [];
  private addr: Token[] = [];
  private ingroup = false;
  private wordok = true;
  private t: number;

  constructor(
    private readonly ta: readonly Token[],
    private readonly cb: (addr: Token[]) => void,
  ) {
    this.t = ta.length - 1;
  }

  private at(k: number): Token {
    return this.ta[k] as Token;
  }

  /** gotaddr: the address through the callback, then onto the output. */
  private gotaddr(): void {
    this.cb(this.addr);
    for (const x of this.addr) this.out.push(x);
    this.addr = [];
  }

  /** FLUSH */
  private flush(): void {
    if (this.addr.length) this.gotaddr();
  }

  /** FLUSHCOMMA: a finished address, then the comma that separates it from the one to its left. */
  private flushComma(): void {
    if (!this.addr.length) return;
    this.gotaddr();
    this.out.push(tok(T.COMMA));
  }

  /** OUTLEFT */
  private outLeft(): void {
    this.out.push(this.at(this.t--));
  }

  /** ADDRLEFT */
  private addrLeft(): void {
    this.addr.push(this.at(this.t--));
  }

  /** The main loop, then the field's name and colon; null on a syntax error. */
  run(): Token[] | null {
    while (this.t >= BEGINNING) if (!this.step()) return null;
    this.flush();
    let t = this.t + 1;
    while (t > 0) this.out.push(this.at(--t));
    return this.out.reverse();
  }

  /** One turn of the loop, by the type of token t; false on a syntax error. */
  private step(): boolean {
    switch (this.at(this.t).type) {
      case T.SEMI:
        return this.semi();
      case T.COLON:
        return this.colon();
      case T.RIGHT:
        return this.angle();
      case T.ATOM:
      case T.QUOTE:
      case T.LITERAL:
        if (!this.wordok) this.flushComma();
        this.wordok = false;
        this.addrLeft();
        return true;
      case T.COMMENT:
        // a comment is lexically a space: wordok stays as it is
        this.outLeft();
        return true;
      case T.COMMA:
        this.flush();
        this.wordok = true;
        this.outLeft();
        return true;
      default:
        this.wordok = true;
        this.addrLeft();
        return true;
    }
  }

  /** A group's closing `;` (groups are met end first). */
  private semi(): boolean {
    this.flushComma();
    if (this.ingroup) return false;
    this.ingroup = true;
    this.wordok = true;
    this.outLeft();
    return true;
  }

  /** A group's `:`: its display name goes out as it is, up to and with the comma before it. */
  private colon(): boolean {
    this.flush();
    if (!this.ingroup) return false;
    this.ingroup = false;
    while (this.t >= BEGINNING && this.at(this.t).type !== T.COMMA) this.outLeft();
    if (this.t >= BEGINNING) this.outLeft();
    this.wordok = true;
    return true;
  }

  /** `>`: the route address inside `<>` (used even when empty: <>), then the phrase before `<`. */
  private angle(): boolean {
    this.flushComma();
    this.outLeft();
    while (this.t >= BEGINNING && this.at(this.t).type !== T.LEFT) this.addrLeft();
    this.gotaddr();
    if (this.t < BEGINNING) return false;
    this.outLeft();
    while (this.t >= BEGINNING && PHRASE.has(this.at(this.t).type)) this.outLeft();
    this.wordok = false;
    return true;
  }
}

/** Tokens of the phrase before a route address `<...>` (token822_addrlist's RIGHT case). */
const PHRASE = new Set([T.COMMENT, T.ATOM, T.QUOTE, T.AT, T.DOT]);

/**
 * token822_addrlist: ta is a whole header field (name, colon, value). Each
 * address is handed to cb as a token array in reverse order; cb may rewrite
 * it in place. Returns the rewritten field, or null on a syntax error.
 */
export function addrlist(ta: readonly Token[], cb: (addr: Token[]) => void): Token[] | null {
  return new AddrList(ta, cb).run();
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

/** Word tokens: printed with their content escaped, and delimiters unless atoms. */
function isWord(type: T): boolean {
  return type === T.ATOM || type === T.QUOTE || type === T.LITERAL || type === T.COMMENT;
}

/** token822_unparse's one-byte tokens (the comma also gets NSUW). */
const PUNCT_BYTE = new Map<T, number>([
  [T.AT, 0x40],
  [T.DOT, 0x2e],
  [T.LEFT, 0x3c],
  [T.RIGHT, 0x3e],
  [T.SEMI, 0x3b],
  [T.COLON, 0x3a],
]);

/** The delimiters a word token is printed in: [opener, closer], none for an atom. */
const DELIMS = new Map<T, [number, number]>([
  [T.QUOTE, [0x22, 0x22]],
  [T.LITERAL, [0x5b, 0x5d]],
  [T.COMMENT, [0x28, 0x29]],
]);

/** token822_unparse's first pass: room for the printed tokens (an escape and its space counted as 3). */
function unparseLen(ta: readonly Token[]): number {
  let len = 0;
  let last = 0;
  for (const t of ta) {
    if (needspace(last, t.type)) ++len;
    last = t.type;
    if (t.type === T.COMMA) len += 3;
    else if (isWord(t.type)) {
      if (t.type !== T.ATOM) len += 2;
      for (let j = 0; j < t.s.length; j++) len += ESC.has(t.s.charCodeAt(j)) ? 3 : 1;
    } else ++len;
  }
  return len + 4;
}

/** token822_unparse's second pass: the output buffer, its end s, and the line being folded (lineb, linee). */
class Unparser {
  private readonly b: Buffer;
  private s = 0;
  private lineb = 0;
  private linee = -1;

  constructor(
    len: number,
    private readonly linelen: number,
  ) {
    this.b = Buffer.alloc(len);
  }

  put(ch: number): void {
    this.b[this.s++] = ch;
  }

  /**
   * NSUW: a "\n " after the comma just put; when the previous one is still pending and the line stays
   * within linelen, that one is taken back out (the line goes on), else the line breaks there.
   */
  nsuw(): void {
    const b = this.b;
    b[this.s] = 0x0a;
    b[this.s + 1] = 0x20;
    if (this.linee >= 0 && (!this.linelen || this.s - this.lineb <= this.linelen)) {
      while (this.linee < this.s) {
        b[this.linee] = b[this.linee + 2] as number;
        ++this.linee;
      }
      this.linee -= 2;
    } else {
      if (this.linee >= 0) this.lineb = this.linee + 1;
      this.linee = this.s;
      this.s += 2;
    }
  }

  /** A word token: its delimiters, its bytes with quote-worthy ones escaped (and an escaped CR or LF followed by a space). */
  word(t: Token): void {
    const delims = DELIMS.get(t.type);
    if (delims) this.put(delims[0]);
    const v = t.s;
    for (let j = 0; j < v.length; j++) {
      const ch = v.charCodeAt(j) & 0xff;
      if (ESC.has(ch)) this.put(0x5c);
      this.put(ch);
      if ((ch === 0x0a || ch === 0x0d) && startsLine(v, j, ch)) this.put(0x20);
    }
    if (delims) this.put(delims[1]);
  }

  /** The text, without the last NSUW's space. */
  text(): string {
    return this.b.toString("latin1", 0, this.s - 1);
  }
}

/**
 * token822_unparse: prints the tokens, with ",\n  " between addresses and
 * the line breaks merged back while the line stays within linelen; ends in \n.
 * One change from C: an escaped CR or LF inside a
 * word is followed by a space unless whitespace follows anyway, so a value
 * from argv or the environment can never start a header line of its own.
 */
export function unparse(ta: readonly Token[], linelen = 80): string {
  const u = new Unparser(unparseLen(ta), linelen);
  let last = 0;
  for (const t of ta) {
    if (needspace(last, t.type)) u.put(0x20);
    last = t.type;
    const punct = PUNCT_BYTE.get(t.type);
    if (t.type === T.COMMA) {
      u.put(0x2c);
      u.nsuw();
    } else if (punct !== undefined) u.put(punct);
    else u.word(t);
  }
  u.nsuw();
  return u.text();
}
