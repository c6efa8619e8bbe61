// SPDX-License-Identifier: MIT
// qmail-remote's STARTTLS (RFC 3207) and AUTH (RFC 4954, PLAIN and LOGIN)
// policy and mechanics (qmail-remote(8), qmail-control(5)). node:tls is
// imported only when a server offers STARTTLS: a static import of a built-in
// is hoisted into the multicall bundle and would load it for every program.
import type { Socket } from "node:net";
import type { Env } from "@qts/core/run";
import { readFileSync, statSync } from "@qts/sys/fs";
import type { Control } from "../control.ts";
import { lowerAscii } from "../cscan.ts";
import type { SmtpConn } from "./smtpremote.ts";

/** Where the TLS patch's files say a destination stands. */
export interface TlsPolicy {
  /** Try STARTTLS at all (control/notlshosts/HOST, control/tlshosts/exhaustivelist). */
  attempt: boolean;
  /** Verify the certificate and its name; a failure defers. */
  verify: boolean;
  /** The CA file to verify against: control/tlshosts/HOST.pem, else the system store. */
  caFile?: string;
}

/** The system's CA store: SSL_CERT_FILE as OpenSSL reads it, else Debian's bundle. */
export function systemCaFile(env: Env): string {
  return env.SSL_CERT_FILE || "/etc/ssl/certs/ca-certificates.crt";
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** domain listed, or a ".suffix" of it (rcpthosts' matching). */
function listed(list: string[] | undefined, name: string): boolean {
  if (!list) return false;
  const set = new Set(list.map(lowerAscii));
  const n = lowerAscii(name);
  for (let j = 0; j < n.length; j++) if ((j === 0 || n[j] === ".") && set.has(n.slice(j))) return true;
  return false;
}

/**
 * The policy for one server: `server` is its name (MX or relay host),
 * `dest` qmail-remote's host argument (the recipients' domain).
 * - control/notlshosts/SERVER exists: no STARTTLS (the TLS patch).
 * - control/tlshosts/SERVER.pem exists: verify with those CAs (the TLS patch).
 * - control/tlsdestinations lists DEST (or a .suffix of it): verify against
 *   the system CA store (ours).
 * - control/tlshosts/exhaustivelist exists: STARTTLS only to servers with a
 *   tlshosts/SERVER.pem (the TLS patch).
 * - otherwise opportunistic: STARTTLS when offered, the certificate unchecked.
 */
export function tlsPolicy(c: Control, server: string, dest: string, env: Env): TlsPolicy {
  const s = lowerAscii(server);
  const safeName = s !== "" && !s.includes("/") && s !== "." && s !== "..";
  if (safeName && exists(c.path(`notlshosts/${s}`))) return { attempt: false, verify: false };
  const pem = safeName ? c.path(`tlshosts/${s}.pem`) : "";
  if (pem && exists(pem)) return { attempt: true, verify: true, caFile: pem };
  if (listed(c.lines("tlsdestinations"), dest)) return { attempt: true, verify: true, caFile: systemCaFile(env) };
  if (exists(c.path("tlshosts/exhaustivelist"))) return { attempt: false, verify: false };
  return { attempt: true, verify: false };
}

export interface TlsDone {
  version: string;
  cipher: string;
  /** True when the certificate was verified (chain and name). */
  verified: boolean;
}

/** The handshake failed (or timed out): opportunistic delivery may start over in plain text. */
export class TlsHandshakeFailed extends Error {}
/** The certificate did not verify where verification is required: a deferral. */
export class TlsVerifyFailed extends Error {}

/**
 * Upgrades conn in place after the server's 220 to STARTTLS. TLS 1.2 or
 * later; with policy.verify the chain must lead to a CA of policy.caFile and
 * the certificate must name `server` (or its address when that is a literal).
 */
export async function startTls(conn: SmtpConn, server: string, policy: TlsPolicy): Promise<TlsDone> {
  const tls = await import("node:tls");
  const { isIP } = await import("node:net");
  let ca: Buffer | undefined;
  if (policy.verify) {
    try {
      ca = readFileSync(policy.caFile ?? "");
    } catch {
      throw new TlsVerifyFailed(`unable to read the CA file ${policy.caFile}`);
    }
  }
  const raw = conn.sock;
  const t = tls.connect({
    socket: raw,
    ...(isIP(server) ? {} : { servername: server }),
    minVersion: "TLSv1.2",
    rejectUnauthorized: false,
    ...(ca ? { ca } : {}),
  });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => {
      t.destroy();
      fail(new TlsHandshakeFailed("timeout"));
    }, conn.timeoutMs);
    t.once("secureConnect", () => {
      clearTimeout(timer);
      t.removeAllListeners("error");
      ok();
    });
    t.once("error", (e) => {
      clearTimeout(timer);
      fail(new TlsHandshakeFailed(e.message));
    });
  });
  if (policy.verify) {
    if (!t.authorized) {
      t.destroy();
      throw new TlsVerifyFailed(String(t.authorizationError ?? "certificate not trusted"));
    }
    const err = tls.checkServerIdentity(server, t.getPeerCertificate());
    if (err) {
      t.destroy();
      throw new TlsVerifyFailed(err.message);
    }
  }
  conn.attach(t as unknown as Socket);
  return { version: t.getProtocol() ?? "TLS", cipher: t.getCipher()?.name ?? "unknown", verified: policy.verify };
}

/** The EHLO reply's keywords (upper case) and their arguments. */
export function ehloKeywords(text: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  const lines = text.toString("latin1").split("\n").slice(1);
  for (const l of lines) {
    const kw = l.slice(4).trim();
    if (kw === "") continue;
    const sp = kw.indexOf(" ");
    m.set((sp < 0 ? kw : kw.slice(0, sp)).toUpperCase(), sp < 0 ? "" : kw.slice(sp + 1).toUpperCase());
  }
  return m;
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * Credentials for a relay host: control/remoteauth, lines of
 * `relay|user|password` (`relay` as written in control/smtproutes, with
 * `:port` when it has one), read only if no one but its owner and group can
 * read it; else the qmail AUTH patch's `relay:port|user|password` in
 * smtproutes itself (`fromRoute`). Throws when remoteauth is readable by others.
 */
export function credentials(c: Control, relay: string, fromRoute?: Credentials): Credentials | undefined {
  const path = c.path("remoteauth");
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return fromRoute;
  }
  if (mode & 0o007) throw new Error("control/remoteauth is readable by others");
  const key = lowerAscii(relay);
  const host = key.replace(/:[0-9]*$/, "");
  for (const l of c.lines("remoteauth") ?? []) {
    const a = l.indexOf("|");
    const b = a < 0 ? -1 : l.indexOf("|", a + 1);
    if (b < 0) continue;
    const k = lowerAscii(l.slice(0, a));
    if (k === key || k === host) return { user: l.slice(a + 1, b), password: l.slice(b + 1) };
  }
  return fromRoute;
}

/** AUTH PLAIN (initial response) or LOGIN; resolves the final reply code. */
export async function authenticate(
  conn: SmtpConn,
  mechs: string,
  cred: Credentials,
): Promise<{ code: number; mech: string }> {
  const list = mechs.split(/\s+/);
  const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
  if (list.includes("PLAIN")) {
    await conn.write(`AUTH PLAIN ${b64(`\0${cred.user}\0${cred.password}`)}\r\n`);
    return { code: await conn.code(), mech: "PLAIN" };
  }
  if (list.includes("LOGIN")) {
    await conn.write("AUTH LOGIN\r\n");
    let code = await conn.code();
    if (code !== 334) return { code, mech: "LOGIN" };
    await conn.write(`${b64(cred.user)}\r\n`);
    code = await conn.code();
    if (code !== 334) return { code, mech: "LOGIN" };
    await conn.write(`${b64(cred.password)}\r\n`);
    return { code: await conn.code(), mech: "LOGIN" };
  }
  return { code: -1, mech: "" };
}
