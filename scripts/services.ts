// SPDX-License-Identifier: MIT
// Renders service/ (the article's service directories) into a service dir.
//
//   bun scripts/services.ts --home QMAIL --service DIR [--down] [--files LOGDIR]
//        [--ip IP] [--port PORT] [--mem BYTES] [--qmaild USER] [--qmaill USER] [--sendmail]
//
// --down         leave a down file in each service it creates, as the article does (start with svc -u);
//                a service that was there already keeps its down file or the lack of one; also
//                renders pop3d, qmqpd and qmtpd (POP3, QMQP, QMTP), each down, and control/qmqp.cdb
// --keep         keep a run script that differs from the template (the administrator changed it):
//                the template's goes beside it as run.new, and we say so (make setup)
// --files LOGDIR log with multilog into LOGDIR/qmail and LOGDIR/smtpd instead of splogger
// --console      log with multilog to svscan's standard output, each line after its service's
//                name ("smtpd: @4000... line"), as a container's log collector reads it
// --sendmail     link /usr/sbin/sendmail and /usr/lib/sendmail to QMAIL/bin/sendmail (the article's step)
// --ip6 IP      also smtpd6 (and smtpd6/log): the same qmail-smtpd on this IPv6 address (make start: ::1)
// --submission   also service/submission (port 587) and service/smtps (465): STARTTLS, SMTPS and AUTH
// --submission-port PORT, --smtps-port PORT   their ports
// --checkpassword PROG   the checker those two run (default QMAIL/bin/checkpassword)
// --no-switch    no uid changes (envuidgid, setuidgid, tcpserver -U): for make start by an ordinary
//                user, who cannot setgroups even to their own ids
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
import { getpwnam } from "../packages/sys/src/pwd.ts";

const ROOT = resolve(import.meta.dir, "..");

// softlimit -m for smtpd/run: our programs refuse to start below 400000000
// (packages/core/src/memlimit.ts FLOOR; tcpserver + qmail-smtpd served a 20 MB
// message from about 377000000, bench/memfloor.sh); this figure leaves room
// above it. test/e2e/tree.test.ts runs the template with it.
export const SOFTLIMIT_MEM = 500000000;

/** STARTTLS/AUTH submission services (qmail-smtpd(8)): port 587 and implicit TLS on 465. */
const SUBMISSION_SERVICES = ["submission", "smtps"];

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
  submission: boolean;
  submissionPort: string;
  smtpsPort: string;
  checkpassword?: string;
}

function parse(argv: string[]): Opts {
  const o: Opts = {
    home: "/var/qmail",
    service: "",
    down: false,
    ip: "0",
    port: "smtp",
    mem: SOFTLIMIT_MEM,
    qmaild: "qmaild",
    qmaill: "qmaill",
    sendmail: false,
    noSwitch: false,
    keep: false,
    console: false,
    submission: false,
    submissionPort: "submission",
    smtpsPort: "465",
  };
  const val = (i: number, what: string) => argv[i] ?? fail(`${what} needs a value`);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--home") o.home = resolve(val(++i, a));
    else if (a === "--service") o.service = resolve(val(++i, a));
    else if (a === "--down") o.down = true;
    else if (a === "--files") o.files = resolve(val(++i, a));
    else if (a === "--console") o.console = true;
    else if (a === "--ip") o.ip = val(++i, a);
    else if (a === "--ip6") o.ip6 = val(++i, a);
    else if (a === "--port") o.port = val(++i, a);
    else if (a === "--mem") o.mem = Number(val(++i, a));
    else if (a === "--qmaild") o.qmaild = val(++i, a);
    else if (a === "--qmaill") o.qmaill = val(++i, a);
    else if (a === "--sendmail") o.sendmail = true;
    else if (a === "--no-switch") o.noSwitch = true;
    else if (a === "--keep") o.keep = true;
    else if (a === "--submission") o.submission = true;
    else if (a === "--submission-port") o.submissionPort = val(++i, a);
    else if (a === "--smtps-port") o.smtpsPort = val(++i, a);
    else if (a === "--checkpassword") o.checkpassword = val(++i, a);
    else fail(`unknown option: ${a}`);
  }
  if (!o.service) fail("--service DIR is required");
  return o;
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
    .replaceAll("@SUBMISSIONPORT@", o.submissionPort)
    .replaceAll("@SMTPSPORT@", o.smtpsPort)
    .replaceAll("@CHECKPASSWORD@", o.checkpassword ?? join(o.home, "bin", "checkpassword"))
    .replaceAll("@IP@", o.ip)
    .replaceAll("@PORT@", o.port)
    .replaceAll("@MEM@", String(o.mem))
    .replaceAll("envuidgid qmaild", `envuidgid ${o.qmaild}`)
    .replaceAll("setuidgid qmaill", `setuidgid ${o.qmaill}`);
}

function main(): void {
  const o = parse(process.argv.slice(2));
  const fresh = new Set<string>();
  // POP3, QMQP and QMTP only with --down (make setup): down when created, started with svc -u
  const extra = o.down ? ["pop3d", "qmqpd", "qmtpd"] : [];
  const SUBMISSION = o.submission ? SUBMISSION_SERVICES : [];
  for (const rel of [
    "qmail/run",
    "smtpd/run",
    "smtpd/log/run",
    ...[...extra, ...SUBMISSION].flatMap((d) => [`${d}/run`, `${d}/log/run`]),
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
  // smtpd6: a second tcpserver, on the IPv6 address (a tcpserver listens on one address).
  const dirs = ["qmail", "smtpd", "smtpd/log", ...[...extra, ...SUBMISSION].flatMap((x) => [x, `${x}/log`])];
  const smtpds = ["smtpd"];
  if (o.ip6 !== undefined) {
    for (const rel of ["smtpd/run", "smtpd/log/run"]) {
      const dst = join(o.service, rel.replace("smtpd", "smtpd6"));
      mkdirSync(dirname(dst), { recursive: true });
      if (!existsSync(dst)) fresh.add(dirname(rel.replace("smtpd", "smtpd6")));
      writeAtomic(dst, render(o, rel, true), 0o755);
    }
    dirs.push("smtpd6", "smtpd6/log");
    smtpds.push("smtpd6");
  }
  // Readiness (supervise(8)): tcpserver says it once bound, multilog once its directory is locked,
  // qmail-send once its helpers are up.
  writeAtomic(join(o.service, "qmail/notification-fd"), "3\n", 0o644);
  for (const d of smtpds) {
    writeAtomic(join(o.service, d, "notification-fd"), "3\n", 0o644);
    if (o.files || o.console) writeAtomic(join(o.service, d, "log/notification-fd"), "3\n", 0o644);
    else rmSync(join(o.service, d, "log/notification-fd"), { force: true });
  }
  // The article's down files: nothing starts until svc -u. A service that was there keeps its state.
  for (const d of dirs) {
    const f = join(o.service, d, "down");
    if (!o.down) rmSync(f, { force: true });
    else if (fresh.has(d)) writeFileSync(f, "");
  }
  if (o.files) {
    const owner = getpwnam(o.qmaill);
    for (const d of ["qmail", ...smtpds, ...extra, ...SUBMISSION]) {
      const p = join(o.files, d);
      mkdirSync(p, { recursive: true });
      if (owner && process.geteuid?.() === 0) chownSync(p, owner.uid, owner.gid);
    }
  }
  // Default SMTP rules (the article's /etc/tcp.smtp): relaying for 127.* (and ::1), everyone else may deliver here.
  rulesCdb(o, "tcp.smtp", '127.:allow,RELAYCLIENT=""\n::1:allow,RELAYCLIENT=""\n:allow\n');
  // QMQP's rules (qmail-qmqpd relays for anyone it serves): this host only, until you add your satellites.
  if (extra.length) rulesCdb(o, "qmqp", "127.:allow\n:deny\n");
  // Submission's rules: anyone may connect; relaying comes from AUTH, not from the address.
  if (o.submission) rulesCdb(o, "tcp.submission", ":allow\n");
  if (o.sendmail) {
    for (const link of ["/usr/sbin/sendmail", "/usr/lib/sendmail"]) {
      if (!existsSync(dirname(link))) continue;
      const t = `${link}.qmail${process.pid}`;
      symlinkSync(join(o.home, "bin", "sendmail"), t);
      renameSync(t, link);
    }
  }
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
