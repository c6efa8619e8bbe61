// SPDX-License-Identifier: MIT
// qmail-authd: checks passwords for checkpassword(8) when it runs as qmaild
// (qmail-smtpd's SMTP AUTH), which cannot read /etc/shadow (qmail-authd(8)).
// No setuid checkpassword instead: every program is one executable, and the
// runtime reads BUN_OPTIONS and BUN_JSC_* from the environment before our code
// runs, so a setuid bit would give root to any local user (qmail-queued(8)
// explains the same choice for qmail-queue).
import { die, dieUnable, dieUsage, errWrite, setProg, sigpipeIgnore } from "@qts/core/die";
import { signalReady, takeReadyFd } from "@qts/core/ready";
import type { Env } from "@qts/core/run";
import { existsSync } from "@qts/sys/fs";
import { getpwnam } from "@qts/sys/pwd";
import { RLIMIT, setrlimit } from "@qts/sys/rlimit";
import { Authd } from "../lib/auth/authd.ts";
import { authdSocket } from "../lib/auth/authd-proto.ts";
import { qmailHome } from "../lib/home.ts";

export const usage = "qmail-authd [ account ... ]";

/** PAM's helper (Debian's libpam-modules-bin), setgid shadow: checks its caller's own password only. */
const HELPERS = ["/usr/sbin/unix_chkpwd", "/sbin/unix_chkpwd"];

function uidOf(account: string): number {
  if (/^\d{1,10}$/.test(account)) return Number(account);
  const pw = getpwnam(account);
  if (!pw) die(111, "unknown account ", account);
  return pw.uid;
}

export function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-authd");
  sigpipeIgnore();
  for (const a of argv) if (a.startsWith("-")) dieUsage(usage);
  // root, the accounts named, and this process's own uid (which could read its memory anyway)
  const allowed = new Set(argv.map(uidOf));
  allowed.add(process.geteuid?.() ?? 0);
  const ready = takeReadyFd(env);
  // A core file of this process could hold a password.
  try {
    setrlimit(RLIMIT.CORE, { soft: 0n, hard: 0n });
  } catch (e) {
    dieUnable(111, "set the core limit", e);
  }
  process.umask(0o077);
  const log = (line: string) => errWrite(`qmail-authd: ${line}\n`);
  const euid = process.geteuid?.() ?? 0;
  let helper: string | undefined;
  if (euid !== 0) {
    helper = HELPERS.find((h) => existsSync(h));
    log(
      helper
        ? `warning: not root: only uid ${euid}'s own password can be checked (through ${helper})`
        : `warning: not root and no unix_chkpwd: every check is a temporary failure`,
    );
  }
  const socket = authdSocket(qmailHome(env));
  const d = new Authd({ socket, allowed, helper, log });
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((ok) => {
    done = ok;
  });
  const stop = () => {
    d.stop();
    done(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    d.start();
  } catch (e) {
    dieUnable(111, `listen on ${socket}`, e);
  }
  signalReady(ready);
  return finished;
}
