// SPDX-License-Identifier: MIT
// qmail-smtpd: SMTP server on fd 0/1 (qmail-smtpd(8), with SIZE of RFC 1870), run by tcpserver.
import { textOf } from "@qts/core/bytes";
import { setProg, sigpipeIgnore, warn } from "@qts/core/die";
import { restUnlessBusy } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { writeSync } from "@qts/sys/fs";
import { HANDOFF_VAR, takeConnection } from "@qts/sys/handoff";
import { waitReadable } from "@qts/sys/poll";
import { qmailHome } from "../lib/home.ts";
import { R, Session } from "../lib/smtpd/smtpd.ts";
import { ControlError, loadConfig, OPEN_RELAY, openRelay } from "../lib/smtpd/smtpd-config.ts";

export const usage = "qmail-smtpd [ checkpassword-program subprogram ... ]";

function say(s: string): number {
  try {
    writeSync(1, s);
  } catch {}
  return 1;
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-smtpd");
  sigpipeIgnore();
  // Started ahead by tcpserver (QTS_PRESTART, tcpserver(1)): wait for the connection and its environment.
  if (env[HANDOFF_VAR] !== undefined) {
    delete env[HANDOFF_VAR];
    // No connection for a while: the copy waits without what start-up faulted in (core/rest.ts).
    restUnlessBusy((ms) => waitReadable(0, ms));
    const mods = takeConnection(0);
    if (!mods) return 0;
    for (const [k, v] of mods) {
      if (v === undefined) delete env[textOf(k)];
      else env[textOf(k)] = textOf(v);
    }
  }
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    return say(R.controls);
  }
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(home, env, argv);
  } catch (e) {
    if (e instanceof ControlError) return say(R.controls);
    throw e;
  }
  // qmail accepts mail for any domain without rcpthosts; so do we, but the log says so
  if (openRelay(cfg)) warn(OPEN_RELAY);
  return new Session(cfg).run();
}
