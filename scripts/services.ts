// SPDX-License-Identifier: MIT
// Renders service/ (the article's service directories) into a service dir.
//
//   bun scripts/services.ts --home QMAIL --service DIR [--down] [--files LOGDIR]
//        [--ip IP] [--port PORT] [--mem BYTES] [--qmaild USER] [--qmaill USER] [--sendmail]
//
// --down         leave a down file in each service, as the article does (start with svc -u)
// --files LOGDIR log with multilog into LOGDIR/qmail and LOGDIR/smtpd instead of splogger
// --sendmail     link /usr/sbin/sendmail and /usr/lib/sendmail to QMAIL/bin/sendmail (the article's step)
// --classic      without the fast paths (QTS_LOCALWORKERS, QTS_PRESTART): one qmail-local per
//                delivery and one qmail-smtpd started per connection, as qmail does (service/README.md)
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

// With its JIT reservation cut to 64 MB (the run script's env), tcpserver +
// qmail-smtpd served a 20 MB message to 50 recipients under softlimit -m
// 500000000 and failed to start under 450000000 [observed]; test/e2e/tree.test.ts
// runs the template with this figure.
export const SOFTLIMIT_MEM = 500000000;

function fail(msg: string): never {
  process.stderr.write(`services: fatal: ${msg}\n`);
  process.exit(111);
}

interface Opts {
  home: string;
  service: string;
  down: boolean;
  files?: string;
  ip: string;
  port: string;
  mem: number;
  qmaild: string;
  qmaill: string;
  sendmail: boolean;
  noSwitch: boolean;
  classic: boolean;
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
    classic: false,
  };
  const val = (i: number, what: string) => argv[i] ?? fail(`${what} needs a value`);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--home") o.home = resolve(val(++i, a));
    else if (a === "--service") o.service = resolve(val(++i, a));
    else if (a === "--down") o.down = true;
    else if (a === "--files") o.files = resolve(val(++i, a));
    else if (a === "--ip") o.ip = val(++i, a);
    else if (a === "--port") o.port = val(++i, a);
    else if (a === "--mem") o.mem = Number(val(++i, a));
    else if (a === "--qmaild") o.qmaild = val(++i, a);
    else if (a === "--qmaill") o.qmaill = val(++i, a);
    else if (a === "--sendmail") o.sendmail = true;
    else if (a === "--no-switch") o.noSwitch = true;
    else if (a === "--classic") o.classic = true;
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

function render(o: Opts, rel: string): string {
  const logTo = (name: string, syslog: string) => (o.files ? `multilog t ${join(o.files, name)}` : syslog);
  let text = readFileSync(join(ROOT, "service", rel), "utf8");
  if (o.classic) text = text.replace(/^QTS_(LOCALWORKERS|PRESTART)=[0-9]+ \\\n/m, "");
  if (o.noSwitch)
    text = text.replace("envuidgid qmaild \\\n", "").replace("setuidgid qmaill \\\n", "").replace("-UDHRQ", "-DHRQ");
  return text
    .replaceAll("@QMAIL@", o.home)
    .replaceAll("@LOGGER@", logTo("qmail", "splogger qmail"))
    .replaceAll("@SMTPLOGGER@", logTo("smtpd", "splogger smtpd 2"))
    .replaceAll("@IP@", o.ip)
    .replaceAll("@PORT@", o.port)
    .replaceAll("@MEM@", String(o.mem))
    .replaceAll("envuidgid qmaild", `envuidgid ${o.qmaild}`)
    .replaceAll("setuidgid qmaill", `setuidgid ${o.qmaill}`);
}

function main(): void {
  const o = parse(process.argv.slice(2));
  for (const rel of ["qmail/run", "smtpd/run", "smtpd/log/run"]) {
    const dst = join(o.service, rel);
    mkdirSync(dirname(dst), { recursive: true });
    writeAtomic(dst, render(o, rel), 0o755);
  }
  // The article's down files: nothing starts until svc -u.
  for (const d of ["qmail", "smtpd", "smtpd/log"]) {
    const f = join(o.service, d, "down");
    if (o.down) writeFileSync(f, "");
    else rmSync(f, { force: true });
  }
  if (o.files) {
    const owner = getpwnam(o.qmaill);
    for (const d of ["qmail", "smtpd"]) {
      const p = join(o.files, d);
      mkdirSync(p, { recursive: true });
      if (owner && process.geteuid?.() === 0) chownSync(p, owner.uid, owner.gid);
    }
  }
  // Default SMTP rules (the article's /etc/tcp.smtp): relaying for 127.*, everyone else may deliver here.
  const rules = join(o.home, "control", "tcp.smtp");
  if (!existsSync(rules)) writeAtomic(rules, '127.:allow,RELAYCLIENT=""\n:allow\n', 0o644);
  const cdb = `${rules}.cdb`;
  const r = spawnSync(join(o.home, "bin", "tcprules"), [cdb, `${cdb}.tmp`], {
    input: readFileSync(rules),
    stdio: ["pipe", "inherit", "inherit"],
  });
  if (r.status !== 0) fail(`tcprules ${cdb} failed`);
  if (o.sendmail) {
    for (const link of ["/usr/sbin/sendmail", "/usr/lib/sendmail"]) {
      if (!existsSync(dirname(link))) continue;
      const t = `${link}.qmail${process.pid}`;
      symlinkSync(join(o.home, "bin", "sendmail"), t);
      renameSync(t, link);
    }
  }
  process.stdout.write(`services: ${o.service}: qmail smtpd smtpd/log${o.down ? " (down)" : ""}\n`);
}

if (import.meta.main) main();
