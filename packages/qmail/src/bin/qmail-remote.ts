// SPDX-License-Identifier: MIT
// qmail-remote: sends one message by SMTP to one host (qmail-remote(8), with
// the accept-5xx and oversize-DNS patches). Always exits 0; the result
// is the r/h/s and K/Z/D report on stdout.
import { writeSync } from "node:fs";
import { byteStr, rawArgs, textOf } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { ipme, ipme6, relaySplit } from "../lib/addrip.ts";
import { quoteBox } from "../lib/addrparse.ts";
import { Control } from "../lib/control.ts";
import { lowerAscii, scanUlong } from "../lib/cscan.ts";
import { DNS_HARD, Dns, DnsError, type IpMx } from "../lib/dns.ts";
import { qmailHome } from "../lib/home.ts";
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
} from "../lib/smtp-client-tls.ts";
import { DataEncoder, Done, readMessage, SmtpConn, SmtpConnLost } from "../lib/smtpremote.ts";
import { tcptoCheck, tcptoErr } from "../lib/tcpto.ts";
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
      await smtp(conn, x.ip, a.helo, a.sender, a.recips, a.rep, {
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

async function smtp(
  conn: SmtpConn,
  ip: string,
  helo: string,
  sender: string,
  recips: string[],
  rep: Report,
  tc: TlsCtx,
): Promise<never> {
  let critical = false;
  // the report's note on TLS (qmail-remote(8)); empty for a classic session
  let tlsNote = "";
  const saidText = () => {
    const t = conn.parser.textBytes;
    if (t.length === 0) return;
    rep.out("Remote host said: ");
    for (let i = 0; i < t.length; i++) if (t[i] === 0) t[i] = 63;
    rep.out(t);
    conn.parser.reset();
  };
  const dropped = (): never => {
    conn.close();
    rep.die(`ZConnected to ${ip} but connection died. ${critical ? "Possible duplicate! " : ""}(#4.4.2)\n`);
  };
  const quit = async (prepend: string, append: string): Promise<never> => {
    // best effort: a server that said 554 and closed gets the report, not "connection died"
    // (C's write of QUIT to a half-closed socket succeeds)
    await conn.write("QUIT\r\n").catch(() => {});
    // waiting for the remote side is just too ridiculous (qmail-remote.c)
    conn.close();
    rep.out(`${prepend}${ip}${append}.\n${tlsNote}`);
    saidText();
    rep.die("");
  };
  try {
    let code = await conn.code();
    // accept-5xx patch: a 5xx greeting or HELO reply is permanent
    if (code >= 500) await quit("DConnected to ", " but greeting failed");
    if (code !== 220) await quit("ZConnected to ", " but greeting failed");
    const heloOnly = async () => {
      await conn.write(`HELO ${helo}\r\n`);
      code = await conn.code();
      if (code >= 500) await quit("DConnected to ", " but my name was rejected");
      if (code !== 250) await quit("ZConnected to ", " but my name was rejected");
    };
    // EHLO, and HELO when EHLO is refused, as the TLS and AUTH patches do
    const ehlo = async (): Promise<Map<string, string>> => {
      await conn.write(`EHLO ${helo}\r\n`);
      if ((await conn.code()) === 250) return ehloKeywords(conn.parser.textBytes);
      await heloOnly();
      return new Map();
    };
    const wantTls = tc.policy.attempt && !tc.plainOnly;
    // HELO as qmail-remote.c, unless TLS, AUTH or SMTPUTF8 needs EHLO's keywords.
    if (!wantTls && !tc.creds && !tc.plainOnly && !tc.utf8) await heloOnly();
    else {
      let ext = await ehlo();
      let secure = false;
      if (tc.plainOnly) tlsNote = "TLS: the handshake failed; sent without TLS.\n";
      if (wantTls && ext.has("STARTTLS")) {
        await conn.write("STARTTLS\r\n");
        code = await conn.code();
        if (code === 220) {
          try {
            const t = await startTls(conn, tc.server, tc.policy);
            secure = true;
            tlsNote = `TLS: ${t.version} ${t.cipher}${t.verified ? `, certificate of ${outsafe(tc.server)} verified` : ""}.\n`;
          } catch (e) {
            if (e instanceof TlsVerifyFailed) {
              conn.close();
              rep.die(
                `ZTLS to ${ip}: the certificate of ${outsafe(tc.server)} did not verify: ${outsafe(e.message)}. (#4.7.5)\n`,
              );
            }
            if (e instanceof TlsHandshakeFailed && tc.policy.verify) {
              conn.close();
              rep.die(`ZTLS to ${ip}: the handshake failed: ${outsafe(e.message)}. (#4.7.5)\n`);
            }
            throw e;
          }
          // RFC 3207 4.2: everything learnt before TLS is forgotten; EHLO again
          ext = await ehlo();
        } else if (tc.policy.verify) await quit("ZConnected to ", " but STARTTLS was refused");
      } else if (wantTls && tc.policy.verify) await quit("ZConnected to ", " but TLS is required and not offered");
      if (tc.creds) {
        // a password goes out only encrypted
        if (!secure) await quit("ZConnected to ", " but no TLS to send the AUTH password over");
        const mechs = ext.get("AUTH");
        if (mechs === undefined) await quit("ZConnected to ", " but AUTH is not offered");
        const r = await authenticate(conn, mechs ?? "", tc.creds);
        if (r.code === -1) await quit("ZConnected to ", " but it offers neither AUTH PLAIN nor AUTH LOGIN");
        if (r.code !== 235) await quit("ZConnected to ", ` but authentication was rejected (AUTH ${r.mech})`);
      }
      if (tc.utf8 && !ext.has("SMTPUTF8")) {
        // RFC 6531 section 3.2: a server without SMTPUTF8 does not get the message; bounce, never mangle.
        conn.parser.reset();
        await quit("DConnected to ", " but it does not offer SMTPUTF8, which the non-ASCII addresses need (#5.6.7)");
      }
    }
    await conn.write(`MAIL FROM:<${sender}>${tc.utf8 ? " SMTPUTF8" : ""}\r\n`);
    code = await conn.code();
    if (code >= 500) await quit("DConnected to ", " but sender was rejected");
    if (code >= 400) await quit("ZConnected to ", " but sender was rejected");
    let bother = false;
    for (const r of recips) {
      await conn.write(`RCPT TO:<${r}>\r\n`);
      code = await conn.code();
      if (code >= 400) {
        rep.out(`${code >= 500 ? "h" : "s"}${ip} does not like recipient.\n`);
        saidText();
        rep.zero();
      } else {
        rep.out("r");
        rep.zero();
        bother = true;
      }
    }
    if (!bother) await quit("DGiving up on ", "");
    await conn.write("DATA\r\n");
    code = await conn.code();
    if (code >= 500) await quit("D", " failed on DATA command");
    if (code >= 400) await quit("Z", " failed on DATA command");
    const enc = new DataEncoder();
    // the last chunk goes out with the terminator: no Nagle wait on a lone ".\r\n" (shared/bench note 2)
    let last: Buffer = Buffer.alloc(0);
    try {
      for (const b of readMessage(0, enc)) {
        if (last.length > 0) await conn.write(last);
        last = b;
      }
    } catch (e) {
      if (e instanceof SmtpConnLost) throw e;
      rep.die("ZUnable to read message. (#4.3.0)\n");
    }
    if (enc.partial) rep.die("DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n");
    critical = true;
    await conn.write(Buffer.concat([last, Buffer.from(".\r\n")]));
    code = await conn.code();
    critical = false;
    if (code >= 500) await quit("D", " failed after I sent the message");
    if (code >= 400) await quit("Z", " failed after I sent the message");
    await quit("K", " accepted message");
  } catch (e) {
    if (e instanceof SmtpConnLost) dropped();
    throw e;
  }
  throw new Done();
}
