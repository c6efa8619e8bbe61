// SPDX-License-Identifier: MIT
// The article, end to end, in a temp root: `make setup` into a temp home, the service
// templates under our svscan, busybox syslogd on /dev/log (a private mount namespace
// with its own /dev and /usr/sbin, so nothing system-wide changes), `mail -s "test 1"
// root` through our sendmail, the forward to a remote address routed by smtproutes
// to a local SMTP sink, SMTP through our tcpserver + qmail-smtpd, the 553 for a
// foreign domain, the process tree with names and uids, and the maillog lines.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { freePort, original, ROOT, run, runSync, TREE_SH, tmp } from "../lib/harness.ts";
import { fetchMailx, type Mailx } from "../lib/mailx.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const SINK = join(import.meta.dir, "fixtures/sink.py");
const haveTools = !!(original("busybox") && original("unshare") && original("pstree"));

interface Tree {
  t: string;
  out: string;
  maillog: string;
  pstree: string;
  exes: string;
  called: string;
  smtp: string;
  maildir: string[];
  sink: string[];
}

let tree: Tree | undefined;
let mailx: Mailx | undefined;

async function replay(): Promise<Tree> {
  const t = tmp("qts-e2e-");
  chmodSync(t, 0o755);
  const H = join(t, "qmail");
  const S = join(t, "service");
  const r1 = await run(BUN, [join(ROOT, "scripts/setup.ts"), "--home", H, "--hardlink"], { timeout: 60_000 });
  if (r1.code !== 0) throw new Error(`setup: ${r1.stderr}`);
  const r2 = await run(join(H, "bin/config-fast"), ["test.example"]);
  if (r2.code !== 0) throw new Error(`config-fast: ${r2.stderr}`);
  // The mailbox user: users/assign maps "me" to nobody's uid with a home in the temp root.
  const nobody = getpwnam("nobody");
  if (!nobody) throw new Error("no nobody user");
  const home = join(t, "home/me");
  mkdirSync(home, { recursive: true });
  const mm = await run(join(H, "bin/maildirmake"), [join(home, "Maildir")]);
  if (mm.code !== 0) throw new Error(mm.stderr);
  writeFileSync(join(home, ".qmail"), "./Maildir/\n", { mode: 0o644 });
  for (const p of [
    home,
    join(home, "Maildir"),
    join(home, ".qmail"),
    ...["new", "cur", "tmp"].map((d) => join(home, "Maildir", d)),
  ])
    chownSync(p, nobody.uid, nobody.gid);
  // Unknown local parts go to ~alias, as qmail-getpw's fallback does, but with the temp home's alias dir
  // (the alias account's passwd home is the system's qmail home).
  const alias = getpwnam("alias");
  if (!alias) throw new Error("no alias user");
  writeFileSync(
    join(H, "users/assign"),
    `=me:me:${nobody.uid}:${nobody.gid}:${home}:::\n+:alias:${alias.uid}:${alias.gid}:${H}/alias:-::\n.\n`,
  );
  // No relaying from 127.0.0.1 here, so a foreign domain gets the 553 (the article's PIC.relaybad).
  writeFileSync(join(H, "control/tcp.smtp"), ":allow\n");
  const nu = await run(join(H, "bin/qmail-newu"), []);
  if (nu.code !== 0) throw new Error(`qmail-newu: ${nu.stderr}`);
  // The article's aliases; root also goes to an administrator elsewhere (the remote forward).
  writeFileSync(join(H, "alias/.qmail-root"), "&me\n&admin@remote.example\n", { mode: 0o644 });
  writeFileSync(join(H, "alias/.qmail-postmaster"), "&me\n", { mode: 0o644 });
  writeFileSync(join(H, "alias/.qmail-mailer-daemon"), "&me\n", { mode: 0o644 });
  const sinkDir = join(t, "sink");
  mkdirSync(sinkDir);
  const port = await freePort();
  const sv = await run(BUN, [
    join(ROOT, "scripts/services.ts"),
    "--home",
    H,
    "--service",
    S,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
  ]);
  if (sv.code !== 0) throw new Error(`services: ${sv.stderr}`);
  const mailrc = join(t, "mailrc");
  writeFileSync(mailrc, `set sendmail=${H}/bin/sendmail\n`);
  const smtpPy = `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
out = []
out.append("ehlo %d %s" % s.ehlo("client.example")[:2][0:1] + (b"",)) if False else None
code, msg = s.ehlo("client.example"); out.append("ehlo %d" % code)
code, msg = s.mail("friend@elsewhere.example"); out.append("mail %d %s" % (code, msg.decode()))
code, msg = s.rcpt("me@test.example"); out.append("rcpt %d %s" % (code, msg.decode()))
code, msg = s.rcpt("someone@other.org"); out.append("rcpt %d %s" % (code, msg.decode()))
code, msg = s.data(b"Subject: over smtp\\r\\n\\r\\nhello through tcpserver\\r\\n"); out.append("data %d %s" % (code, msg.decode().split(" qp ")[0].split(" ")[0]))
s.quit()
print("\\n".join(out))
`;
  const script = `${TREE_SH}
set -e
mount --make-rprivate /
# Debian's daemontools and ucspi-tcp, if installed, become failing stubs: the tree must be ours.
mask_originals "$T"
mkdir -p "$T/olddev" "$T/sbin"
mount --rbind /dev "$T/olddev"
mount -t tmpfs tmpfs /dev
for n in null zero random urandom full tty; do touch /dev/$n; mount --bind "$T/olddev/$n" /dev/$n; done
ln -s /proc/self/fd /dev/fd
mkdir /dev/shm /dev/pts
# /usr/sbin/sendmail is ours here only (the article links it).
mount -t tmpfs tmpfs /usr/sbin
ln -s "$H/bin/sendmail" /usr/sbin/sendmail
busybox syslogd -n -O "$T/maillog" &
SYSLOGD=$!
i=0; while [ ! -S /dev/log ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done
python3 "$SINK" "$T/sink" 60 > "$T/sinkport" &
SINKPID=$!
i=0; while [ ! -s "$T/sinkport" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done
echo "remote.example:127.0.0.1:$(cat "$T/sinkport")" > "$H/control/smtproutes"
rm -f "$S"/*/down "$S"/*/*/down
# As the article installs them, our programs come first in svscan's PATH (it finds supervise there).
PATH="$H/bin:$PATH" "$H/bin/svscan" "$S" > "$T/svscan.out" 2>&1 &
SVSCAN=$!
i=0; until "$H/bin/svok" "$S/qmail" && "$H/bin/svok" "$S/smtpd" && "$H/bin/svok" "$S/smtpd/log"; do
  i=$((i+1)); [ $i -lt 500 ] || { echo "services did not come up"; break; }; sleep 0.02; done
i=0; until python3 -c "import socket;socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
  i=$((i+1)); [ $i -lt 200 ] || { echo "smtpd did not listen"; break; }; sleep 0.05; done
sleep 1
pstree -u -T -p -l $SVSCAN > "$T/pstree"
ps -o user=,comm= --ppid $SVSCAN >> "$T/pstree.ps" || true
tree_exes $SVSCAN > "$T/exes"
if [ -n "$MAILX" ]; then
  echo "The article's first message." | MAILRC="$T/mailrc" LD_LIBRARY_PATH="$MAILXLIB" "$MAILX" -s "test 1" root
else
  printf 'To: root\\nSubject: test 1\\n\\nThe article'"'"'s first message.\\n' | /usr/sbin/sendmail -t
fi
python3 -c "$SMTPPY" $PORT > "$T/smtp" 2>&1 || true
i=0; until [ "$(ls "$HOMEDIR/Maildir/new" | wc -l)" -ge 2 ] && [ -s "$T/sink/1.eml" ]; do
  i=$((i+1)); [ $i -lt 500 ] || { echo "mail did not arrive"; break; }; sleep 0.02; done
sleep 0.5
"$H/bin/svc" -dx "$S/qmail" "$S/smtpd" "$S/smtpd/log"
i=0; while "$H/bin/svok" "$S/qmail" || "$H/bin/svok" "$S/smtpd" || "$H/bin/svok" "$S/smtpd/log"; do
  i=$((i+1)); [ $i -lt 500 ] || break; sleep 0.02; done
kill $SVSCAN $SINKPID 2>/dev/null || true
sleep 0.3
kill $SYSLOGD 2>/dev/null || true
for p in $(ps -s $$ -o pid= 2>/dev/null); do [ "$p" = "$$" ] || kill -9 "$p" 2>/dev/null || true; done
echo done
`;
  const r = await run("unshare", ["-m", "--fork", "setsid", "bash", "-c", script], {
    env: {
      T: t,
      H,
      S,
      PORT: String(port),
      SINK,
      SMTPPY: smtpPy,
      HOMEDIR: home,
      MAILX: mailx?.bin ?? "",
      MAILXLIB: mailx?.lib ?? "",
      PATH: process.env.PATH ?? "/usr/bin:/bin",
    },
    extendEnv: false,
    timeout: 90_000,
  });
  const read = (f: string) => {
    try {
      return readFileSync(join(t, f), "latin1");
    } catch {
      return "";
    }
  };
  if (process.env.QTS_E2E_KEEP) runSync("cp", ["-a", t, process.env.QTS_E2E_KEEP]);
  const maildir = readdirSync(join(home, "Maildir/new")).map((f) =>
    readFileSync(join(home, "Maildir/new", f), "latin1"),
  );
  const sink = readdirSync(sinkDir)
    .filter((f) => f.endsWith(".eml"))
    .map((f) => readFileSync(join(sinkDir, f), "latin1"));
  return {
    t,
    out: `${r.stdout}${r.stderr}`,
    maillog: read("maillog"),
    pstree: read("pstree"),
    exes: read("exes"),
    called: read("originals-called"),
    smtp: read("smtp"),
    maildir,
    sink,
  };
}

describe.skipIf(!haveTools)("the article's service tree, end to end", () => {
  beforeAll(async () => {
    mailx = await fetchMailx();
    tree = await replay();
  }, 120_000);

  test("the run completes", () => {
    expect(tree?.out).toContain("done");
    expect(tree?.out).not.toContain("did not");
  });

  test("pstree -u shows the article's tree with names and uids", () => {
    const p = tree?.pstree ?? "";
    expect(p).toMatch(/^svscan\(\d+\)/);
    expect(p).toMatch(/supervise\(\d+\)---qmail-send\(\d+,qmails\)/);
    expect(p).toMatch(/qmail-clean\(\d+,qmailq\)/);
    expect(p).toMatch(/qmail-lspawn\(\d+,root\)/);
    expect(p).toMatch(/qmail-rspawn\(\d+,qmailr\)/);
    expect(p).toMatch(/qmail-queued\(\d+,qmailq\)/);
    expect(p).toMatch(/qmail-send\(\d+,qmails\)[\s\S]*splogger\(\d+,qmaill\)/);
    expect(p).toMatch(/supervise\(\d+\)---tcpserver\(\d+,qmaild\)/);
    // The template's QTS_PRESTART=1: one qmail-smtpd waits under tcpserver, as qmaild (its parent's uid).
    expect(p).toMatch(/tcpserver\(\d+,qmaild\)---qmail-smtpd\(\d+\)/);
    expect(p).toMatch(/supervise\(\d+\)---splogger\(\d+,qmaill\)/);
    expect(p).not.toContain("bun");
    expect((p.match(/supervise\(/g) ?? []).length).toBe(3);
  });

  test("no original ran, and every process of the tree is our executable (/proc/PID/exe)", () => {
    expect(tree?.called).toBe("");
    const lines = (tree?.exes ?? "").trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(11);
    for (const l of lines) expect(l).toEndWith(` ${join(tree?.t ?? "", "qmail/bin/qts")}`);
  });

  test('mail -s "test 1" root lands in the Maildir through ~alias/.qmail-root', () => {
    const m = tree?.maildir.find((x) => x.includes("Subject: test 1"));
    expect(m).toBeDefined();
    expect(m).toMatch(/^Return-Path: <[^>]*>\nDelivered-To: me@test\.example\n/);
    expect(m).toContain("Delivered-To: root@test.example\n");
    expect(m).toMatch(/Received: \(qmail \d+ invoked by uid 0\); /);
    expect(m).toContain("The article's first message.");
  });

  test("the forward to a remote address reaches the SMTP sink through smtproutes", () => {
    const m = tree?.sink.find((x) => x.includes("Subject: test 1"));
    expect(m).toBeDefined();
    expect(m).toContain("Delivered-To: root@test.example\r\n");
  });

  test("SMTP through tcpserver and qmail-smtpd: 250 for a local rcpt, 553 for a foreign domain", () => {
    expect(tree?.smtp).toBe(
      "ehlo 250\nmail 250 ok\nrcpt 250 ok\nrcpt 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\ndata 250 ok\n",
    );
    const m = tree?.maildir.find((x) => x.includes("Subject: over smtp"));
    expect(m).toBeDefined();
    expect(m).toMatch(/Received: \(qmail \d+ invoked from network\); /);
    expect(m).toMatch(/Received: from \S+ \(HELO client\.example\) \(127\.0\.0\.1\)\n {2}by \S+ with SMTP; /);
  });

  test("the maillog has the article's lines, through splogger and syslogd", () => {
    const log = tree?.maillog ?? "";
    const lines = log.split("\n");
    const has = (re: RegExp) => lines.some((l) => re.test(l));
    expect(has(/ qmail: \d+\.\d{6} status: local 0\/10 remote 0\/20$/)).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} new msg \d+$/)).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} info msg \d+: bytes \d+ from <[^>]*> qp \d+ uid 0$/)).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} starting delivery \d+: msg \d+ to local root@test\.example$/)).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} delivery \d+: success: did_0\+2\+0\/qp_\d+\/$/)).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} starting delivery \d+: msg \d+ to remote admin@remote\.example$/)).toBe(true);
    expect(
      has(
        / qmail: \d+\.\d{6} delivery \d+: success: 127\.0\.0\.1_accepted_message\.\/Remote_host_said:_250_accepted_\d+\/$/,
      ),
    ).toBe(true);
    expect(has(/ qmail: \d+\.\d{6} end msg \d+$/)).toBe(true);
    expect(has(/mail\.info qmail: /) || has(/ qmail: /)).toBe(true);
  });
});
