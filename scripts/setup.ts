// SPDX-License-Identifier: MIT
// make setup QMAIL=<dir>: qmail's users and groups (INSTALL.ids), then the
// home <dir> with qmail's hierarchy (hier.c), our programs
// in <dir>/bin (bin/qts, bin/.qmail-home, one link per program) and the
// boot scripts. Safe to run again: control files and queued mail stay.
//
//   bun scripts/setup.ts [--home DIR] [--no-users] [--ids-user NAME] [--hardlink] [--no-bin]
//                        [--man DIR]            (--help: the same, from yargs)
//
// --no-users      do not create missing users and groups (tests)
// --ids-user NAME map every qmail user and group to NAME's uid and gid (an
//                 install run and started by an ordinary user); the default
//                 when setup does not run as root
// --hardlink      link bin/qts instead of copying it when on the same filesystem (tests)
// --no-bin        leave <dir>/bin alone (re-create the tree only)
// --man DIR       install the man pages: daemontools' and ucspi-tcp's under DIR
//                 (make setup: /usr/local/share/man, on man's default path),
//                 qmail's under <dir>/man, as qmail installs them
// Tooling run once by an administrator, off every mail path: node:child_process is enough here. The
// programs start their children through posix_spawn (@qts/sys/posixspawn).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import yargs from "yargs";
import { errnoName } from "../packages/core/src/errstr.ts";
import { AUTHD_DIR } from "../packages/qmail/src/lib/auth/authd-proto.ts";
import { HOME_MARKER } from "../packages/qmail/src/lib/home.ts";
import {
  formatIds,
  GROUPS,
  IDS_FILE,
  nssIds,
  type QmailIds,
  singleIds,
  USER_GROUP,
  USERS,
} from "../packages/qmail/src/lib/ids.ts";
import { QUEUED_DIR, QUEUED_DROP } from "../packages/qmail/src/lib/queue/queued-paths.ts";
import { mkfifo } from "../packages/sys/src/fifo.ts";
import { getgrnam, getpwnam, getpwuid } from "../packages/sys/src/pwd.ts";
import { BUILT, suiteOf } from "./man.ts";

const ROOT = resolve(import.meta.dir, "..");
const SPLIT = 23;

function fail(msg: string): never {
  process.stderr.write(`setup: fatal: ${msg}\n`);
  process.exit(111);
}

interface Opts {
  home: string;
  users: boolean;
  idsUser?: string;
  hardlink: boolean;
  bin: boolean;
  man?: string;
}

function parse(argv: string[]): Opts {
  const a = yargs(argv)
    .scriptName("setup")
    .usage(
      "bun scripts/setup.ts [options]\n\nInstalls qmail's users, a qmail home with its hierarchy, our programs and the man pages.",
    )
    .options({
      home: { type: "string", default: process.env.QMAIL || "/var/qmail", describe: "the qmail home" },
      users: { type: "boolean", default: true, describe: "create missing users and groups (--no-users: tests)" },
      "ids-user": { type: "string", describe: "map every qmail user and group to this account" },
      hardlink: { type: "boolean", default: false, describe: "link bin/qts instead of copying it (tests)" },
      bin: { type: "boolean", default: true, describe: "install the programs (--no-bin: the tree only)" },
      man: { type: "string", describe: "install the man pages: daemontools' and ucspi-tcp's under this directory" },
    })
    .strict()
    .version(false)
    .fail((msg, err) => fail(msg ?? String(err)))
    .parseSync();
  return {
    home: resolve(a.home),
    users: a.users,
    idsUser: a["ids-user"],
    hardlink: a.hardlink,
    bin: a.bin,
    man: a.man === undefined ? undefined : resolve(a.man),
  };
}

const isRoot = process.geteuid?.() === 0;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} failed`);
}

/**
 * INSTALL.ids: groupadd/useradd for whatever is missing. A user that exists keeps its home; where
 * that is not the home this install would give it, say so and what follows. Only alias's home is
 * used: qmail-getpw and qmail-lspawn read the aliases (~alias/.qmail-root, ...) from alias's
 * passwd home, whatever the qmail home is (qmail-getpw.c, auto_usera's pw_dir).
 */
function createUsers(home: string): void {
  for (const g of GROUPS) if (!getgrnam(g)) sh("groupadd", ["-r", g]);
  for (const u of USERS) {
    const dir = u === "alias" ? join(home, "alias") : home;
    const pw = getpwnam(u);
    if (!pw) {
      sh("useradd", ["-r", "-M", "-g", USER_GROUP[u], "-d", dir, "-s", "/bin/true", u]);
      continue;
    }
    if (pw.dir === dir) continue;
    if (u === "alias")
      process.stderr.write(
        `setup: warning: user alias exists with home ${pw.dir}, not ${dir}: aliases (.qmail-root, .qmail-postmaster, ...) are read from ${pw.dir}; put them there, or change alias's home (usermod -d ${dir} alias)\n`,
      );
    else process.stderr.write(`setup: note: user ${u} exists with home ${pw.dir}, not ${dir}; qmail does not use it\n`);
  }
}

function own(path: string, uid: number, gid: number, mode: number): void {
  if (isRoot) chownSync(path, uid, gid);
  chmodSync(path, mode);
}

function dir(path: string, uid: number, gid: number, mode: number): void {
  try {
    mkdirSync(path);
  } catch (e) {
    if (errnoName(e) !== "EEXIST") throw e;
    if (!lstatSync(path).isDirectory()) fail(`${path} exists and is not a directory`);
  }
  own(path, uid, gid, mode);
}

/** hier.c's z(): a file of len zero bytes, kept when it is already there with that size. */
function zeros(path: string, len: number, uid: number, gid: number, mode: number): void {
  let keep = false;
  try {
    const st = lstatSync(path);
    keep = st.isFile() && st.size === len;
  } catch {}
  if (!keep) {
    rmSync(path, { force: true });
    const fd = openSync(path, "wx", 0o600);
    if (len > 0) writeSync(fd, Buffer.alloc(len));
    fsyncSync(fd);
    closeSync(fd);
  }
  own(path, uid, gid, mode);
}

function fifo(path: string, uid: number, gid: number, mode: number): void {
  let ok = false;
  try {
    ok = lstatSync(path).isFIFO();
  } catch {}
  if (!ok) {
    rmSync(path, { force: true });
    mkfifo(path, 0o600);
  }
  own(path, uid, gid, mode);
}

/** Writes path atomically (tmp + rename). */
function file(path: string, text: string, uid: number, gid: number, mode: number): void {
  const tmp = `${path}.tmp${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  own(tmp, uid, gid, mode);
  renameSync(tmp, path);
}

const HEAD = "#!/bin/sh\n\n# Using splogger to send the log through syslog.\n";
const DF = "# Using dot-forward to support sendmail-style ~/.forward files.\n";
const BINMAIL = "# Using binmail to deliver messages to /var/spool/mail/$USER by default.\n";

/** The boot scripts of hier.c (home, proc, binm1-3, each with a +df variant), for this home. */
function boots(home: string): Record<string, string> {
  const exec = `exec env - PATH="${home}/bin:$PATH" \\\n`;
  const mbox = "# Using qmail-local to deliver messages to ~/Mailbox by default.\n";
  const proc = "# Using procmail to deliver messages to /var/spool/mail/$USER by default.\n";
  const out: Record<string, string> = {
    home: `${HEAD}${mbox}\n${exec}qmail-start ./Mailbox splogger qmail\n`,
    "home+df": `${HEAD}${DF}${mbox}\n${exec}qmail-start '|dot-forward .forward\n./Mailbox' splogger qmail\n`,
    proc: `${HEAD}${proc}\n${exec}qmail-start '|preline procmail' splogger qmail\n`,
    "proc+df": `${HEAD}${DF}${proc}\n${exec}qmail-start '|dot-forward .forward\n|preline procmail' splogger qmail\n`,
  };
  const binm: [string, string, string][] = [
    ["binm1", "BSD 4.4 binmail interface: /usr/libexec/mail.local -r", "/usr/libexec/mail.local -r"],
    ["binm2", "SVR4 binmail interface: /bin/mail -r", "/bin/mail -r"],
    ["binm3", "V7 binmail interface: /bin/mail -f", "/bin/mail -f"],
  ];
  for (const [name, iface, cmd] of binm) {
    const line = `|preline -f ${cmd} "\${SENDER:-MAILER-DAEMON}" -d "$USER"`;
    const note = `${BINMAIL}# Using ${iface}\n`;
    out[name] = `${HEAD}${note}\n${exec}qmail-start \\\n'${line}' \\\nsplogger qmail\n`;
    out[`${name}+df`] = `${HEAD}${DF}${note}\n${exec}qmail-start '|dot-forward .forward\n${line}' \\\nsplogger qmail\n`;
  }
  return out;
}

function programs(): string[] {
  const bin = join(ROOT, "bin");
  const out: string[] = [];
  for (const f of readdirSync(bin).sort()) {
    try {
      if (readlinkSync(join(bin, f)) === "qts") out.push(f);
    } catch {}
  }
  return out;
}

function installBin(home: string, ids: QmailIds, hardlink: boolean): void {
  const uido = 0;
  const gidq = ids.gid.qmail;
  const bin = join(home, "bin");
  dir(bin, uido, gidq, 0o755);
  const src = join(ROOT, "bin", "qts");
  if (!existsSync(src)) fail(`${src} is missing: run make first`);
  const dst = join(bin, "qts");
  const tmp = join(bin, `.qts.${process.pid}`);
  rmSync(tmp, { force: true });
  let linked = false;
  if (hardlink) {
    try {
      linkSync(src, tmp);
      linked = true;
    } catch {}
  }
  if (!linked) {
    copyFileSync(src, tmp);
    own(tmp, uido, gidq, 0o755);
  }
  renameSync(tmp, dst);
  const names = programs();
  const want = new Set(names);
  for (const f of readdirSync(bin)) {
    const p = join(bin, f);
    try {
      if (readlinkSync(p) === "qts" && !want.has(f)) rmSync(p);
    } catch {}
  }
  for (const n of names) {
    const p = join(bin, n);
    try {
      if (readlinkSync(p) === "qts") continue;
    } catch {}
    const t = `${p}.${process.pid}`;
    rmSync(t, { force: true });
    symlinkSync("qts", t);
    renameSync(t, p);
  }
  file(join(bin, IDS_FILE), formatIds(ids), uido, gidq, 0o644);
  file(join(bin, HOME_MARKER), `${home}\n`, uido, gidq, 0o644);
}

/**
 * The pages make rendered: qmail's under <home>/man/man<section>, as qmail's
 * own install does (MANPATH <home>/man); the others under mandir.
 */
function installMan(home: string, mandir: string, gid: number): void {
  if (!existsSync(BUILT)) fail(`${BUILT} is missing: run make first`);
  for (const sec of ["man1", "man5", "man7", "man8"]) dir(join(home, "man", sec), 0, gid, 0o755);
  let n = 0;
  for (const sec of readdirSync(BUILT).sort()) {
    if (!/^man[1-8]$/.test(sec)) continue;
    for (const f of readdirSync(join(BUILT, sec)).sort()) {
      const name = f.slice(0, f.lastIndexOf("."));
      const to = suiteOf(name) === "qmail" ? join(home, "man", sec) : join(mandir, sec);
      mkdirSync(to, { recursive: true, mode: 0o755 });
      copyFileSync(join(BUILT, sec, f), `${join(to, f)}.tmp${process.pid}`);
      own(`${join(to, f)}.tmp${process.pid}`, 0, 0, 0o644);
      renameSync(`${join(to, f)}.tmp${process.pid}`, join(to, f));
      n++;
    }
  }
  process.stdout.write(`setup: ${n} man pages: qmail's in ${join(home, "man")}, the others in ${mandir}\n`);
}

/** The ids to install with: one user's (--ids-user, or not root) or qmail's users, created first unless --no-users. */
function installIds(o: Opts): QmailIds {
  if (o.idsUser !== undefined || !isRoot) {
    const name = o.idsUser ?? getpwuidName();
    const pw = getpwnam(name);
    if (!pw) fail(`no such user: ${name}`);
    return singleIds(pw.uid, pw.gid);
  }
  if (o.users) createUsers(o.home);
  try {
    return nssIds();
  } catch (e) {
    fail(`${(e as Error).message} (run without --no-users, or create it as INSTALL.ids says)`);
  }
}

function main(): void {
  const o = parse(process.argv.slice(2));
  const home = o.home;
  const ids = installIds(o);
  const u = ids.uid;
  const gq = ids.gid.qmail;
  const uido = isRoot ? 0 : (process.geteuid?.() ?? 0);

  mkdirSync(home, { recursive: true });
  own(home, uido, gq, 0o755);
  for (const d of ["control", "users", "boot", "doc", "man"]) dir(join(home, d), uido, gq, 0o755);
  dir(join(home, "alias"), u.alias, gq, 0o2755);

  const q = join(home, "queue");
  dir(q, u.qmailq, gq, 0o750);
  dir(join(q, "pid"), u.qmailq, gq, 0o700);
  dir(join(q, "intd"), u.qmailq, gq, 0o700);
  dir(join(q, "todo"), u.qmailq, gq, 0o750);
  dir(join(q, "bounce"), u.qmails, gq, 0o700);
  for (const [base, uid, mode] of [
    ["mess", u.qmailq, 0o750],
    ["info", u.qmails, 0o700],
    ["local", u.qmails, 0o700],
    ["remote", u.qmails, 0o700],
  ] as const) {
    dir(join(q, base), uid, gq, mode);
    for (let i = 0; i < SPLIT; i++) dir(join(q, base, String(i)), uid, gq, mode);
  }
  dir(join(q, "lock"), u.qmailq, gq, 0o750);
  zeros(join(q, "lock/tcpto"), 1024, u.qmailr, gq, 0o644);
  zeros(join(q, "lock/sendmutex"), 0, u.qmails, gq, 0o600);
  fifo(join(q, "lock/trigger"), u.qmails, gq, 0o622);

  dir(join(home, QUEUED_DIR), u.qmailq, gq, 0o755);
  dir(join(home, QUEUED_DROP), u.qmailq, gq, 0o3733);
  // qmail-authd's socket (qmail-authd(8)): only root and qmaild's group (nofiles) may reach it.
  dir(join(home, AUTHD_DIR), uido, ids.gid.nofiles, 0o750);

  for (const [name, text] of Object.entries(boots(home))) file(join(home, "boot", name), text, uido, gq, 0o755);

  if (o.bin) installBin(home, ids, o.hardlink);
  else if (!statSync(home).isDirectory()) fail(`${home} is not a directory`);
  if (o.man !== undefined) installMan(home, o.man, gq);
  process.stdout.write(`setup: ${home} ready\n`);
  // qmail-smtpd without control/rcpthosts relays for anyone (qmail-smtpd(8)): say so, as qmail-smtpd does
  if (!existsSync(join(home, "control/rcpthosts")))
    process.stderr.write(
      `setup: warning: ${home}/control/rcpthosts is missing: qmail-smtpd will accept mail for any domain (an open relay) until config or config-fast writes it\n`,
    );
}

function getpwuidName(): string {
  const uid = process.geteuid?.() ?? 0;
  const pw = getpwuid(uid);
  if (!pw) fail(`cannot find the name of uid ${uid}`);
  return pw.name;
}

main();
