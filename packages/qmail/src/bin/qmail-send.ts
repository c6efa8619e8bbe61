// SPDX-License-Identifier: MIT
import { checkPipe, setProg, sigpipeIgnore } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { takeReadyFd } from "@qts/core/ready";
import type { Env } from "@qts/core/run";
import { writeSync } from "@qts/sys/fs";
import { qmailHome } from "../lib/home.ts";
import { QmailSend } from "../lib/send/send.ts";

export const usage = "qmail-send";

function alert(s: string): number {
  try {
    writeSync(0, `alert: cannot start: ${s}\n`);
  } catch (e) {
    // Before sig_pipeignore(), as in qmail-send.c: a log pipe without a reader ends it by SIGPIPE.
    checkPipe(e);
  }
  return EXIT_TEMP;
}

// qmail-start.c: log on fd 0; fds 1-4 to and from the spawners, 5-6 to and from qmail-clean.
export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-send");
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    return alert("unable to switch to home directory");
  }
  const ready = takeReadyFd(env);
  const send = new QmailSend(home, env);
  if (!send.getcontrols()) return alert("unable to read controls");
  try {
    process.chdir("queue");
  } catch {
    return alert("unable to switch to queue directory");
  }
  sigpipeIgnore();
  process.umask(0o077);
  return send.run(ready);
}
