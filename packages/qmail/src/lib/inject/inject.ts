// SPDX-License-Identifier: MIT
// qmail-inject (qmail-inject(8)): reads a message, rewrites the addresses
// in its header, adds Date, Message-ID, From (or their Resent- forms), works
// out the envelope and hands the message to qmail-queue ($QMAILQUEUE), or
// prints it with -n. Behaviour and texts follow netqmail 1.06's qmail-inject.c.
import { rawArgs, rawEnv } from "@qts/core/bytes";
import { die, dieUnable, Exit, errWrite, fatal, getProg, unable, writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { readFileSync, readSync } from "@qts/sys/fs";
import { Control } from "../control.ts";
import { date822 } from "../date822.ts";
import { qmailHome } from "../home.ts";
import { envelopeBudget, isOutOfMemory, NoMem, Packed } from "../queue/packed.ts";
import type { QmailQueue } from "../queue/qmail.ts";
import { qqExitText } from "../queue/qq.ts";
import { fold, H, known, quote2, quoteNeed, valid } from "./header.ts";
import { type InjectRewrite, rwgeneric } from "./inject-rewrite.ts";
import { readable } from "./readable.ts";
import { addrlist, parse, reverse, T, type Token, tok, unparse, unquote } from "./token822.ts";

const LINELEN = 80;

/** `qmail-inject: fatal: ` and text as it is: C prints the offending line raw, with its own newline or none. */
function fatalRaw(code: number, text: string): never {
  errWrite(`${getProg()}: fatal: ${text}`);
  throw new Exit(code);
}

/** C's doordie and the envelope checks: the line that would not parse, then exit 100. */
function unparsable(text: string): never {
  return fatalRaw(100, `${unable("parse this line")}:\n${text}`);
}

const perm = (): never => {
  throw new Exit(100);
};

/** doordie: a parse failure prints the offending text as it is and exits 100. */
function doordie<X>(text: string, r: X | null): X {
  if (r === null) unparsable(text);
  return r;
}

/** One read into buf from off, retried on EAGAIN and EINTR; a failure is fatal (111). */
function readRetry(fd: number, buf: Buffer, off: number): number {
  for (;;) {
    try {
      return readSync(fd, buf, off, buf.length - off, null);
    } catch (e) {
      const code = errnoName(e);
      if (code === "EAGAIN") Bun.sleepSync(1);
      else if (code === "ENOMEM") die(111, "out of memory");
      else if (code !== "EINTR") die(111, "read error");
    }
  }
}

/** Bytes of the message: an optional prefix, then a file descriptor read to its end. */
export class Input {
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  private eof = false;

  constructor(
    private fd: number,
    prefix?: Buffer,
  ) {
    this.buf = Buffer.allocUnsafe(65536);
    if (prefix?.length) {
      if (prefix.length > this.buf.length) this.buf = Buffer.allocUnsafe(prefix.length);
      prefix.copy(this.buf);
      this.end = prefix.length;
    }
  }

  private fill(): boolean {
    if (this.eof) return false;
    if (this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.end);
      this.end -= this.pos;
      this.pos = 0;
    }
    if (this.end === this.buf.length) {
      const b = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(b, 0, 0, this.end);
      this.buf = b;
    }
    const n = readRetry(this.fd, this.buf, this.end);
    if (n === 0) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /** fill() once fd is readable: signal handlers run while it waits (lib/inject/readable.ts). */
  private async more(): Promise<boolean> {
    if (this.eof) return false;
    await readable(this.fd);
    return this.fill();
  }

  /** getln with a final partial line completed by \n (headerbody's getsa); null at the end. */
  async line(): Promise<string | null> {
    for (;;) {
      const nl = this.buf.indexOf(10, this.pos);
      if (nl >= 0 && nl < this.end) {
        const s = this.buf.toString("latin1", this.pos, nl + 1);
        this.pos = nl + 1;
        return s;
      }
      if (!(await this.more())) {
        if (this.pos === this.end) return null;
        const s = `${this.buf.toString("latin1", this.pos, this.end)}\n`;
        this.pos = this.end;
        return s;
      }
    }
  }

  /** The rest of the input in chunks, with a final \n added to a partial last line. */
  async *rest(): AsyncGenerator<Buffer> {
    let last = 10;
    for (;;) {
      if (this.pos < this.end) {
        const c = Buffer.from(this.buf.subarray(this.pos, this.end));
        last = c[c.length - 1] as number;
        this.pos = this.end;
        yield c;
      }
      if (!(await this.more())) break;
    }
    if (last !== 10) yield Buffer.from("\n");
  }
}

/**
 * Should the queue's promise ever be left pending with nothing to wake it,
 * the event loop would drain and the process exit 0 without queueing: fail
 * temporarily instead. (run() exits directly once main settles, so a normal
 * run never gets here.)
 */
export function guardPending(): void {
  process.once("beforeExit", () => {
    fatal("qq temporary problem (#4.3.0)");
    process.exitCode = 111;
  });
}

interface Flags {
  namecomment: boolean;
  deletesender: boolean;
  deletefrom: boolean;
  deletemessid: boolean;
  hackrecip: boolean;
  hackmess: boolean;
}

/** The Resent- fields: any of them makes the message a resent one (qmail-inject.c's finishheader()). */
const RESENT = [H.R_SENDER, H.R_FROM, H.R_REPLYTO, H.R_TO, H.R_CC, H.R_BCC, H.R_DATE, H.R_MESSAGEID];

/** $QMAILINJECT's letters (qmail-inject(8)); other letters are ignored. */
function injectFlags(o: string): Flags {
  return {
    namecomment: o.includes("c"),
    deletesender: o.includes("s"),
    deletefrom: o.includes("f"),
    deletemessid: o.includes("i"),
    hackrecip: o.includes("r"),
    hackmess: o.includes("m"),
  };
}

/** $QMAILMFTFILE: the mailing lists Mail-Followup-To is made for, lowercased; undefined if the file is missing. */
function readMft(file: string): Set<string> | undefined {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch (e) {
    if (errnoName(e) !== "ENOENT") die(111, "read error");
    return undefined;
  }
  const mft = new Set<string>();
  for (const raw of text.split("\n")) {
    const l = raw.replace(/[ \t\n]+$/, "");
    if (l && !l.startsWith("#")) mft.add(l.toLowerCase());
  }
  return mft;
}

/**
 * The longest header field allowed so far. A header field becomes tokens and addresses, about 80 times its size
 * in the runtime's heap (a To: of 100,000 addresses, 2.2 MB, peaked at 200 MB): past its share of the memory
 * limit it is C's nomem(), before the runtime itself runs out and crashes.
 */
function fieldLimit(len: number, fieldMax: number): number {
  if (len <= fieldMax) return fieldMax;
  const max = Math.max(fieldMax, Math.floor(envelopeBudget() / 128));
  if (len > max) throw new NoMem();
  return max;
}

/** A line that starts a header field: itself, or an mbox "From " line as MBOX-Line:; undefined if it starts the body. */
function fieldStart(line: string): string | undefined {
  if (line.startsWith("From ")) return `MBOX-Line: ${line}`;
  return valid(line) ? line : undefined;
}

enum Recip {
  DEFAULT = 1,
  ARGS,
  HEADER,
  AH,
}

function hasNl(s: string): boolean {
  return s.includes("\n") || s.includes("\r");
}

export class Injector {
  private flags: Flags;
  private mailhost?: string;
  private mailuser: string;
  private mailusertype: T;
  private mailrhost?: string;
  private mailruser: string;
  private starttime: number;
  private pid = process.pid;

  private idhost = "";
  private readonly rw: InjectRewrite = { defaultdomain: [], defaulthost: [], plusdomain: [] };

  private sender: string | undefined;
  private seen = new Uint8Array(H.NUM);
  private savedh: string[] = [];
  // the recipient lists as bytes (lib/queue/packed.ts): a long list costs its addresses, not string objects
  private hrlist = new Packed();
  private tocclist: string[] = [];
  private hrrlist = new Packed();
  private reciplist = new Packed();
  private flagresent = false;
  private flagrh = false;
  private flagqueue = true;
  private mft: Set<string> | undefined;
  private qq: QmailQueue | undefined;
  private qqDead = false;
  private out: Buffer[] = [];
  private outLen = 0;
  // the text a parse failure of the address being rewritten is reported with
  private current = "";

  private env: Env;

  constructor(
    private procEnv: Env,
    private home = qmailHome(procEnv),
  ) {
    // The header code works on bytes (latin1 strings): arguments and environment as given at exec.
    this.env = rawEnv(procEnv);
    const env = this.env;
    this.starttime = Math.floor(Date.now() / 1000);
    this.flags = injectFlags(env.QMAILINJECT ?? "");
    this.mailhost = env.QMAILHOST ?? env.MAILHOST;
    this.mailrhost = env.QMAILSHOST ?? this.mailhost;
    this.mailuser = env.QMAILUSER ?? env.MAILUSER ?? env.USER ?? env.LOGNAME ?? "anonymous";
    this.mailusertype = quoteNeed(this.mailuser) ? T.QUOTE : T.ATOM;
    this.mailruser = env.QMAILSUSER ?? this.mailuser;
  }

  // ---- addresses (rewriting: inject-rewrite.ts; addresses are reversed token arrays)

  /** rwgeneric() with this run's controls. */
  private rewrite(a: Token[]): void {
    rwgeneric(a, this.rw);
  }

  /** The plain address of a reversed token array; an envelope address may not hold CR or LF. */
  private addrOf(a: Token[]): string {
    const s = unquote([...a].reverse());
    if (hasNl(s)) unparsable(this.current);
    return s;
  }

  private setreturn(a: Token[]): void {
    if (this.sender === undefined) {
      this.sender = this.addrOf(a);
      if (this.flags.hackrecip) this.sender += "-@[]";
    }
  }

  // ---- header fields

  private doheaderfield(h: string): void {
    const htype = known(h);
    const f = this.flags;
    if (f.deletefrom && htype === H.FROM) return;
    if (f.deletemessid && htype === H.MESSAGEID) return;
    if (f.deletesender && htype === H.RETURNPATH) return;
    if (htype) this.seen[htype] = 1;
    else if (!valid(h)) fatalRaw(100, `invalid header field: ${h}`);

    let each: ((a: Token[]) => void) | undefined;
    switch (htype) {
      case H.TO:
      case H.CC:
        each = (a) => {
          this.rewrite(a);
          const s = this.addrOf(a);
          this.hrlist.push("", s);
          this.tocclist.push(s);
        };
        break;
      case H.BCC:
      case H.APPARENTLYTO:
        each = (a) => {
          this.rewrite(a);
          this.hrlist.push("", this.addrOf(a));
        };
        break;
      case H.R_TO:
      case H.R_CC:
      case H.R_BCC:
        each = (a) => {
          this.rewrite(a);
          this.hrrlist.push("", this.addrOf(a));
        };
        break;
      case H.RETURNPATH:
        each = (a) => {
          this.rewrite(a);
          this.setreturn(a);
        };
        break;
      case H.SENDER:
      case H.FROM:
      case H.REPLYTO:
      case H.RETURNRECEIPTTO:
      case H.ERRORSTO:
      case H.R_SENDER:
      case H.R_FROM:
      case H.R_REPLYTO:
        each = (a) => this.rewrite(a);
        break;
    }
    if (each) {
      this.current = h;
      const tokens = doordie(h, parse(h));
      h = unparse(doordie(h, addrlist(tokens, each)), LINELEN);
    }
    if (htype === H.BCC || htype === H.R_BCC || htype === H.RETURNPATH || htype === H.CONTENTLENGTH) return;
    this.savedh.push(h);
  }

  private defaultfrom(): string {
    const full = this.env.QMAILNAME ?? this.env.MAILNAME ?? this.env.NAME;
    const df: Token[] = [tok(T.ATOM, "From"), tok(T.COLON)];
    const nc = this.flags.namecomment;
    if (full !== undefined && !nc) df.push(tok(T.QUOTE, full), tok(T.LEFT));
    df.push(tok(this.mailusertype, this.mailuser));
    if (this.mailhost !== undefined) df.push(tok(T.AT), tok(T.ATOM, this.mailhost));
    if (full !== undefined && !nc) df.push(tok(T.RIGHT));
    if (full !== undefined && nc) df.push(tok(T.COMMENT, full));
    const first = unparse(df, LINELEN);
    this.current = first;
    const again = doordie(first, parse(first));
    return fold(
      unparse(
        doordie(
          first,
          addrlist(again, (a) => this.rewrite(a)),
        ),
        LINELEN,
      ),
    );
  }

  private defaultreturnpath(): void {
    let user = this.mailruser;
    if (this.flags.hackmess) user += `-${this.starttime}.${this.pid}`;
    if (this.flags.hackrecip) user += "-";
    const drp: Token[] = [tok(T.ATOM, "Return-Path"), tok(T.COLON), tok(T.QUOTE, user)];
    if (this.mailrhost !== undefined) drp.push(tok(T.AT), tok(T.ATOM, this.mailrhost));
    const first = unparse(drp, LINELEN);
    this.current = first;
    const again = doordie(first, parse(first));
    doordie(
      first,
      addrlist(again, (a) => {
        this.rewrite(a);
        this.setreturn(a);
      }),
    );
  }

  private msgid(): string {
    const d = new Date(this.starttime * 1000);
    const p2 = (n: number) => (n < 10 ? `0${n}` : String(n));
    const stamp = `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(
      d.getUTCMinutes(),
    )}${p2(d.getUTCSeconds())}`;
    return fold(`Message-ID: <${stamp}.${this.pid}.qmail@${this.idhost}>\n`);
  }

  private async put(s: string | Buffer): Promise<void> {
    const b = typeof s === "string" ? Buffer.from(s, "latin1") : s;
    if (this.qq) {
      if (!this.qqDead) await this.qq.put(b);
      return;
    }
    this.out.push(b);
    this.outLen += b.length;
    if (this.outLen >= 65536) this.flushOut();
  }

  private flushOut(): void {
    if (!this.out.length) return;
    const b = Buffer.concat(this.out);
    this.out = [];
    this.outLen = 0;
    try {
      writeAll(1, b);
    } catch {
      // substdio_flush's result is ignored by qmail-inject
    }
  }

  private finishmft(): string {
    if (!this.mft || this.seen[H.MAILFOLLOWUPTO]) return "";
    const mft = this.mft;
    if (!this.tocclist.some((a) => mft.has(a.toLowerCase()))) return "";
    let s = "Mail-Followup-To: ";
    for (let i = this.tocclist.length; i--; ) {
      s += quote2(this.tocclist[i] as string);
      if (i) s += ",\n  ";
    }
    return fold(`${s}\n`);
  }

  private async finishheader(): Promise<string> {
    const seen = this.seen;
    this.flagresent = RESENT.some((f) => seen[f]);
    if (this.sender === undefined) this.defaultreturnpath();
    let h = "";
    if (!this.flagqueue) h += fold(`Return-Path: <${quote2(this.sender ?? "")}>\n`);
    else {
      // loaded only when queueing: the queue client's imports cost more start-up than all of qmail-inject -n
      const { QmailQueue } = await import("../queue/qmail.ts");
      this.qq = new QmailQueue({ home: this.home, env: this.procEnv });
      // a qmail-queue that could not even be started has no pid: qmail_close will say 120
      this.qqDead = this.qq.pid === 0;
    }
    return h + (this.flagresent ? this.resentFields() : this.newFields()) + this.savedh.join("");
  }

  /** The fields a message lacks: Date, Message-ID, From, a Cc when no To or Cc, Mail-Followup-To. */
  private newFields(): string {
    const seen = this.seen;
    let h = "";
    if (!seen[H.DATE]) h += `Date: ${date822(this.starttime * 1000)}\n`;
    if (!seen[H.MESSAGEID]) h += this.msgid();
    if (!seen[H.FROM]) h += this.defaultfrom();
    if (!seen[H.TO] && !seen[H.CC]) h += "Cc: recipient list not shown: ;\n";
    return h + this.finishmft();
  }

  /** The Resent- fields a resent message lacks. */
  private resentFields(): string {
    const seen = this.seen;
    let h = "";
    if (!seen[H.R_DATE]) h += `Resent-Date: ${date822(this.starttime * 1000)}\n`;
    if (!seen[H.R_MESSAGEID]) h += `Resent-${this.msgid()}`;
    if (!seen[H.R_FROM]) h += `Resent-${this.defaultfrom()}`;
    if (!seen[H.R_TO] && !seen[H.R_CC]) h += "Resent-Cc: recipient list not shown: ;\n";
    return h;
  }

  // ---- set-up

  private getcontrols(): void {
    const mftfile = this.env.QMAILMFTFILE;
    if (mftfile !== undefined) this.mft = readMft(mftfile);
    try {
      process.chdir(this.home);
    } catch (e) {
      // C says only "internal bug" (its home is compiled in); ours names the home it was given.
      dieUnable(111, `switch to qmail home directory ${this.home}`, e);
    }
    const ctl = new Control(this.home);
    const rl = (name: string) => {
      try {
        return ctl.lineDefault(name, true, name);
      } catch {
        return die(111, "read error");
      }
    };
    const env = this.env;
    const dd = env.QMAILDEFAULTDOMAIN ?? rl("defaultdomain");
    this.rw.defaultdomain = doordie(`.${dd}`, parse(`.${dd}`));
    const dh = env.QMAILDEFAULTHOST ?? rl("defaulthost");
    this.rw.defaulthost = doordie(`@${dh}`, parse(`@${dh}`));
    const pd = env.QMAILPLUSDOMAIN ?? rl("plusdomain");
    this.rw.plusdomain = doordie(`.${pd}`, parse(`.${pd}`));
    this.idhost = env.QMAILIDHOST ?? rl("idhost");
  }

  private dorecip(s: string): void {
    const tr = hasNl(s) ? null : parse(quote2(s));
    if (!tr) dieUnable(100, `parse address: ${s}`);
    reverse(tr);
    this.rewrite(tr);
    this.reciplist.push("", unquote(tr.reverse()));
  }

  /** The whole run; returns the exit code (failures throw Exit). */
  /** The injection; running out of memory is C's nomem(): "out of memory", 111, nothing queued. */
  async run(argv: string[], input: Input): Promise<number> {
    try {
      return await this.inject(argv, input);
    } catch (e) {
      if (!isOutOfMemory(e)) throw e;
      this.qq?.abort();
      die(111, "out of memory");
    }
  }

  private async inject(argv: string[], input: Input): Promise<number> {
    this.getcontrols();
    this.options(rawArgs(argv));
    const body = await this.header(input);
    await this.put(await this.finishheader());
    if (body) {
      await this.put(body.join(""));
      for await (const c of input.rest()) await this.put(c);
    }
    return await this.exitnicely();
  }

  /** The options, and the recipients on the command line (-a, -h, -H; by default -a with arguments, else -h). */
  private options(argv: string[]): void {
    let strategy = Recip.DEFAULT;
    const { opts, rest } = getopt(argv, "aAhHnNf:");
    for (const o of opts) {
      switch (o.opt) {
        case "a":
          strategy = Recip.ARGS;
          break;
        case "A":
          strategy = Recip.DEFAULT;
          break;
        case "h":
          strategy = Recip.HEADER;
          break;
        case "H":
          strategy = Recip.AH;
          break;
        case "n":
          this.flagqueue = false;
          break;
        case "N":
          this.flagqueue = true;
          break;
        case "f":
          this.envelopeSender(o.arg ?? "");
          break;
        default:
          perm();
      }
    }
    if (strategy === Recip.DEFAULT) strategy = rest.length ? Recip.ARGS : Recip.HEADER;
    if (strategy !== Recip.HEADER) for (const a of rest) this.dorecip(a);
    this.flagrh = strategy !== Recip.ARGS;
  }

  /** -f: the envelope sender, rewritten like any address. */
  private envelopeSender(arg: string): void {
    const q = quote2(arg);
    if (hasNl(q)) unparsable(q);
    const envs = doordie(q, parse(q));
    reverse(envs);
    this.rewrite(envs);
    this.sender = unquote(reverse(envs));
  }

  /**
   * headerbody(): the header's fields, each with its continuation lines, to
   * doheaderfield(); returns the body's first lines (the blank line, or a
   * line that is no field), or null when the input ends in the header.
   */
  private async header(input: Input): Promise<string[] | null> {
    let line = "";
    let lineok = false;
    let fieldMax = 65536;
    for (;;) {
      fieldMax = fieldLimit(line.length, fieldMax);
      const next = await input.line();
      if (next === null) break;
      if (lineok && (next[0] === " " || next[0] === "\t")) {
        line += next;
        continue;
      }
      if (lineok) this.doheaderfield(line);
      if (next.length === 1) return [next];
      const field = fieldStart(next);
      if (field === undefined) return ["\n", next];
      line = field;
      lineok = true;
    }
    if (lineok) this.doheaderfield(line);
    return null;
  }

  private async exitnicely(): Promise<number> {
    if (!this.qq) {
      this.flushOut();
      return 0;
    }
    const qq = this.qq;
    // qmail_from/qmail_to take C strings: an address ends at its first NUL
    const z = (s: string) => {
      const i = s.indexOf("\0");
      return i < 0 ? s : s.slice(0, i);
    };
    qq.from(z(this.sender ?? ""));
    for (const r of this.reciplist.strings(0)) qq.to(z(r));
    if (this.flagrh) for (const r of (this.flagresent ? this.hrrlist : this.hrlist).strings(0)) qq.to(z(r));
    const r = this.qqDead ? { text: qqExitText(120) } : await qq.close();
    if (r.text) die(r.text[0] === "D" ? 100 : 111, r.text.slice(1));
    return 0;
  }
}
