// SPDX-License-Identifier: MIT
// qmail-smtpd's session (qmail-smtpd(8), RFC 5321, SIZE of RFC 1870):
// commands parsed from big buffered reads (pipelining), replies batched and
// written synchronously before every blocking read, DATA streamed to
// qmail-queue through QmailQueue with bounded memory. The configuration
// (setup()) is in smtpd-config.ts, the DATA state machine (blast()) in
// smtpd-blast.ts.

import { Exit, info } from "@qts/core/die";
import { lowerAscii, scanUlong } from "../cscan.ts";
import { ReadEof, ReadTimeout, timeoutRead, writeFully, writeTimeout } from "../net/timeoutio.ts";
import { isOutOfMemory, NoMem, Packed } from "../queue/packed.ts";
import type { QmailQueue } from "../queue/qmail.ts";
import { nonAscii, validUtf8 } from "../utf8.ts";
import { addrparse } from "./addrparse.ts";
import { rcptAllowed } from "./rcpthosts.ts";
import { receivedLine, safe } from "./received.ts";
import { AR, type AuthPort, authenticate, FAILDELAY_MS, MAXFAIL } from "./smtp-auth.ts";
import type { SmtpIo, TlsInfo } from "./smtp-tls.ts";
import { Blast, Scan } from "./smtpd-blast.ts";
import type { SmtpdConfig } from "./smtpd-config.ts";

export const MAXHOPS = 100;
/** Longest command line kept; the rest is discarded (C grows without bound). */
export const MAXLINE = 65536;
const INBUF = 65536;

export const R = {
  controls: "421 unable to read controls (#4.3.0)\r\n",
  ipme: "421 unable to figure out my IP addresses (#4.3.0)\r\n",
  timeout: "451 timeout (#4.4.2)\r\n",
  straynl: "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n",
  bmf: "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n",
  nogateway: "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
  unimpl: "502 unimplemented (#5.5.1)\r\n",
  syntax: "555 syntax error (#5.5.4)\r\n",
  wantmail: "503 MAIL first (#5.5.1)\r\n",
  wantrcpt: "503 RCPT first (#5.5.1)\r\n",
  noop: "250 ok\r\n",
  vrfy: "252 send some mail, i'll try my best\r\n",
  qqt: "451 qqt failure (#4.3.0)\r\n",
  help: "214 netqmail home page: http://qmail.org/netqmail\r\n",
  hops: "554 too many hops, this message is looping (#5.4.6)\r\n",
  size: "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n",
  // RFC 6531 section 3.7.4.1's code for an address SMTPUTF8 cannot carry.
  badutf8: "553 sorry, that address is not valid UTF-8 (#5.6.7)\r\n",
  // STARTTLS, as the netqmail TLS patch answers (RFC 3207)
  tlsready: "220 ready for tls\r\n",
  tlsparam: "501 Syntax error (no parameters allowed) (#5.5.4)\r\n",
  wanttls: "530 Must issue a STARTTLS command first (#5.7.0)\r\n",
  nomem: "421 out of memory (#4.3.0)\r\n",
} as const;

function bmfCheck(cfg: SmtpdConfig, addr: string): boolean {
  if (!cfg.bmf) return false;
  const a = lowerAscii(addr);
  if (cfg.bmf.has(a)) return true;
  const at = a.lastIndexOf("@");
  return at >= 0 && cfg.bmf.has(a.slice(at));
}

/** The MAIL parameters after the address (RFC 1870 SIZE=, RFC 6531 SMTPUTF8, ...). */
export function mailParams(arg: string): string[] {
  const lt = arg.indexOf("<");
  let rest: string;
  if (lt >= 0) {
    const gt = arg.indexOf(">", lt);
    rest = gt >= 0 ? arg.slice(gt + 1) : "";
  } else {
    const colon = arg.indexOf(":");
    let p = colon < 0 ? arg.length : colon + 1;
    while (arg[p] === " ") p++;
    const sp = arg.indexOf(" ", p);
    rest = sp < 0 ? "" : arg.slice(sp);
  }
  return rest.split(" ").filter((t) => t.length > 0);
}

/** SIZE=n among the MAIL parameters after the address (RFC 1870, SIZE patch); undefined if absent. */
export function mailSize(arg: string): bigint | undefined {
  for (const t of mailParams(arg)) if (/^size=/i.test(t)) return scanUlong(t.slice(5));
  return undefined;
}

/** SMTPUTF8 given: each non-ASCII address must be UTF-8 (RFC 6531 section 3.3); without it, bytes pass as in qmail. */
function utf8Refused(smtputf8: boolean, addr: string): boolean {
  return smtputf8 && nonAscii(addr) && !validUtf8(addr);
}

/** A command line's text: its parts joined, a trailing CR dropped (unless cut short), cut at a NUL. */
function commandText(parts: Buffer[], over: boolean): string {
  let b = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  if (!over && b.length > 0 && b[b.length - 1] === 13) b = b.subarray(0, b.length - 1);
  const nul = b.indexOf(0);
  if (nul >= 0) b = b.subarray(0, nul);
  return b.toString("latin1");
}

const STALL = Symbol("stall");

/** p, or STALL after ms; the timer also keeps the event loop alive meanwhile. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T | typeof STALL> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timer = new Promise<typeof STALL>((ok) => {
    t = setTimeout(() => ok(STALL), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

export class Session {
  private inbuf = Buffer.allocUnsafe(INBUF);
  private pos = 0;
  private end = 0;
  private outq: string[] = [];
  private outlen = 0;
  private helo: string | undefined;
  private seenmail = false;
  private flagbarf = false;
  /** MAIL had SMTPUTF8 (RFC 6531). */
  private utf8 = false;
  private mailfrom = "";
  /** The recipients as qmail-queue's T records (C's rcptto stralloc): bytes, bounded by the memory limit. */
  private rcptto = new Packed();
  private stalled = false;
  private written = 0;
  private sndtimeo = false;
  private io: SmtpIo = {
    read: (buf, ms) => timeoutRead(this.fdIn, buf, ms),
    write: (b) => this.plainWrite(b),
  };
  private tls: TlsInfo | undefined;
  private authUser: string | undefined;
  private authFails = 0;

  constructor(
    readonly cfg: SmtpdConfig,
    private fdIn = 0,
    private fdOut = 1,
  ) {
    this.dohelo(cfg.remotehost);
  }

  private dohelo(arg: string): void {
    this.helo = lowerAscii(this.cfg.remotehost) === lowerAscii(arg) ? undefined : arg;
  }

  out(s: string): void {
    this.outq.push(s);
    this.outlen += s.length;
    if (this.outlen >= 4096) this.flush();
  }

  flush(): void {
    if (this.outq.length === 0) return;
    const b = Buffer.from(this.outq.join(""), "latin1");
    this.outq = [];
    this.outlen = 0;
    try {
      this.io.write(b);
    } catch {
      throw new Exit(1);
    }
  }

  private plainWrite(b: Uint8Array): void {
    // timeoutwrite: only a client that stops reading fills the socket buffer, which
    // takes more than a few KB of replies; the FFI call is skipped below that
    this.written += b.length;
    if (this.written > 4096 && !this.sndtimeo) {
      this.sndtimeo = true;
      writeTimeout(this.fdOut, this.cfg.timeoutMs);
    }
    writeFully(this.fdOut, b);
  }

  /** Ends the session with a last reply (flushed) and an exit code. */
  private quitWith(reply: string, code: number): never {
    this.out(reply);
    this.flush();
    throw new Exit(code);
  }

  /** saferead: flush replies, then one big read; timeout → 451 and exit 1; EOF → exit 1. */
  private async fill(): Promise<void> {
    this.flush();
    try {
      this.end = await this.io.read(this.inbuf, this.cfg.timeoutMs);
      this.pos = 0;
    } catch (e) {
      if (e instanceof ReadTimeout) this.quitWith(R.timeout, 1);
      if (e instanceof ReadEof) throw new Exit(1);
      throw e;
    }
  }

  /** One command line: up to LF, a trailing CR dropped, cut at a NUL; overlong lines truncated. */
  private async line(): Promise<{ s: string; over: boolean }> {
    const parts: Buffer[] = [];
    let kept = 0;
    let over = false;
    for (;;) {
      if (this.pos >= this.end) await this.fill();
      const i = this.inbuf.subarray(0, this.end).indexOf(10, this.pos);
      const stop = i >= 0 && i < this.end ? i : this.end;
      let take = stop - this.pos;
      if (kept + take > MAXLINE) {
        take = MAXLINE - kept;
        over = true;
      }
      if (take > 0) {
        parts.push(Buffer.from(this.inbuf.subarray(this.pos, this.pos + take)));
        kept += take;
      }
      this.pos = stop;
      if (stop < this.end) {
        this.pos = stop + 1;
        break;
      }
    }
    return { s: commandText(parts, over), over };
  }

  /**
   * The session; when memory runs short (the envelope's budget, or the
   * runtime's own allocation failure) it ends as C's die_nomem() does:
   * 421 out of memory, exit 1, nothing queued.
   */
  async run(): Promise<never> {
    try {
      return await this.serve();
    } catch (e) {
      if (!(e instanceof NoMem) && !isOutOfMemory(e)) throw e;
      // the recipients go (memory back); replies still queued go out first, as from C's buffer
      this.rcptto = new Packed();
      return this.quitWith(R.nomem, 1);
    } finally {
      // a TLS session's last replies are still on their way
      await this.io.close?.();
    }
  }

  private async serve(): Promise<never> {
    if (this.cfg.smtps) await this.startTls();
    this.out(`220 ${this.cfg.greeting} ESMTP\r\n`);
    for (;;) {
      const { s, over } = await this.line();
      const sp = s.indexOf(" ");
      const verb = lowerAscii(sp < 0 ? s : s.slice(0, sp));
      let a = sp < 0 ? s.length : sp;
      while (s[a] === " ") a++;
      const arg = s.slice(a);
      switch (verb) {
        case "rcpt":
          this.rcpt(arg, over);
          break;
        case "mail":
          this.mail(arg, over);
          break;
        case "data":
          await this.data();
          this.flush();
          break;
        case "quit":
          this.quitWith(`221 ${this.cfg.greeting}\r\n`, 0);
          break;
        case "helo":
          this.out(`250 ${this.cfg.greeting}\r\n`);
          this.seenmail = false;
          this.dohelo(arg);
          this.flush();
          break;
        case "ehlo":
          this.out(
            `250-${this.cfg.greeting}\r\n250-PIPELINING\r\n250-SIZE ${this.cfg.databytes}\r\n${this.ehloExtra()}250-SMTPUTF8\r\n250 8BITMIME\r\n`,
          );
          this.seenmail = false;
          this.dohelo(arg);
          this.flush();
          break;
        case "rset":
          this.seenmail = false;
          this.out("250 flushed\r\n");
          break;
        case "help":
          this.out(R.help);
          this.flush();
          break;
        case "noop":
          this.out(R.noop);
          this.flush();
          break;
        case "vrfy":
          this.out(R.vrfy);
          this.flush();
          break;
        case "starttls":
          await this.starttls(arg);
          break;
        case "auth":
          await this.auth(arg, over);
          break;
        default:
          this.out(R.unimpl);
          this.flush();
      }
    }
  }

  /** STARTTLS and AUTH in the EHLO reply, when offered now. */
  private ehloExtra(): string {
    let s = "";
    if (this.cfg.tlsCert && !this.tls) s += "250-STARTTLS\r\n";
    const a = this.cfg.auth;
    if (a && (this.tls || a.plaintextOk)) s += `250-AUTH ${a.mechs.join(" ")}\r\n`;
    return s;
  }

  /**
   * The Received line's protocol: SMTP as in netqmail; with TLS or AUTH the
   * RFC 3848 names, TLS with its version and cipher in the manner of the
   * netqmail TLS patch's "(cipher encrypted)".
   */
  private protocol(): string {
    // RFC 6531 section 3.7.3: UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA for a transaction with SMTPUTF8.
    if (this.utf8) {
      const u = `UTF8SMTP${this.tls ? "S" : ""}${this.authUser !== undefined ? "A" : ""}`;
      return this.tls ? `${u} (${this.tls.version} ${this.tls.cipher} encrypted)` : u;
    }
    if (!this.tls && this.authUser === undefined) return "SMTP";
    const name = `ESMTP${this.tls ? "S" : ""}${this.authUser !== undefined ? "A" : ""}`;
    return this.tls ? `${name} (${this.tls.version} ${this.tls.cipher} encrypted)` : name;
  }

  private async starttls(arg: string): Promise<void> {
    // not offered, or a second STARTTLS: the TLS patch's 502
    if (!this.cfg.tlsCert || this.tls) {
      this.out(R.unimpl);
      this.flush();
      return;
    }
    if (arg !== "") {
      this.out(R.tlsparam);
      this.flush();
      return;
    }
    this.out(R.tlsready);
    this.flush();
    // RFC 3207 section 4.2 and CVE-2011-0411: commands pipelined after STARTTLS came in plain text; never run them
    this.pos = this.end;
    await this.startTls();
    // ... and the session forgets all it learnt before TLS
    this.dohelo(this.cfg.remotehost);
    this.seenmail = false;
    this.rcptto = new Packed();
    this.authUser = undefined;
  }

  /** The handshake; a failed or stalled one ends the session (there is no plain text to answer in). */
  private async startTls(): Promise<void> {
    this.flush();
    const { TlsChannel } = await import("./smtp-tls.ts");
    try {
      const ch = await TlsChannel.start(
        this.fdIn,
        this.fdOut,
        this.cfg.tlsCert ?? "",
        this.cfg.timeoutMs,
        this.cfg.tlsCiphers,
      );
      this.io = ch;
      this.tls = ch.info;
    } catch (e) {
      info(`pid ${process.pid} TLS failed from ${safe(this.cfg.remoteip)}: ${(e as Error).message}`);
      throw new Exit(1);
    }
  }

  private async auth(arg: string, over: boolean): Promise<void> {
    const a = this.cfg.auth;
    if (!a) {
      this.out(R.unimpl);
      this.flush();
      return;
    }
    if (!this.tls && !a.plaintextOk) this.out(AR.wantTls);
    else if (this.authUser !== undefined) this.out(AR.already);
    else if (this.seenmail) this.out(AR.inMail);
    else if (over) await this.authFailed(AR.malformed);
    else {
      const port: AuthPort = {
        out: (s) => this.out(s),
        flush: () => this.flush(),
        readLine: () => this.line(),
        greeting: this.cfg.greeting,
        remoteip: this.cfg.remoteip,
        env: this.cfg.env,
        timeoutMs: this.cfg.timeoutMs,
      };
      await this.authAnswer(await authenticate(port, a, arg));
    }
    this.flush();
  }

  /** The reply to AUTH's outcome. */
  private async authAnswer(r: Awaited<ReturnType<typeof authenticate>>): Promise<void> {
    if ("user" in r) {
      this.authUser = r.user;
      this.out(AR.ok);
    } else if (r.fail === "mech") this.out(AR.unknownMech);
    else if (r.fail === "cancelled") this.out(AR.cancelled);
    else if (r.fail === "temp") this.out(AR.temp);
    else if (r.fail === "malformed") await this.authFailed(AR.malformed);
    else {
      // a refused password is answered late, and a few end the connection
      await new Promise((ok) => setTimeout(ok, FAILDELAY_MS));
      await this.authFailed(AR.failed);
    }
  }

  private async authFailed(reply: string): Promise<void> {
    if (++this.authFails >= MAXFAIL) this.quitWith(reply, 1);
    this.out(reply);
  }

  private parse(arg: string, over: boolean): string | undefined {
    // a line past MAXLINE holds an address past 900 bytes in any sane input: C answers 555 too
    if (over) return undefined;
    try {
      return addrparse(arg, this.cfg.liphost);
    } catch {
      this.quitWith(R.ipme, 1);
    }
  }

  private mail(arg: string, over: boolean): void {
    if (this.cfg.requireTls && !this.tls) {
      this.out(R.wanttls);
      return;
    }
    if (this.cfg.auth?.required && this.authUser === undefined) {
      this.out(AR.required);
      return;
    }
    const addr = this.parse(arg, over);
    if (addr === undefined) {
      this.out(R.syntax);
      return;
    }
    // SIZE patch: refuse up front when the declared size is over databytes
    if (this.cfg.databytes) {
      const n = mailSize(arg);
      if (n !== undefined && n > BigInt(this.cfg.databytes)) {
        this.out(R.size);
        return;
      }
    }
    const utf8 = mailParams(arg).some((p) => p.toUpperCase() === "SMTPUTF8");
    if (utf8Refused(utf8, addr)) {
      this.out(R.badutf8);
      return;
    }
    this.utf8 = utf8;
    this.flagbarf = bmfCheck(this.cfg, addr);
    this.seenmail = true;
    this.rcptto = new Packed();
    this.mailfrom = addr;
    this.out("250 ok\r\n");
  }

  private rcpt(arg: string, over: boolean): void {
    if (!this.seenmail) {
      this.out(R.wantmail);
      return;
    }
    let addr = this.parse(arg, over);
    if (addr === undefined) {
      this.out(R.syntax);
      return;
    }
    if (this.flagbarf) {
      this.out(R.bmf);
      return;
    }
    if (utf8Refused(this.utf8, addr)) {
      this.out(R.badutf8);
      return;
    }
    if (this.cfg.relayclient !== undefined) addr += this.cfg.relayclient;
    else if (this.authUser !== undefined) {
      // an authenticated client relays as with RELAYCLIENT set and empty
    } else {
      let ok: boolean;
      try {
        ok = rcptAllowed(this.cfg, addr);
      } catch {
        this.quitWith(R.controls, 1);
      }
      if (!ok) {
        this.out(R.nogateway);
        return;
      }
    }
    this.rcptto.push("T", addr);
    this.out("250 ok\r\n");
  }

  private async data(): Promise<void> {
    if (!this.seenmail) {
      this.out(R.wantmail);
      return;
    }
    if (this.rcptto.count === 0) {
      this.out(R.wantrcpt);
      return;
    }
    this.seenmail = false;
    const cfg = this.cfg;
    let qq: QmailQueue;
    try {
      // loaded at the first DATA: sessions that never get there start faster
      const { QmailQueue } = await import("../queue/qmail.ts");
      qq = new QmailQueue({ home: cfg.home, env: cfg.env });
    } catch {
      this.out(R.qqt);
      return;
    }
    this.out("354 go ahead\r\n");
    if (!qq.pid) {
      // the child never started: qmail_open's child would _exit(120) after a failed exec
      const { hops, overflow } = await this.blast(undefined, cfg.databytes);
      if (hops >= MAXHOPS) this.out(R.hops);
      else if (overflow) this.out(R.size);
      else this.out("451 unable to exec qq (#4.3.0)\r\n");
      return;
    }
    this.stalled = false;
    try {
      await this.transfer(qq);
    } catch (e) {
      // the session ends in the middle of DATA (EOF, timeout, bare LF, out of memory): the message goes
      qq.abort();
      throw e;
    }
  }

  /** The Received line and the DATA into qq, then the envelope and the reply. */
  private async transfer(qq: QmailQueue): Promise<void> {
    const cfg = this.cfg;
    await this.qput(
      qq,
      Buffer.from(
        receivedLine({
          protocol: this.protocol(),
          local: cfg.local,
          remoteip: cfg.remoteip,
          remotehost: cfg.remotehost,
          remoteinfo: this.authUser ?? cfg.remoteinfo,
          helo: this.helo,
        }),
        "latin1",
      ),
    );
    const { hops, overflow } = await this.blast(qq, cfg.databytes);
    const tooManyHops = hops >= MAXHOPS;
    const failed = tooManyHops || overflow;
    // qmail_fail(): no envelope goes out, so qmail-queue cannot queue the message
    if (!failed) {
      qq.from(this.mailfrom);
      qq.recipients(this.rcptto);
    }
    let res = await bounded(qq.close(), cfg.timeoutMs);
    if (res === STALL) res = { code: 53, text: "Zqq write error or disk full (#4.3.0)", pid: qq.pid };
    // a write that never completed is qmail_close's flagerr: exit 0 still fails
    else if (this.stalled && res.code === 0) res = { code: 54, text: "Zqq read error (#4.3.0)", pid: res.pid };
    if (!failed && res.code === 0) {
      this.out(`250 ok ${Math.floor(Date.now() / 1000)} qp ${res.pid}\r\n`);
      return;
    }
    if (tooManyHops) this.out(R.hops);
    else if (overflow) this.out(R.size);
    else this.out(`${res.text[0] === "D" ? "554 " : "451 "}${res.text.slice(1)}\r\n`);
  }

  /**
   * qmail_put: a write that qmail-queue does not take within the timeout
   * (it died without Bun reporting the broken pipe, or it hangs) stops the
   * writes, like C's flagerr, instead of waiting forever.
   */
  private async qput(qq: QmailQueue | undefined, data: Uint8Array): Promise<void> {
    if (!qq || this.stalled) return;
    if ((await bounded(qq.put(data), this.cfg.timeoutMs)) === STALL) this.stalled = true;
  }

  /** blast() (smtpd-blast.ts): the DATA into qq, a chunk at a time; a bare LF ends the session with 451. */
  private async blast(qq: QmailQueue | undefined, databytes: number): Promise<{ hops: number; overflow: boolean }> {
    const b = new Blast(databytes);
    for (;;) {
      // a chunk is taken even with no qq to write to, so that the DATA is read to its end all the same
      if (b.full) await this.qput(qq, b.take());
      if (this.pos >= this.end) await this.fill();
      const r = b.scan(this.inbuf.subarray(0, this.end), this.pos);
      this.pos = b.pos;
      if (r === Scan.STRAY) this.strayNewline(b.pos);
      if (r === Scan.END) break;
    }
    if (b.olen > 0 && !b.failed) await this.qput(qq, b.chunk.subarray(0, b.olen));
    return { hops: b.hops, overflow: databytes > 0 && b.failed };
  }

  private strayNewline(p: number): never {
    this.pos = p;
    this.quitWith(R.straynl, 1);
  }
}
