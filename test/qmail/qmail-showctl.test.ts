// SPDX-License-Identifier: MIT
// qmail-showctl: the compiled-in settings and one explanation per control file (netqmail's qmail-showctl.c texts).
import { expect, test } from "bun:test";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getgrnam, getpwnam } from "@qts/sys/pwd";
import { ours, run, tmp } from "../lib/harness.ts";

const ids = () => {
  const u = ["alias", "qmaild", "qmaill", "root", "qmailp", "qmailq", "qmailr", "qmails"].map(
    (n) => getpwnam(n)?.uid ?? "?",
  );
  const g = ["nofiles", "qmail"].map((n) => getgrnam(n)?.gid ?? "?");
  return `user ids: ${u.join(", ")}.\ngroup ids: ${g.join(", ")}.\n`;
};

const head = (h: string) =>
  `qmail home directory: ${h}.\nuser-ext delimiter: -.\npaternalism (in decimal): 2.\n` +
  `silent concurrency limit: 120.\nsubdirectory split: 23.\n${ids()}`;

const env = (h: string) => ({ env: { PATH: "/usr/bin:/bin", QMAILHOME: h }, extendEnv: false });

test("defaults: an empty control directory", async () => {
  const h = tmp("qts-showctl-");
  mkdirSync(join(h, "control"));
  const r = await run(ours("qmail-showctl"), [], env(h));
  // no rcpthosts: stdout is the original's, and the open relay is said on stderr
  expect(r).toMatchObject({
    code: 0,
    stderr:
      "qmail-showctl: warning: control/rcpthosts is missing: qmail-smtpd accepts mail for any domain (an open relay)\n",
  });
  expect(r.stdout).toBe(
    `${head(h)}
badmailfrom: (Default.) Any MAIL FROM is allowed.

bouncefrom: (Default.) Bounce user name is MAILER-DAEMON.

bouncehost: (Default.) Bounce host name is bouncehost.

concurrencylocal: (Default.) Local concurrency is 10.

concurrencyremote: (Default.) Remote concurrency is 20.

databytes: (Default.) SMTP DATA limit is 0 bytes.

defaultdomain: (Default.) Default domain name is defaultdomain.

defaulthost: (Default.) Default host name is defaulthost.

doublebouncehost: (Default.) 2B recipient host: doublebouncehost.

doublebounceto: (Default.) 2B recipient user: postmaster.

envnoathost: (Default.) Presumed domain name is envnoathost.

helohost: (Default.) SMTP client HELO host name is helohost.

idhost: (Default.) Message-ID host name is idhost.

localiphost: (Default.) Local IP address becomes localiphost.

locals: (Default.) Messages for me are delivered locally.

me: (Default.) My name is undefined! Uh-oh.

percenthack: (Default.) The percent hack is not allowed.

plusdomain: (Default.) Plus domain name is plusdomain.

qmqpservers: (Default.) No QMQP servers.

queuelifetime: (Default.) Message lifetime in the queue is 604800 seconds.

rcpthosts: (Default.) SMTP clients may send messages to any recipient.

morercpthosts: (Default.) No rcpthosts; morercpthosts is irrelevant.

morercpthosts.cdb: (Default.) No effect.

smtpgreeting: (Default.) SMTP greeting: 220 smtpgreeting.

smtproutes: (Default.) No artificial SMTP routes.

timeoutconnect: (Default.) SMTP client connection timeout is 60 seconds.

timeoutremote: (Default.) SMTP client data timeout is 1200 seconds.

timeoutsmtpd: (Default.) SMTP server data timeout is 1200 seconds.

virtualdomains: (Default.) No virtual domains.
`,
  );
});

test("a configured host: values, lists, me as the default, unknown files, morercpthosts.cdb checks", async () => {
  const h = tmp("qts-showctl-");
  const c = join(h, "control");
  mkdirSync(c);
  const w = (n: string, v: string) => writeFileSync(join(c, n), v, "latin1");
  w("me", "mail.example.com  \n");
  w("locals", "mail.example.com\n# comment\n\nexample.com\t\n");
  w("rcpthosts", "example.com\n.example.com\n");
  w("morercpthosts", "other.org\n");
  w("morercpthosts.cdb", "");
  utimesSync(join(c, "morercpthosts"), 2000, 2000);
  utimesSync(join(c, "morercpthosts.cdb"), 1000, 1000);
  w("concurrencyremote", "255\n");
  w("databytes", "junk\n");
  w("queuelifetime", "4294967295\n");
  w("smtpgreeting", "mail.example.com NO UCE\x07\n");
  w("smtproutes", ":relay.example.net:2525\n");
  w("badmailfrom", "@spam.example\n");
  w("dotqmail-typo", "x\n");
  const r = await run(ours("qmail-showctl"), [], env(h));
  expect(r.code).toBe(0);
  const out = r.stdout;
  expect(out.startsWith(head(h))).toBe(true);
  for (const piece of [
    "\nbadmailfrom: \n@spam.example not accepted in MAIL FROM.\n",
    "\nbouncehost: (Default.) Bounce host name is mail.example.com.\n",
    "\nconcurrencyremote: Remote concurrency is 255.\n",
    "\ndatabytes: (Default.) SMTP DATA limit is 0 bytes.\n",
    "\nqueuelifetime: Message lifetime in the queue is 0 seconds.\n",
    "\ndefaultdomain: (Default.) Default domain name is mail.example.com.\n",
    "\nlocals: \nMessages for mail.example.com are delivered locally.\nMessages for example.com are delivered locally.\n",
    "\nme: My name is mail.example.com.\n",
    "\nrcpthosts: \nSMTP clients may send messages to recipients at example.com.\n" +
      "SMTP clients may send messages to recipients at .example.com.\n",
    "\nmorercpthosts: \nSMTP clients may send messages to recipients at other.org.\n",
    "\nmorercpthosts.cdb: Oops! morercpthosts.cdb is older than morercpthosts.\n",
    "\nsmtpgreeting: SMTP greeting: 220 mail.example.com NO UCE?.\n",
    "\nsmtproutes: \nSMTP route: :relay.example.net:2525\n",
    "\ndotqmail-typo: I have no idea what this file does.\n",
  ])
    expect(out).toContain(piece);
  expect(out.endsWith("\ndotqmail-typo: I have no idea what this file does.\n")).toBe(true);
});

test("no control directory: Oops, 111", async () => {
  const h = tmp("qts-showctl-");
  const r = await run(ours("qmail-showctl"), [], env(h));
  expect(r).toMatchObject({ code: 111, stdout: `${head(h)}Oops! Unable to chdir to control.\n` });
  const r2 = await run(ours("qmail-showctl"), [], env(join(h, "nope")));
  expect(r2).toMatchObject({
    code: 111,
    stdout: `${head(join(h, "nope"))}Oops! Unable to chdir to ${join(h, "nope")}.\n`,
  });
});

test("ids: the ones the install recorded in bin/.qmail-ids (C prints its compiled-in ids)", async () => {
  const h = tmp("qts-showctl-");
  mkdirSync(join(h, "control"));
  mkdirSync(join(h, "bin"));
  const users = ["alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails"];
  writeFileSync(
    join(h, "bin/.qmail-ids"),
    `${users.map((u, i) => `user ${u} ${7001 + i}\n`).join("")}group qmail 8001\ngroup nofiles 8002\n`,
  );
  const r = await run(ours("qmail-showctl"), [], env(h));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("\nuser ids: 7001, 7002, 7003, 0, 7004, 7005, 7006, 7007.\ngroup ids: 8002, 8001.\n");
});
