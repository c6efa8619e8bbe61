// SPDX-License-Identifier: MIT
// qmail-smtpd: SMTP server on fd 0/1 (spec/qmail.md §5, §9.3), run by tcpserver.
import { writeSync } from "node:fs";
import { setProg, sigpipeIgnore, warn } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { ControlError, loadConfig, OPEN_RELAY, openRelay, R, Session } from "../lib/smtpd.ts";

export const usage = "qmail-smtpd";

function say(s: string): number {
  try {
    writeSync(1, s);
  } catch {}
  return 1;
}

export function main(_argv: string[], env: Env): Promise<number> | number {
  setProg("qmail-smtpd");
  sigpipeIgnore();
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    return say(R.controls);
  }
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(home, env);
  } catch (e) {
    if (e instanceof ControlError) return say(R.controls);
    throw e;
  }
  // qmail accepts mail for any domain without rcpthosts; so do we, but the log says so
  if (openRelay(cfg)) warn(OPEN_RELAY);
  return new Session(cfg).run();
}
