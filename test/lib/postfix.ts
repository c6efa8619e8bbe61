// SPDX-License-Identifier: MIT
// A private Postfix for interop tests: its own config and queue in a temp dir, SMTP on a port the
// test picks, mail for one domain delivered into one Maildir, everything else relayed to a given
// host and port. Started with `postfix -c DIR start`, stopped with `postfix -c DIR stop`.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { freePort, run, tmp, waitFor } from "./harness.ts";

export interface Postfix {
  dir: string;
  port: number;
  /** The Maildir that mail for the local domain lands in. */
  maildir: string;
  log: () => string;
  stop: () => Promise<void>;
}

export const POSTFIX = "/usr/sbin/postfix";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether Postfix is installed with its postfix user and postdrop group. */
export function havePostfix(): boolean {
  return existsSync(POSTFIX) && getpwnam("postfix") !== undefined && existsSync("/usr/lib/postfix/sbin/master");
}

const MASTER = `
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

/**
 * Starts Postfix for domain (delivered to a Maildir) with relay for everything else to
 * [127.0.0.1]:relayPort; smtputf8 sets smtputf8_enable.
 */
export async function startPostfix(o: { domain: string; relayPort?: number; smtputf8: boolean }): Promise<Postfix> {
  const dir = tmp("qts-postfix-");
  // Postfix's daemons drop to the postfix user: they must reach the spool and data dirs.
  chmodSync(dir, 0o755);
  const etc = join(dir, "etc");
  mkdirSync(etc);
  const mail = join(dir, "mail");
  mkdirSync(mail);
  const nobody = getpwnam("nobody");
  if (nobody) chownSync(mail, nobody.uid, nobody.gid);
  mkdirSync(join(dir, "spool"));
  mkdirSync(join(dir, "data"));
  const pf = getpwnam("postfix");
  if (pf) chownSync(join(dir, "data"), pf.uid, pf.gid);
  const port = await freePort();
  const main = [
    "compatibility_level = 3.6",
    `queue_directory = ${join(dir, "spool")}`,
    `data_directory = ${join(dir, "data")}`,
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "myhostname = pf.test",
    "mydomain = pf.test",
    "myorigin = pf.test",
    "mydestination =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    `smtputf8_enable = ${o.smtputf8 ? "yes" : "no"}`,
    `virtual_mailbox_domains = ${o.domain}`,
    `virtual_mailbox_base = ${mail}`,
    "virtual_mailbox_maps = static:box/",
    `virtual_uid_maps = static:${nobody?.uid ?? 65534}`,
    `virtual_gid_maps = static:${nobody?.gid ?? 65534}`,
    "virtual_minimum_uid = 1",
    o.relayPort ? `relayhost = [127.0.0.1]:${o.relayPort}` : "relayhost =",
    "mynetworks = 127.0.0.0/8",
    "smtpd_relay_restrictions = permit_mynetworks, reject",
    "smtp_host_lookup = native",
    "disable_dns_lookups = yes",
    "biff = no",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    `maillog_file = ${join(dir, "maillog")}`,
    `maillog_file_prefixes = ${dir}`,
    "smtpd_banner = $myhostname ESMTP",
    "",
  ].join("\n");
  writeFileSync(join(etc, "main.cf"), main);
  writeFileSync(join(etc, "master.cf"), `127.0.0.1:${port} inet n - n - - smtpd\n${MASTER}`);
  const r = await run(POSTFIX, ["-c", etc, "start"], { timeout: 60_000 });
  const logOf = () => {
    try {
      return readFileSync(join(dir, "maillog"), "utf8");
    } catch {
      return "";
    }
  };
  if (r.code !== 0) throw new Error(`postfix start: ${r.stdout}${r.stderr}${logOf()}`);
  await waitFor(async () => (await run("ss", ["-ltnH", `sport = :${port}`])).stdout.includes(String(port)), 20_000);
  return {
    dir,
    port,
    maildir: join(mail, "box"),
    log: logOf,
    stop: async () => {
      await run(POSTFIX, ["-c", etc, "stop"], { timeout: 30_000 });
      // master's own pid file: make sure that exact process is gone
      try {
        const pid = Number(readFileSync(join(dir, "spool/pid/master.pid"), "utf8").trim());
        if (pid > 1) await waitFor(() => !alive(pid), 10_000);
        if (pid > 1 && alive(pid)) process.kill(pid, "SIGKILL");
      } catch {}
    },
  };
}
