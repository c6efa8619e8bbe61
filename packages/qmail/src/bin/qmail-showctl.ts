// SPDX-License-Identifier: MIT
// qmail-showctl: prints the compiled-in settings and explains every control
// file (netqmail's qmail-showctl.c, same texts). Output goes to stdout.
import { setProg, warn, writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { readFileSync, statSync } from "@qts/sys/fs";
import { getgrnam, getpwnam } from "@qts/sys/pwd";
import { AUTO_BREAK, AUTO_PATRN, AUTO_SPAWN, AUTO_SPLIT, AUTO_USERA } from "../lib/conf.ts";
import { qmailHome } from "../lib/home.ts";
import { type QmailGroup, type QmailIds, type QmailUser, qmailIds } from "../lib/ids.ts";
import { readdirRaw } from "../lib/queue/qread.ts";

export const usage = "qmail-showctl";

// qmail-showctl.c's order: auto_uida, auto_uidd, auto_uidl, auto_uido, auto_uidp, auto_uidq, auto_uidr,
// auto_uids; auto_gidn, auto_gidq. The names are ids.ts's (conf-users, conf-groups); root is uid 0.
const USERS: (QmailUser | "root")[] = [AUTO_USERA, "qmaild", "qmaill", "root", "qmailp", "qmailq", "qmailr", "qmails"];
const GROUPS: QmailGroup[] = ["nofiles", "qmail"];

const KNOWN = new Set([
  "bouncefrom",
  "bouncehost",
  "badmailfrom",
  "concurrencylocal",
  "concurrencyremote",
  "databytes",
  "defaultdomain",
  "defaulthost",
  "doublebouncehost",
  "doublebounceto",
  "envnoathost",
  "helohost",
  "idhost",
  "localiphost",
  "locals",
  "me",
  "morercpthosts",
  "morercpthosts.cdb",
  "percenthack",
  "plusdomain",
  "qmqpservers",
  "queuelifetime",
  "rcpthosts",
  "smtpgreeting",
  "smtproutes",
  "timeoutconnect",
  "timeoutremote",
  "timeoutsmtpd",
  "virtualdomains",
]);

/** control.c's reading: undefined when missing, null on another error. */
function readRaw(fn: string): string | undefined | null {
  try {
    return readFileSync(fn, "latin1");
  } catch (e) {
    return errnoName(e) === "ENOENT" ? undefined : null;
  }
}

const strip = (s: string) => s.replace(/[ \t\n]+$/, "");

function readline(fn: string): string | undefined | null {
  const s = readRaw(fn);
  if (s === undefined || s === null) return s;
  const nl = s.indexOf("\n");
  return strip(nl < 0 ? s : s.slice(0, nl + 1));
}

function readfile(fn: string): string[] | undefined | null {
  const s = readRaw(fn);
  if (s === undefined || s === null) return s;
  const out: string[] = [];
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const l of lines) {
    const t = strip(l);
    if (t && !t.startsWith("#")) out.push(t);
  }
  return out;
}

const safe = (s: string) => s.replace(/[^\x20-\x7e]/g, "?");

export function main(_argv: string[], env: Env): number {
  setProg("qmail-showctl");
  const home = qmailHome(env);
  let o = "";
  const id = (n: number | undefined) => (n === undefined ? "?" : String(n));
  o += `qmail home directory: ${home}.\n`;
  o += `user-ext delimiter: ${AUTO_BREAK}.\n`;
  o += `paternalism (in decimal): ${AUTO_PATRN}.\n`;
  o += `silent concurrency limit: ${AUTO_SPAWN}.\n`;
  o += `subdirectory split: ${AUTO_SPLIT}.\n`;
  // C prints the ids compiled in at install; ours are in bin/.qmail-ids (or NSS), as the other programs use them.
  let ids: QmailIds | undefined;
  try {
    ids = qmailIds(home);
  } catch {}
  const uid = (u: string) =>
    u === "root" ? 0 : ((ids?.uid as Record<string, number> | undefined)?.[u] ?? getpwnam(u)?.uid);
  const gid = (g: string) => (ids?.gid as Record<string, number> | undefined)?.[g] ?? getgrnam(g)?.gid;
  o += `user ids: ${USERS.map((u) => id(uid(u))).join(", ")}.\n`;
  o += `group ids: ${GROUPS.map((g) => id(gid(g))).join(", ")}.\n`;
  const fail = (msg: string) => {
    writeAll(1, o + msg);
    return 111;
  };
  try {
    process.chdir(home);
  } catch {
    return fail(`Oops! Unable to chdir to ${home}.\n`);
  }
  try {
    process.chdir("control");
  } catch {
    return fail("Oops! Unable to chdir to control.\n");
  }
  let names: string[];
  try {
    names = readdirRaw(".");
  } catch {
    return fail("Oops! Unable to open current directory.\n");
  }
  const me = readline("me");
  if (me === null) return fail("Oops! Trouble reading control/me.");

  const doInt = (fn: string, def: string, pre: string, post: string) => {
    o += `\n${fn}: `;
    const l = readline(fn);
    if (l === null) {
      o += "Oops! Trouble reading this file.\n";
      return;
    }
    const m = l === undefined ? null : /^\d+/.exec(l);
    if (!m) {
      o += `(Default.) ${pre}${def}${post}.\n`;
      return;
    }
    let i = Number(BigInt.asIntN(32, BigInt(m[0])));
    if (i < 0) i = 0;
    o += `${pre}${i}${post}.\n`;
  };
  const doStr = (fn: string, flagme: boolean, def: string, pre: string) => {
    o += `\n${fn}: `;
    let l = readline(fn);
    if (l === null) {
      o += "Oops! Trouble reading this file.\n";
      return;
    }
    if (l === undefined) {
      o += "(Default.) ";
      l = flagme && me !== undefined ? me : def;
    }
    o += `${pre}${safe(l)}.\n`;
  };
  const doLst = (fn: string, def: string, pre: string, post: string): number => {
    o += `\n${fn}: `;
    const l = readfile(fn);
    if (l === null) {
      o += "Oops! Trouble reading this file.\n";
      return -1;
    }
    if (l === undefined) {
      o += `(Default.) ${def}\n`;
      return 0;
    }
    o += "\n";
    for (const x of l) o += `${pre}${safe(x)}${post}\n`;
    return 1;
  };

  doLst("badmailfrom", "Any MAIL FROM is allowed.", "", " not accepted in MAIL FROM.");
  doStr("bouncefrom", false, "MAILER-DAEMON", "Bounce user name is ");
  doStr("bouncehost", true, "bouncehost", "Bounce host name is ");
  doInt("concurrencylocal", "10", "Local concurrency is ", "");
  doInt("concurrencyremote", "20", "Remote concurrency is ", "");
  doInt("databytes", "0", "SMTP DATA limit is ", " bytes");
  doStr("defaultdomain", true, "defaultdomain", "Default domain name is ");
  doStr("defaulthost", true, "defaulthost", "Default host name is ");
  doStr("doublebouncehost", true, "doublebouncehost", "2B recipient host: ");
  doStr("doublebounceto", false, "postmaster", "2B recipient user: ");
  doStr("envnoathost", true, "envnoathost", "Presumed domain name is ");
  doStr("helohost", true, "helohost", "SMTP client HELO host name is ");
  doStr("idhost", true, "idhost", "Message-ID host name is ");
  doStr("localiphost", true, "localiphost", "Local IP address becomes ");
  doLst("locals", "Messages for me are delivered locally.", "Messages for ", " are delivered locally.");
  doStr("me", false, "undefined! Uh-oh", "My name is ");
  doLst("percenthack", "The percent hack is not allowed.", "The percent hack is allowed for user%host@", ".");
  doStr("plusdomain", true, "plusdomain", "Plus domain name is ");
  doLst("qmqpservers", "No QMQP servers.", "QMQP server: ", ".");
  doInt("queuelifetime", "604800", "Message lifetime in the queue is ", " seconds");
  const rcpthosts = doLst(
    "rcpthosts",
    "SMTP clients may send messages to any recipient.",
    "SMTP clients may send messages to recipients at ",
    ".",
  );
  // the report on stdout stays the original's; the open relay is said on stderr (qmail-showctl(8))
  if (rcpthosts === 0) warn("control/rcpthosts is missing: qmail-smtpd accepts mail for any domain (an open relay)");
  if (rcpthosts) doLst("morercpthosts", "No effect.", "SMTP clients may send messages to recipients at ", ".");
  else
    doLst(
      "morercpthosts",
      "No rcpthosts; morercpthosts is irrelevant.",
      "No rcpthosts; doesn't matter that morercpthosts has ",
      ".",
    );
  o += "\nmorercpthosts.cdb: ";
  const st = (p: string) => {
    try {
      return statSync(p);
    } catch {
      return undefined;
    }
  };
  const mrh = st("morercpthosts");
  const cdb = st("morercpthosts.cdb");
  if (!mrh) o += cdb ? "Oops! morercpthosts.cdb exists but morercpthosts doesn't.\n" : "(Default.) No effect.\n";
  else if (!cdb) o += "Oops! morercpthosts exists but morercpthosts.cdb doesn't.\n";
  else if (Math.floor(mrh.mtimeMs / 1000) > Math.floor(cdb.mtimeMs / 1000))
    o += "Oops! morercpthosts.cdb is older than morercpthosts.\n";
  else o += "Modified recently enough; hopefully up to date.\n";
  doStr("smtpgreeting", true, "smtpgreeting", "SMTP greeting: 220 ");
  doLst("smtproutes", "No artificial SMTP routes.", "SMTP route: ", "");
  doInt("timeoutconnect", "60", "SMTP client connection timeout is ", " seconds");
  doInt("timeoutremote", "1200", "SMTP client data timeout is ", " seconds");
  doInt("timeoutsmtpd", "1200", "SMTP server data timeout is ", " seconds");
  doLst("virtualdomains", "No virtual domains.", "Virtual domain: ", "");
  for (const n of names) {
    if (KNOWN.has(n)) continue;
    o += `\n${n}: I have no idea what this file does.\n`;
  }
  writeAll(1, o);
  return 0;
}
