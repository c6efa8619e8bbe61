// SPDX-License-Identifier: MIT
// qmail-remote: sends one message by SMTP to one host (qmail-remote(8), with
// the accept-5xx and oversize-DNS patches). Always exits 0; the result
// is the r/h/s and K/Z/D report on stdout.
import { byteStr, rawArgs, textOf } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { writeSync } from "@qts/sys/fs";
import { Control } from "../lib/control.ts";
import { lowerAscii, scanUlong } from "../lib/cscan.ts";
import { qmailHome } from "../lib/home.ts";
import { ipme, ipme6, relaySplit } from "../lib/net/addrip.ts";
import { DNS_HARD, Dns, DnsError, type IpMx } from "../lib/net/dns.ts";
import {
  authenticate,
  type Credentials,
  credentials,
  ehloKeywords,
  startTls,
  TlsHandshakeFailed,
  type TlsPolicy,
  TlsVerifyFailed,
  tlsPolicy,
} from "../lib/remote/smtp-client-tls.ts";
import { DataEncoder, Done, readMessage, SmtpConn, SmtpConnLost } from "../lib/remote/smtpremote.ts";
import { tcptoCheck, tcptoErr } from "../lib/remote/tcpto.ts";
import { quoteBox } from "../lib/smtpd/addrparse.ts";
import { nonAscii, validUtf8 } from "../lib/utf8.ts";

export const usage = "qmail-remote host sender recip [ recip ... ]";

class Report {
  private parts: Buffer[] = [];

  out(s: string | Buffer): void {
    this.parts.push(typeof s === "string" ? Buffer.from(s, "latin1") : s);
  }

  zero(): void {
    this.out("\0");
  }

  /** zerodie(): a NUL, flush, exit 0. */
  die(s: string): never {
    this.out(s);
    this.zero();
    throw new Done();
  }

  flush(): void {
    const b = Buffer.concat(this.parts);
    this.parts = [];
    try {
      for (let at = 0; at < b.length; ) at += writeSync(1, b, at, b.length - at);
    } catch {}
  }
}

/** outsafe(): bytes outside 33..126 become '?'. */
function outsafe(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, "?");
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-remote");
  sigpipeIgnore();
  const rep = new Report();
  try {
    await remote(argv, env, rep);
  } catch (e) {
    if (!(e instanceof Done)) throw e;
  }
  rep.flush();
  return 0;
}

/** The controls qmail-remote reads at start (qmail-remote.c's getcontrols()). */
interface Controls {
  c: Control;
  timeout: number;
  timeoutconnect: number;
  helo: string;
  /** control/smtproutes: domain (lowercase) to relay[:port][|user|password]. */
  routes: Map<string, string>;
}

function getcontrols(home: string, rep: Report): Controls {
  const tempControl = () => rep.die("ZUnable to read control files. (#4.3.0)\n");
  const c = new Control(home);
  let timeout = 1200;
  let timeoutconnect = 60;
  let helohost: string | undefined;
  const routes = new Map<string, string>();
  try {
    const me = c.me();
    timeout = c.int("timeoutremote", 1200);
    timeoutconnect = c.int("timeoutconnect", 60);
    helohost = c.line("helohost") ?? me;
    // constmap with flagcolon: key before the first ':', the last duplicate wins
    for (const l of c.lines("smtproutes") ?? []) {
      const i = l.indexOf(":");
      if (i >= 0) routes.set(lowerAscii(l.slice(0, i)), l.slice(i + 1));
    }
  } catch {
    tempControl();
  }
  if (helohost === undefined) tempControl();
  return { c, timeout, timeoutconnect, helo: helohost as string, routes };
}

/** Where the message goes: the host to look up and its port, and the smtproutes entry that sent it there. */
interface Route {
  host: string;
  port: number;
  /** The relay host, when smtproutes has an entry for the domain; undefined for the MX. */
  relayhost?: string;
  /** The smtproutes entry's relay[:port], for control/remoteauth. */
  route?: string;
  routeCred?: Credentials;
}

/** The qmail AUTH patch's relay:port|user|password in smtproutes: the relay, and the credentials if given. */
function routeCredentials(relayhost: string | undefined): { relay?: string; routeCred?: Credentials } {
  if (!relayhost?.includes("|")) return { relay: relayhost };
  const [r, user, ...pw] = relayhost.split("|");
  const routeCred = user !== undefined && pw.length > 0 ? { user, password: pw.join("|") } : undefined;
  return { relay: r === "" ? undefined : r, routeCred };
}

/** smtproutes for host: the domain itself, then each .suffix, then the empty catch-all; an empty relay means MX. */
function smtproute(host: string, routes: Map<string, string>): Route {
  let relayhost: string | undefined;
  const lh = lowerAscii(host);
  for (let i = 0; i <= lh.length; i++)
    if (i === 0 || i === lh.length || lh[i] === ".") {
      relayhost = routes.get(lh.slice(i));
      if (relayhost !== undefined) break;
    }
  const { relay, routeCred } = routeCredentials(relayhost || undefined);
  relayhost = relay;
  if (relayhost === undefined) return { host, port: 25, routeCred };
  const [h, p] = relaySplit(relayhost);
  const port = p === undefined ? 25 : Number(BigInt.asUintN(16, scanUlong(p)));
  return { host: h, port, relayhost: h, route: relayhost, routeCred };
}

/** addrmangle(): the box quoted, the host canonicalised through CNAMEs when not routed (one lookup per host). */
function addrMangler(dns: Dns, utf8: boolean, rep: Report) {
  const cnames = new Map<string, Promise<{ loop: number | "loop"; name: string }>>();
  return async (s: string, flagcname: boolean): Promise<{ addr: string; alias: boolean }> => {
    const j = s.lastIndexOf("@");
    if (j < 0) return { addr: s, alias: flagcname };
    let canon = s.slice(j + 1);
    let alias = flagcname;
    if (flagcname) {
      let p = cnames.get(canon);
      if (!p) {
        p = dns.cname(textOf(canon));
        cnames.set(canon, p);
      }
      let r: { loop: number | "loop"; name: string };
      try {
        r = await p;
      } catch {
        rep.die("ZCNAME lookup failed temporarily. (#4.4.3)\n");
      }
      if (r.loop === 0) alias = false;
      else canon = byteStr(r.name);
    }
    return { addr: `${quoteBox(s.slice(0, j), utf8)}@${canon}`, alias };
  };
}

/** The addresses to try: the relay's, or the host's MXs (its own address without one), sorted by preference. */
async function lookup(dns: Dns, rt: Route, rep: Report): Promise<IpMx[]> {
  let ips: IpMx[] = [];
  try {
    if (rt.relayhost !== undefined) ips = await dns.ip(textOf(rt.host));
    else {
      const random = BigInt(Math.floor(Date.now() / 1000)) + (BigInt(process.pid) << 16n);
      const r = await dns.mxip(textOf(rt.host), random);
      ips = r.ips;
      if (r.soft && ips.length === 0) rep.die("ZSorry, I couldn't find any host by that name. (#4.1.2)\n");
    }
  } catch (e) {
    if (e instanceof Done) throw e;
    if (e instanceof DnsError && e.kind === DNS_HARD)
      rep.die(`DSorry, I couldn't find any host named ${outsafe(rt.host)}. (#5.1.2)\n`);
    rep.die("ZSorry, I couldn't find any host by that name. (#4.1.2)\n");
  }
  if (ips.length === 0) rep.die("DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n");
  return ips;
}

/** ipme_init(): our own addresses, read before the recipients' CNAME lookups as in qmail-remote.c. */
function ipmeInit(rep: Report): Set<string> {
  try {
    return new Set([...ipme(), ...ipme6()]);
  } catch {
    return rep.die("ZSystem resources temporarily unavailable. (#4.3.0)\n");
  }
}

/** The preference at and past which an MX is ourselves (or a relay, or every recipient an alias): not tried. */
function prefme(ips: IpMx[], me: Set<string>, rep: Report, routed: boolean, allAliases: boolean): number {
  let pref = 100000;
  for (const x of ips) if (me.has(x.ip) && x.pref < pref) pref = x.pref;
  if (routed) pref = 300000;
  if (allAliases) pref = 500000;
  if (!ips.some((x) => x.pref < pref))
    rep.die(
      "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n",
    );
  return pref;
}

async function remote(argv: string[], env: Env, rep: Report): Promise<void> {
  if (argv.length < 3) rep.die("DI (qmail-remote) was invoked improperly. (#5.3.5)\n");
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    rep.die("ZUnable to switch to home directory. (#4.3.0)\n");
  }
  const ctl = getcontrols(home, rep);

  // Arguments are byte strings (the exact bytes, written out as latin1, as control files are read); DNS gets their text.
  const raw = rawArgs(argv);
  const rt = smtproute(raw[0] as string, ctl.routes);

  // SMTPUTF8 (RFC 6531) when an address has bytes past ASCII; they must then be UTF-8 (section 3.3).
  const addrs = raw.slice(1) as string[];
  const utf8 = addrs.some(nonAscii);
  if (utf8 && !addrs.every(validUtf8))
    rep.die("DSorry, an address is neither ASCII nor valid UTF-8, so SMTPUTF8 cannot carry it. (#5.6.7)\n");

  const dns = new Dns(env);
  const mangle = addrMangler(dns, utf8, rep);
  const sender = (await mangle(raw[1] as string, false)).addr;
  const me = ipmeInit(rep);
  let allAliases = true;
  const recips: string[] = [];
  for (const r of raw.slice(2)) {
    const m = await mangle(r, rt.relayhost === undefined);
    if (!m.alias) allAliases = false;
    recips.push(m.addr);
  }

  const ips = await lookup(dns, rt, rep);
  const pref = prefme(ips, me, rep, rt.relayhost !== undefined, allAliases);

  let creds: Credentials | undefined;
  try {
    creds = rt.route === undefined ? undefined : credentials(ctl.c, rt.route, rt.routeCred);
  } catch {
    rep.die("ZUnable to read control files: control/remoteauth is readable by others. (#4.3.0)\n");
  }
  const dest = textOf(raw[0] as string);
  for (const x of ips) {
    if (x.pref >= pref) continue;
    await tryHost(x, { ctl, rt, home, env, dest, rep, creds, helo: ctl.helo, sender, recips, utf8 });
  }
  rep.die("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n");
}

/** What tryHost() needs: the run's controls, route, envelope and report. */
interface Attempt {
  ctl: Controls;
  rt: Route;
  home: string;
  env: Env;
  dest: string;
  rep: Report;
  creds?: Credentials;
  helo: string;
  sender: string;
  recips: string[];
  utf8: boolean;
}

/** One address: skipped while tcpto says it timed out, else connected and the SMTP dialogue held (ending the run). */
async function tryHost(x: IpMx, a: Attempt): Promise<void> {
  const t = tcptoCheck(a.home, x.ip);
  if (t.skip) return;
  const server = x.host ?? x.ip;
  let policy: TlsPolicy;
  try {
    policy = tlsPolicy(a.ctl.c, server, a.dest, a.env);
  } catch {
    a.rep.die("ZUnable to read control files. (#4.3.0)\n");
  }
  const timeoutconnect = Math.max(a.ctl.timeoutconnect, 1) * 1000;
  const timeout = Math.max(a.ctl.timeout, 1) * 1000;
  // opportunistic TLS whose handshake fails: once more to the same address, in plain text
  for (const plainOnly of [false, true]) {
    let conn: SmtpConn;
    try {
      conn = await SmtpConn.open(x.ip, a.rt.port, timeoutconnect, timeout);
    } catch (e) {
      tcptoErr(a.home, x.ip, (e as Error).message === "timeout", t.there);
      return;
    }
    tcptoErr(a.home, x.ip, false, t.there);
    try {
      await new Session(conn, x.ip, a.rep).smtp(a.helo, a.sender, a.recips, {
        policy,
        server,
        creds: a.creds,
        plainOnly,
        utf8: a.utf8,
      });
    } catch (e) {
      if (!(e instanceof TlsHandshakeFailed) || plainOnly) throw e;
      conn.close();
    }
  }
}

interface TlsCtx {
  policy: TlsPolicy;
  /** The server's name (MX or relay host; its address for a literal). */
  server: string;
  creds?: Credentials;
  /** A first attempt's TLS handshake failed: no STARTTLS this time. */
  plainOnly: boolean;
  /** Non-ASCII addresses: the server must offer SMTPUTF8 (RFC 6531). */
  utf8: boolean;
}

/**
 * One SMTP session on a connected socket: qmail-remote.c's smtp() and the functions it calls, with
 * the TLS, AUTH and SMTPUTF8 steps of the patches between the greeting and MAIL. Every way out
 * throws: quit()'s or rep.die's Done, or TlsHandshakeFailed for tryHost() to retry in plain text.
 */
class Session {
  /** qmail-remote.c's flagcritical: the message is sent and its reply not yet read. */
  private critical = false;
  /** The report's note on TLS (qmail-remote(8)); empty for a classic session. */
  private tlsNote = "";

  constructor(
    private readonly conn: SmtpConn,
    private readonly ip: string,
    private readonly rep: Report,
  ) {}

  // qmail-remote.c's smtp(): the dialogue, ending in quit() or, if the connection is lost, dropped().
  async smtp(helo: string, sender: string, recips: string[], tc: TlsCtx): Promise<never> {
    try {
      await this.greeting();
      await this.hello(helo, tc);
      await this.mailRcpt(sender, recips, tc.utf8);
      await this.data();
      await this.blast();
    } catch (e) {
      if (e instanceof SmtpConnLost) this.dropped();
      throw e;
    }
    throw new Done();
  }

  // qmail-remote.c's outsmtptext(): the server's reply after "Remote host said: ", NULs as '?'.
  private outsmtptext(): void {
    const t = this.conn.parser.textBytes;
    if (t.length === 0) return;
    this.rep.out("Remote host said: ");
    for (let i = 0; i < t.length; i++) if (t[i] === 0) t[i] = 63;
    this.rep.out(t);
    this.conn.parser.reset();
  }

  // qmail-remote.c's dropped()
  private dropped(): never {
    this.conn.close();
    this.rep.die(
      `ZConnected to ${this.ip} but connection died. ${this.critical ? "Possible duplicate! " : ""}(#4.4.2)\n`,
    );
  }

  // qmail-remote.c's quit(): QUIT, then the report line and the server's text.
  private async quit(prepend: string, append: string): Promise<never> {
    // best effort: a server that said 554 and closed gets the report, not "connection died"
    // (C's write of QUIT to a half-closed socket succeeds)
    await this.conn.write("QUIT\r\n").catch(() => {});
    // waiting for the remote side is just too ridiculous (qmail-remote.c)
    this.conn.close();
    this.rep.out(`${prepend}${this.ip}${append}.\n${this.tlsNote}`);
    this.outsmtptext();
    this.rep.die("");
  }

  // smtp()'s first smtpcode(); with the accept-5xx patch a 5xx greeting is permanent.
  private async greeting(): Promise<void> {
    const code = await this.conn.code();
    if (code >= 500) await this.quit("DConnected to ", " but greeting failed");
    if (code !== 220) await this.quit("ZConnected to ", " but greeting failed");
  }

  // smtp()'s HELO; with the accept-5xx patch a 5xx reply is permanent.
  private async helo(name: string): Promise<void> {
    await this.conn.write(`HELO ${name}\r\n`);
    const code = await this.conn.code();
    if (code >= 500) await this.quit("DConnected to ", " but my name was rejected");
    if (code !== 250) await this.quit("ZConnected to ", " but my name was rejected");
  }

  // The TLS patch's ehlo(): the keywords offered; HELO when EHLO is refused, as the TLS and AUTH patches do.
  private async ehlo(name: string): Promise<Map<string, string>> {
    await this.conn.write(`EHLO ${name}\r\n`);
    if ((await this.conn.code()) === 250) return ehloKeywords(this.conn.parser.textBytes);
    await this.helo(name);
    return new Map();
  }

  /** Between the greeting and MAIL: HELO as qmail-remote.c, unless TLS, AUTH or SMTPUTF8 needs EHLO's keywords. */
  private async hello(name: string, tc: TlsCtx): Promise<void> {
    const wantTls = tc.policy.attempt && !tc.plainOnly;
    if (!wantTls && !tc.creds && !tc.plainOnly && !tc.utf8) return this.helo(name);
    let ext = await this.ehlo(name);
    let secure = false;
    if (tc.plainOnly) this.tlsNote = "TLS: the handshake failed; sent without TLS.\n";
    if (wantTls && ext.has("STARTTLS")) ({ ext, secure } = await this.tlsInit(name, tc, ext));
    else if (wantTls && tc.policy.verify) await this.quit("ZConnected to ", " but TLS is required and not offered");
    if (tc.creds) await this.smtpAuth(tc.creds, ext, secure);
    if (tc.utf8 && !ext.has("SMTPUTF8")) {
      // RFC 6531 section 3.2: a server without SMTPUTF8 does not get the message; bounce, never mangle.
      this.conn.parser.reset();
      await this.quit("DConnected to ", " but it does not offer SMTPUTF8, which the non-ASCII addresses need (#5.6.7)");
    }
  }

  // The TLS patch's tls_init(): STARTTLS, the handshake, then EHLO again (RFC 3207 section 4.2:
  // everything learnt before TLS is forgotten). A refusal is the end only when TLS is required.
  private async tlsInit(
    name: string,
    tc: TlsCtx,
    ext: Map<string, string>,
  ): Promise<{ ext: Map<string, string>; secure: boolean }> {
    await this.conn.write("STARTTLS\r\n");
    if ((await this.conn.code()) !== 220) {
      if (tc.policy.verify) await this.quit("ZConnected to ", " but STARTTLS was refused");
      return { ext, secure: false };
    }
    try {
      const t = await startTls(this.conn, tc.server, tc.policy);
      this.tlsNote = `TLS: ${t.version} ${t.cipher}${t.verified ? `, certificate of ${outsafe(tc.server)} verified` : ""}.\n`;
    } catch (e) {
      this.tlsFailed(e, tc);
    }
    return { ext: await this.ehlo(name), secure: true };
  }

  /** A handshake that failed: the end when the certificate did not verify or TLS is required, else rethrown. */
  private tlsFailed(e: unknown, tc: TlsCtx): never {
    const server = outsafe(tc.server);
    if (e instanceof TlsVerifyFailed) {
      this.conn.close();
      this.rep.die(
        `ZTLS to ${this.ip}: the certificate of ${server} did not verify: ${outsafe(e.message)}. (#4.7.5)\n`,
      );
    }
    if (e instanceof TlsHandshakeFailed && tc.policy.verify) {
      this.conn.close();
      this.rep.die(`ZTLS to ${this.ip}: the handshake failed: ${outsafe(e.message)}. (#4.7.5)\n`);
    }
    throw e;
  }

  // The AUTH patch's smtp_auth(): PLAIN or LOGIN from the offered mechanisms; a password goes out only encrypted.
  private async smtpAuth(creds: Credentials, ext: Map<string, string>, secure: boolean): Promise<void> {
    if (!secure) await this.quit("ZConnected to ", " but no TLS to send the AUTH password over");
    const mechs = ext.get("AUTH");
    if (mechs === undefined) await this.quit("ZConnected to ", " but AUTH is not offered");
    const r = await authenticate(this.conn, mechs ?? "", creds);
    if (r.code === -1) await this.quit("ZConnected to ", " but it offers neither AUTH PLAIN nor AUTH LOGIN");
    if (r.code !== 235) await this.quit("ZConnected to ", ` but authentication was rejected (AUTH ${r.mech})`);
  }

  // smtp()'s MAIL FROM, then RCPT TO for each recipient, each answered in the report ("r", or h/s and the text).
  private async mailRcpt(sender: string, recips: string[], utf8: boolean): Promise<void> {
    await this.conn.write(`MAIL FROM:<${sender}>${utf8 ? " SMTPUTF8" : ""}\r\n`);
    let code = await this.conn.code();
    if (code >= 500) await this.quit("DConnected to ", " but sender was rejected");
    if (code >= 400) await this.quit("ZConnected to ", " but sender was rejected");
    let bother = false;
    for (const r of recips) {
      await this.conn.write(`RCPT TO:<${r}>\r\n`);
      code = await this.conn.code();
      if (code >= 400) {
        this.rep.out(`${code >= 500 ? "h" : "s"}${this.ip} does not like recipient.\n`);
        this.outsmtptext();
        this.rep.zero();
      } else {
        this.rep.out("r");
        this.rep.zero();
        bother = true;
      }
    }
    if (!bother) await this.quit("DGiving up on ", "");
  }

  // smtp()'s DATA command.
  private async data(): Promise<void> {
    await this.conn.write("DATA\r\n");
    const code = await this.conn.code();
    if (code >= 500) await this.quit("D", " failed on DATA command");
    if (code >= 400) await this.quit("Z", " failed on DATA command");
  }

  // qmail-remote.c's blast() and the reply to it that ends smtp(): the message with CRLF line ends,
  // dot-stuffed, and the final dot; while its reply is awaited, a lost connection is a possible duplicate.
  private async blast(): Promise<never> {
    const enc = new DataEncoder();
    // the last chunk goes out with the terminator: no Nagle wait on a lone ".\r\n"
    let last: Buffer = Buffer.alloc(0);
    try {
      for (const b of readMessage(0, enc)) {
        if (last.length > 0) await this.conn.write(last);
        last = b;
      }
    } catch (e) {
      if (e instanceof SmtpConnLost) throw e;
      this.rep.die("ZUnable to read message. (#4.3.0)\n");
    }
    if (enc.partial) this.rep.die("DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n");
    this.critical = true;
    await this.conn.write(Buffer.concat([last, Buffer.from(".\r\n")]));
    const code = await this.conn.code();
    this.critical = false;
    if (code >= 500) await this.quit("D", " failed after I sent the message");
    if (code >= 400) await this.quit("Z", " failed after I sent the message");
    return this.quit("K", " accepted message");
  }
}
