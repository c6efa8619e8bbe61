// SPDX-License-Identifier: MIT
// Renders service/ (the article's service directories) into a service dir; the options and what
// each does: bun scripts/services.ts --help (yargs).
// Tooling run once by an administrator, off every mail path: node:child_process is enough here. The
// programs start their children through posix_spawn (@qts/sys/posixspawn).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import yargs from "yargs";
import { getpwnam } from "../packages/sys/src/pwd.ts";

const ROOT = resolve(import.meta.dir, "..");

// softlimit -m for smtpd/run: our programs refuse to start below 400000000
// (packages/core/src/memlimit.ts FLOOR; tcpserver + qmail-smtpd served a 20 MB
// message from about 377000000, bench/memfloor.sh); this figure leaves room
// above it. test/e2e/tree.test.ts runs the template with it.
export const SOFTLIMIT_MEM = 500000000;

/**
 * STARTTLS/AUTH submission services (qmail-smtpd(8)): port 587 and implicit TLS on 465, and
 * qmail-authd, which checks their passwords (qmail-authd(8)).
 */
const SUBMISSION_SERVICES = ["submission", "smtps", "authd"];

function fail(msg: string): never {
  process.stderr.write(`services: fatal: ${msg}\n`);
  process.exit(111);
}

interface Opts {
  home: string;
  service: string;
  down: boolean;
  files?: string;
  console: boolean;
  ip: string;
  ip6?: string;
  port: string;
  mem: number;
  qmaild: string;
  qmaill: string;
  sendmail: boolean;
  noSwitch: boolean;
  keep: boolean;
  classic: boolean;
  submission: boolean;
  submissionPort: string;
  smtpsPort: string;
  checkpassword?: string;
}

function parse(argv: string[]): Opts {
  const a = yargs(argv)
    .scriptName("services")
    .usage(
      "bun scripts/services.ts --service DIR [options]\n\nRenders service/ (the article's service directories) into DIR.",
    )
    .options({
      home: { type: "string", default: "/var/qmail", describe: "the qmail home the run scripts use" },
      service: { type: "string", demandOption: true, describe: "the service directory to fill" },
      down: {
        type: "boolean",
        default: false,
        describe: "a down file in each service it creates; also pop3d, qmqpd and qmtpd (make setup)",
      },
      keep: { type: "boolean", default: false, describe: "keep a changed run script; the template goes to run.new" },
      files: { type: "string", describe: "log with multilog into LOGDIR/qmail, LOGDIR/smtpd, ..." },
      console: {
        type: "boolean",
        default: false,
        describe: "log to svscan's standard output after the service's name",
      },
      ip: { type: "string", default: "0", describe: "the address tcpserver listens on" },
      ip6: { type: "string", describe: "also smtpd6: qmail-smtpd on this IPv6 address" },
      port: { type: "string", default: "smtp", describe: "the SMTP port" },
      mem: { type: "number", default: SOFTLIMIT_MEM, describe: "softlimit -m for the SMTP services" },
      qmaild: { type: "string", default: "qmaild", describe: "the user qmail-smtpd runs as" },
      qmaill: { type: "string", default: "qmaill", describe: "the user the loggers run as" },
      sendmail: { type: "boolean", default: false, describe: "link /usr/sbin/sendmail and /usr/lib/sendmail" },
      switch: { type: "boolean", default: true, describe: "uid changes (--no-switch: make start by an ordinary user)" },
      classic: {
        type: "boolean",
        default: false,
        describe:
          "without the fast paths (QTS_LOCALWORKERS, QTS_PRESTART, QTS_PRESTARTIDLE): qmail's one process per delivery and connection",
      },
      submission: { type: "boolean", default: false, describe: "also submission (587) and smtps (465)" },
      "submission-port": { type: "string", default: "submission", describe: "the submission port" },
      "smtps-port": { type: "string", default: "465", describe: "the SMTPS port" },
      checkpassword: {
        type: "string",
        describe: "the checker of submission and smtps (default QMAIL/bin/checkpassword)",
      },
    })
    .strict()
    .version(false)
    .fail((msg, err) => fail(msg ?? String(err)))
    .parseSync();
  return {
    home: resolve(a.home),
    service: resolve(a.service),
    down: a.down,
    keep: a.keep,
    files: a.files === undefined ? undefined : resolve(a.files),
    console: a.console,
    ip: a.ip,
    ip6: a.ip6,
    port: a.port,
    mem: a.mem,
    qmaild: a.qmaild,
    qmaill: a.qmaill,
    sendmail: a.sendmail,
    noSwitch: !a.switch,
    classic: a.classic,
    submission: a.submission,
    submissionPort: a["submission-port"],
    smtpsPort: a["smtps-port"],
    checkpassword: a.checkpassword,
  };
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function render(o: Opts, rel: string, six = false): string {
  const logTo = (name: string, syslog: string) => {
    const n = six ? `${name}6` : name;
    return o.console ? `multilog t '1${n}: '` : o.files ? `multilog t ${join(o.files, n)}` : syslog;
  };
  let text = readFileSync(join(ROOT, "service", rel), "utf8");
  if (six) text = text.replaceAll("@IP@", o.ip6 ?? "::1");
  if (o.classic) text = text.replace(/^QTS_(LOCALWORKERS|PRESTART|PRESTARTIDLE)=[0-9]+ \\\n/gm, "");
  if (o.noSwitch)
    text = text.replace("envuidgid qmaild \\\n", "").replace("setuidgid qmaill \\\n", "").replace("-UDHRQ", "-DHRQ");
  return text
    .replaceAll("@QMAIL@", o.home)
    .replaceAll("@LOGGER@", logTo("qmail", "splogger qmail"))
    .replaceAll("@SMTPLOGGER@", logTo("smtpd", "splogger smtpd 2"))
    .replaceAll("@POP3DLOGGER@", logTo("pop3d", "splogger pop3d 2"))
    .replaceAll("@QMQPDLOGGER@", logTo("qmqpd", "splogger qmqpd 2"))
    .replaceAll("@QMTPDLOGGER@", logTo("qmtpd", "splogger qmtpd 2"))
    .replaceAll("@SUBMISSIONLOGGER@", logTo("submission", "splogger submission 2"))
    .replaceAll("@SMTPSLOGGER@", logTo("smtps", "splogger smtps 2"))
    .replaceAll("@AUTHDLOGGER@", logTo("authd", "splogger authd 2"))
    .replaceAll("@QMAILD@", o.qmaild)
    .replaceAll("@SUBMISSIONPORT@", o.submissionPort)
    .replaceAll("@SMTPSPORT@", o.smtpsPort)
    .replaceAll("@CHECKPASSWORD@", o.checkpassword ?? join(o.home, "bin", "checkpassword"))
    .replaceAll("@IP@", o.ip)
    .replaceAll("@PORT@", o.port)
    .replaceAll("@MEM@", String(o.mem))
    .replaceAll("envuidgid qmaild", `envuidgid ${o.qmaild}`)
    .replaceAll("setuidgid qmaill", `setuidgid ${o.qmaill}`);
}

/** The run scripts from their templates; a directory created here goes into fresh. With --keep, one that differs stays. */
function writeRunScripts(o: Opts, services: string[], fresh: Set<string>): void {
  for (const rel of [
    "qmail/run",
    "smtpd/run",
    "smtpd/log/run",
    ...services.flatMap((d) => [`${d}/run`, `${d}/log/run`]),
  ]) {
    const dst = join(o.service, rel);
    mkdirSync(dirname(dst), { recursive: true });
    const text = render(o, rel);
    let old: string | undefined;
    try {
      old = readFileSync(dst, "utf8");
    } catch {
      fresh.add(dirname(rel));
    }
    if (o.keep && old !== undefined && old !== text) {
      writeAtomic(`${dst}.new`, text, 0o755);
      process.stderr.write(
        `services: warning: ${dst} differs from the template: kept it; the template's is ${dst}.new\n`,
      );
    } else if (old !== text) writeAtomic(dst, text, 0o755);
  }
}

/** smtpd6: a second tcpserver, on the IPv6 address (a tcpserver listens on one address). */
function writeSmtpd6(o: Opts, fresh: Set<string>): void {
  for (const rel of ["smtpd/run", "smtpd/log/run"]) {
    const dst = join(o.service, rel.replace("smtpd", "smtpd6"));
    mkdirSync(dirname(dst), { recursive: true });
    if (!existsSync(dst)) fresh.add(dirname(rel.replace("smtpd", "smtpd6")));
    writeAtomic(dst, render(o, rel, true), 0o755);
  }
}

// Readiness (supervise(8)): tcpserver says it once bound, multilog once its directory is locked,
// qmail-send once its helpers are up.
function writeNotificationFds(o: Opts, smtpds: string[]): void {
  writeAtomic(join(o.service, "qmail/notification-fd"), "3\n", 0o644);
  for (const d of [...smtpds, ...(o.submission ? ["authd"] : [])]) {
    writeAtomic(join(o.service, d, "notification-fd"), "3\n", 0o644);
    if (o.files || o.console) writeAtomic(join(o.service, d, "log/notification-fd"), "3\n", 0o644);
    else rmSync(join(o.service, d, "log/notification-fd"), { force: true });
  }
}

/** The article's down files: nothing starts until svc -u. A service that was there keeps its state. */
function writeDownFiles(o: Opts, dirs: string[], fresh: Set<string>): void {
  for (const d of dirs) {
    const f = join(o.service, d, "down");
    if (!o.down) rmSync(f, { force: true });
    else if (fresh.has(d)) writeFileSync(f, "");
  }
}

/** --files: the log directories, owned by qmaill. */
function makeLogDirs(o: Opts, services: string[]): void {
  if (!o.files) return;
  const owner = getpwnam(o.qmaill);
  for (const d of services) {
    const p = join(o.files, d);
    mkdirSync(p, { recursive: true });
    if (owner && process.geteuid?.() === 0) chownSync(p, owner.uid, owner.gid);
  }
}

/** --sendmail: /usr/sbin/sendmail and /usr/lib/sendmail point to qmail's, where those directories exist. */
function linkSendmail(o: Opts): void {
  for (const link of ["/usr/sbin/sendmail", "/usr/lib/sendmail"]) {
    if (!existsSync(dirname(link))) continue;
    const t = `${link}.qmail${process.pid}`;
    symlinkSync(join(o.home, "bin", "sendmail"), t);
    renameSync(t, link);
  }
}

function main(): void {
  const o = parse(process.argv.slice(2));
  const fresh = new Set<string>();
  // POP3, QMQP and QMTP only with --down (make setup): down when created, started with svc -u
  const extra = o.down ? ["pop3d", "qmqpd", "qmtpd"] : [];
  const SUBMISSION = o.submission ? SUBMISSION_SERVICES : [];
  writeRunScripts(o, [...extra, ...SUBMISSION], fresh);
  const dirs = ["qmail", "smtpd", "smtpd/log", ...[...extra, ...SUBMISSION].flatMap((x) => [x, `${x}/log`])];
  const smtpds = ["smtpd"];
  if (o.ip6 !== undefined) {
    writeSmtpd6(o, fresh);
    dirs.push("smtpd6", "smtpd6/log");
    smtpds.push("smtpd6");
  }
  writeNotificationFds(o, smtpds);
  writeDownFiles(o, dirs, fresh);
  makeLogDirs(o, ["qmail", ...smtpds, ...extra, ...SUBMISSION]);
  // Default SMTP rules (the article's /etc/tcp.smtp): relaying for 127.* (and ::1), everyone else may deliver here.
  rulesCdb(o, "tcp.smtp", '127.:allow,RELAYCLIENT=""\n::1:allow,RELAYCLIENT=""\n:allow\n');
  // QMQP's rules (qmail-qmqpd relays for anyone it serves): this host only, until you add your satellites.
  if (extra.length) rulesCdb(o, "qmqp", "127.:allow\n:deny\n");
  // Submission's rules: anyone may connect; relaying comes from AUTH, not from the address.
  if (o.submission) rulesCdb(o, "tcp.submission", ":allow\n");
  if (o.sendmail) linkSendmail(o);
  process.stdout.write(`services: ${o.service}: ${dirs.join(" ")}${o.down ? " (down)" : ""}\n`);
}

/** control/NAME (default rules when missing) compiled into control/NAME.cdb with tcprules. */
function rulesCdb(o: Opts, name: string, def: string): void {
  const rules = join(o.home, "control", name);
  if (!existsSync(rules)) writeAtomic(rules, def, 0o644);
  const cdb = `${rules}.cdb`;
  const r = spawnSync(join(o.home, "bin", "tcprules"), [cdb, `${cdb}.tmp`], {
    input: readFileSync(rules),
    stdio: ["pipe", "inherit", "inherit"],
  });
  if (r.status !== 0) fail(`tcprules ${cdb} failed`);
}

if (import.meta.main) main();
