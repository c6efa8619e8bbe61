// SPDX-License-Identifier: MIT
// qmail-smtpd's SMTP AUTH (RFC 4954; PLAIN RFC 4616, LOGIN, CRAM-MD5 RFC 2195)
// through the checkpassword interface, with the command line and the SMTPAUTH
// values of the qmail AUTH patches (qmail-smtpd(8)).
import { info } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { closeSync, writeSync } from "@qts/sys/fs";
import { safe } from "./received.ts";

export interface AuthConfig {
  /** checkpassword-program and its arguments (qmail-smtpd's command line). */
  checker: string[];
  /** SMTPAUTH=!...: AUTH before MAIL. */
  required: boolean;
  /** Mechanisms offered, in the order of the EHLO line. */
  mechs: string[];
  /** FORCETLS=0: AUTH offered without TLS too. */
  plaintextOk: boolean;
}

/**
 * The AUTH patches' conventions: AUTH is offered when qmail-smtpd has a
 * checkpassword program on its command line; SMTPAUTH in the environment
 * adjusts it: "-" off, a leading "!" required before MAIL, "+cram" adds
 * CRAM-MD5, "cram" alone offers CRAM-MD5 only. FORCETLS=0 (the force-tls
 * patch) offers AUTH before STARTTLS.
 */
export function authConfig(argv: string[], env: Env): AuthConfig | undefined {
  if (argv.length === 0) return undefined;
  let v = env.SMTPAUTH ?? "";
  if (v.startsWith("-")) return undefined;
  const required = v.startsWith("!");
  if (required) v = v.slice(1);
  const lv = v.toLowerCase();
  let mechs = ["LOGIN", "PLAIN"];
  if (lv === "cram") mechs = ["CRAM-MD5"];
  else if (lv === "+cram") mechs = ["LOGIN", "PLAIN", "CRAM-MD5"];
  return { checker: argv, required, mechs, plaintextOk: env.FORCETLS === "0" };
}

export const AR = {
  ok: "235 ok, go ahead (#2.0.0)\r\n",
  failed: "535 authentication failed (#5.7.8)\r\n",
  malformed: "501 malformed auth input (#5.5.4)\r\n",
  cancelled: "501 auth exchange cancelled (#5.0.0)\r\n",
  unknownMech: "504 auth type unimplemented (#5.5.1)\r\n",
  already: "503 you're already authenticated (#5.5.0)\r\n",
  inMail: "503 no auth during mail transaction (#5.5.0)\r\n",
  wantTls: "538 encryption required for requested authentication mechanism (#5.7.11)\r\n",
  temp: "454 temporary authentication failure (#4.3.0)\r\n",
  required: "530 authentication required (#5.7.1)\r\n",
} as const;

/** Failures answered after this delay; the connection ends at the MAXFAIL-th. */
export const FAILDELAY_MS = 2000;
export const MAXFAIL = 3;
/** checkpassword(8) reads at most 512 bytes on fd 3. */
const MAXCRED = 512;

/** Strict base64 (RFC 4648 section 4, padding required): undefined if s is not base64. */
export function b64decode(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return undefined;
  return Buffer.from(s, "base64");
}

export interface AuthPort {
  out(s: string): void;
  flush(): void;
  /** The next line from the client; over: it was longer than the session keeps. */
  readLine(): Promise<{ s: string; over: boolean }>;
  greeting: string;
  remoteip: string;
  env: Env;
  timeoutMs: number;
}

export type AuthResult = { user: string } | { fail: "malformed" | "cancelled" | "denied" | "temp" | "mech" };

async function response(p: AuthPort, challenge: string): Promise<Buffer | "malformed" | "cancelled"> {
  p.out(`334 ${challenge}\r\n`);
  p.flush();
  const { s, over } = await p.readLine();
  if (over) return "malformed";
  if (s === "*") return "cancelled";
  return b64decode(s) ?? "malformed";
}

/** What goes to the checker on fd 3: user, secret and a third field (a timestamp or CRAM-MD5's digest). */
interface Creds {
  user: Buffer;
  secret: Buffer;
  third: Buffer;
}
type Fail = Extract<AuthResult, { fail: unknown }>;

function now(): Buffer {
  return Buffer.from(`${Math.floor(Date.now() / 1000)}`);
}

// The AUTH patch's auth_plain: authzid NUL authcid NUL passwd (RFC 4616), in the command or after a 334.
async function plain(p: AuthPort, initial: string | undefined): Promise<Creds | Fail> {
  let r: Buffer | "malformed" | "cancelled";
  if (initial === undefined || initial === "") r = await response(p, "");
  else if (initial === "=") r = Buffer.alloc(0);
  else r = b64decode(initial) ?? "malformed";
  if (typeof r === "string") return { fail: r };
  const a = r.indexOf(0);
  const b = a < 0 ? -1 : r.indexOf(0, a + 1);
  if (a < 0 || b < 0 || r.indexOf(0, b + 1) >= 0) {
    r.fill(0);
    return { fail: "malformed" };
  }
  const user = r.subarray(a + 1, b);
  // an authzid other than the authcid is not ours to grant
  if (a > 0 && !r.subarray(0, a).equals(user)) {
    r.fill(0);
    return { fail: "denied" };
  }
  return { user, secret: r.subarray(b + 1), third: now() };
}

// The AUTH patch's auth_login: the user name (in the command or after "Username:"), then "Password:".
async function login(p: AuthPort, initial: string | undefined): Promise<Creds | Fail> {
  let u: Buffer | "malformed" | "cancelled";
  if (initial !== undefined && initial !== "") u = b64decode(initial) ?? "malformed";
  else u = await response(p, Buffer.from("Username:").toString("base64"));
  if (typeof u === "string") return { fail: u };
  const pw = await response(p, Buffer.from("Password:").toString("base64"));
  if (typeof pw === "string") return { fail: pw };
  return { user: u, secret: pw, third: now() };
}

// The AUTH patch's auth_cram (RFC 2195): a challenge out, "user digest" back; the checker gets
// name, challenge and digest.
async function cram(p: AuthPort, initial: string | undefined): Promise<Creds | Fail> {
  if (initial !== undefined && initial !== "") return { fail: "malformed" };
  const challenge = `<${process.pid}.${Math.floor(Date.now() / 1000)}@${p.greeting}>`;
  const r = await response(p, Buffer.from(challenge, "latin1").toString("base64"));
  if (typeof r === "string") return { fail: r };
  const s = r.lastIndexOf(32);
  if (s <= 0) return { fail: "malformed" };
  return { user: r.subarray(0, s), third: r.subarray(s + 1), secret: Buffer.from(challenge, "latin1") };
}

/** The credentials to the checker, zeroed after; its answer logged and returned. */
async function verify(p: AuthPort, cfg: AuthConfig, mech: string, c: Creds): Promise<AuthResult> {
  const { user, secret, third } = c;
  if (user.length === 0 || user.includes(0) || secret.includes(0) || third.includes(0)) {
    secret.fill(0);
    return { fail: "malformed" };
  }
  const name = user.toString("latin1");
  const cred = Buffer.concat([user, Buffer.of(0), secret, Buffer.of(0), third, Buffer.of(0)]);
  secret.fill(0);
  third.fill(0);
  let code: number;
  if (cred.length > MAXCRED) code = 1;
  else code = await check(cfg.checker, cred, p.env, p.timeoutMs);
  cred.fill(0);
  if (code === 0) {
    log(`auth ${mech} ok: ${safe(name)} from ${safe(p.remoteip)}`);
    return { user: name };
  }
  log(`auth ${mech} ${code === 1 ? "failed" : "unavailable"}: ${safe(name)} from ${safe(p.remoteip)}`);
  return { fail: code === 1 ? "denied" : "temp" };
}

/**
 * One AUTH exchange (after the caller's state checks); the credentials go to
 * the checker on fd 3 as name\0password\0timestamp\0 (CRAM-MD5: name\0challenge\0digest\0)
 * and the buffer is zeroed after.
 */
export async function authenticate(p: AuthPort, cfg: AuthConfig, arg: string): Promise<AuthResult> {
  const sp = arg.indexOf(" ");
  const mech = (sp < 0 ? arg : arg.slice(0, sp)).toUpperCase();
  const initial = sp < 0 ? undefined : arg.slice(sp + 1).trim();
  if (!cfg.mechs.includes(mech)) return { fail: "mech" };
  await noCore();
  const c =
    mech === "PLAIN" ? await plain(p, initial) : mech === "LOGIN" ? await login(p, initial) : await cram(p, initial);
  if ("fail" in c) return c;
  return verify(p, cfg, mech, c);
}

let coreOff = false;

/** Before a password is in memory: no core file from here on (RLIMIT_CORE 0). */
async function noCore(): Promise<void> {
  if (coreOff) return;
  coreOff = true;
  try {
    const { RLIMIT, setrlimit } = await import("@qts/sys/rlimit");
    setrlimit(RLIMIT.CORE, { soft: 0n, hard: 0n });
  } catch {}
}

/** One info line on stderr (the service's log), `qmail-smtpd: info: pid N ...`; never a password. */
function log(s: string): void {
  info(`pid ${process.pid} ${s}`);
}

/**
 * Runs the checkpassword program with the credentials on fd 3 and no access
 * to the connection (fds 0 and 1 are /dev/null). Its exit code: 0 accepted,
 * 1 refused (checkpassword(8)); anything else, a signal, a failure to start
 * or a run past the timeout is a temporary failure (2 here).
 */
async function check(argv: string[], cred: Buffer, env: Env, ms: number): Promise<number> {
  // Loaded on first use: a session without AUTH never starts a child.
  const { devNull, outcome, startChild, waitChild } = await import("../child.ts");
  const { pipe } = await import("@qts/sys/pipe");
  const { execEnv } = await import("@qts/core/bytes");
  let nul = -1;
  let r = -1;
  let w = -1;
  let pid = 0;
  try {
    nul = devNull();
    [r, w] = pipe();
    const fds = [[0, nul] as const, [1, nul] as const, [3, r] as const];
    pid = startChild({ file: argv[0] as string, args: argv.slice(1), env: execEnv(env), fds });
  } catch {
    // pid stays 0: a checker that cannot be started is a temporary failure.
  } finally {
    for (const fd of [nul, r]) if (fd >= 0) closeSync(fd);
  }
  if (!pid) {
    if (w >= 0) closeSync(w);
    return 2;
  }
  // At most MAXCRED bytes: the pipe takes them whole. A checker that exits unread is EPIPE, not ours to report.
  try {
    writeSync(w, cred);
  } catch {}
  closeSync(w);
  return new Promise((ok) => {
    const t = setTimeout(() => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
      ok(2);
    }, ms);
    // After a timeout the wait goes on, so that the killed checker is reaped.
    waitChild(pid).then((st) => {
      clearTimeout(t);
      const o = outcome(st);
      ok(o.crashed ? 2 : o.code === 0 ? 0 : o.code === 1 ? 1 : 2);
    });
  });
}
