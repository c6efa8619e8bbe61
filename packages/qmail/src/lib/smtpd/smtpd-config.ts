// SPDX-License-Identifier: MIT
// qmail-smtpd's configuration (qmail-smtpd.c's setup(), qmail-smtpd(8)): the
// control files read once per session, from the qmail home, and the
// environment tcpserver and the run script set (TCPREMOTEIP, RELAYCLIENT,
// DATABYTES, ...), plus the TLS and AUTH additions.
import type { Cdb } from "@qts/cdb/cdb";
import type { Env } from "@qts/core/run";
import { existsSync } from "@qts/sys/fs";
import { Control } from "../control.ts";
import { lowerAscii, scanUlong } from "../cscan.ts";
import { loadRcpthosts } from "./rcpthosts.ts";
import { type AuthConfig, authConfig } from "./smtp-auth.ts";

/** A control error: the session answers 421 unable to read controls. */
export class ControlError extends Error {}

export interface SmtpdConfig {
  home: string;
  env: Env;
  greeting: string;
  /** localiphost (or me) when either exists: replaces our own [ip] literals. */
  liphost?: string;
  timeoutMs: number;
  databytes: number;
  /** undefined: control/rcpthosts missing, every recipient allowed. */
  rcpthosts?: Set<string>;
  morercpthosts?: Cdb;
  bmf?: Set<string>;
  remoteip: string;
  remotehost: string;
  remoteinfo?: string;
  local: string;
  relayclient?: string;
  /** control/servercert.pem when it exists: STARTTLS offered (smtp-tls.ts). */
  tlsCert?: string;
  /** TLSCIPHERS, else control/tlsserverciphers: an OpenSSL cipher list. */
  tlsCiphers?: string;
  /** SMTPS set and not empty: TLS before the greeting (RFC 8314). */
  smtps: boolean;
  /** REQUIRETLS set: STARTTLS before MAIL. */
  requireTls: boolean;
  /** AUTH offered: a checkpassword program on the command line (smtp-auth.ts). */
  auth?: AuthConfig;
}

function ctl<T>(f: () => T): T {
  try {
    return f();
  } catch {
    throw new ControlError();
  }
}

/** setup(): controls and environment, cwd = home. Throws ControlError. */
export function loadConfig(home: string, env: Env, argv: string[] = []): SmtpdConfig {
  const c = new Control(home);
  const me = ctl(() => c.me());
  const greeting = ctl(() => c.line("smtpgreeting")) ?? me;
  if (greeting === undefined) throw new ControlError();
  const liphost = ctl(() => c.line("localiphost")) ?? me;
  let timeout = ctl(() => c.int("timeoutsmtpd", 1200));
  if (timeout <= 0) timeout = 1;
  const { rcpthosts, morercpthosts } = ctl(() => loadRcpthosts(c));
  const bmfl = ctl(() => c.lines("badmailfrom"));
  const bmf = bmfl === undefined ? undefined : new Set(bmfl.map(lowerAscii));
  let databytes = ctl(() => c.int("databytes", 0)) >>> 0;
  if (env.DATABYTES !== undefined) databytes = Number(BigInt.asUintN(32, scanUlong(env.DATABYTES)));
  if (databytes === 0xffffffff) databytes--;
  const certFile = c.path("servercert.pem");
  const tlsCert = existsSync(certFile) ? certFile : undefined;
  const tlsCiphers = tlsCert ? (env.TLSCIPHERS ?? ctl(() => c.line("tlsserverciphers"))) : undefined;
  return {
    tlsCert,
    tlsCiphers,
    smtps: (env.SMTPS ?? "") !== "",
    requireTls: env.REQUIRETLS !== undefined,
    auth: authConfig(argv, env),
    home,
    env,
    greeting,
    liphost,
    timeoutMs: timeout * 1000,
    databytes,
    rcpthosts,
    morercpthosts,
    bmf,
    remoteip: env.TCPREMOTEIP ?? "unknown",
    local: env.TCPLOCALHOST ?? env.TCPLOCALIP ?? "unknown",
    remotehost: env.TCPREMOTEHOST ?? "unknown",
    remoteinfo: env.TCPREMOTEINFO,
    relayclient: env.RELAYCLIENT,
  };
}

/** The warning for a session that relays for anyone: no control/rcpthosts and no RELAYCLIENT (qmail-smtpd(8)). */
export const OPEN_RELAY = "control/rcpthosts is missing: accepting mail for any domain (an open relay)";

/** Whether this session accepts any recipient: C's rcpthosts_init found no file, and RELAYCLIENT is unset. */
export function openRelay(cfg: SmtpdConfig): boolean {
  return cfg.rcpthosts === undefined && cfg.relayclient === undefined;
}
