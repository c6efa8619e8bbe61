// SPDX-License-Identifier: MIT
// make start (scripts/start.sh) as a new user meets it, with Debian's daemontools and ucspi-tcp
// masked by failing stubs in a private mount namespace: the tree comes up and answers on SMTP,
// every process of it runs our executable (/proc/PID/exe), mail to USER-ext reaches .qmail-ext,
// a second start in the same place says one is running and leaves it alone, a taken port is
// refused before the banner, and Ctrl-C (SIGINT) stops the whole tree.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { freePort, original, ROOT, run, runSync, TREE_SH, tmp } from "../lib/harness.ts";

const have = !!(original("unshare") && original("python3"));

interface Out {
  t: string;
  log: string;
  files: Record<string, string>;
  maildir: string[];
}
let out: Out | undefined;

async function replay(): Promise<Out> {
  const t = tmp("qts-start-");
  chmodSync(t, 0o755);
  const port = await freePort();
  const script = `${TREE_SH}
set -u
mount --make-rprivate /
mask_originals "$T"
V="$T/var"
# The first tree, as make start runs it: a job of its own with job control on, so that SIGINT
# reaches it as Ctrl-C would (without job control, background jobs ignore SIGINT).
set -m
bash "$ROOT/scripts/start.sh" > "$T/first.out" 2> "$T/first.err" < /dev/null &
FIRST=$!
i=0; until grep -q 'Ctrl-C stops everything' "$T/first.out" 2>/dev/null; do
  i=$((i+1)); [ $i -lt 1200 ] || { echo "no banner"; break; }; kill -0 $FIRST 2>/dev/null || break; sleep 0.1; done
# A second start in the same VAR.
bash "$ROOT/scripts/start.sh" > "$T/second.out" 2> "$T/second.err" < /dev/null; echo $? > "$T/second.rc"
# Another VAR, the same port.
VAR="$T/var2" bash "$ROOT/scripts/start.sh" > "$T/port.out" 2> "$T/port.err" < /dev/null; echo $? > "$T/port.rc"
NAME=$(id -un)
MH="$V/home/$NAME"
echo ./Maildir/ > "$MH/.qmail-ext"; chmod 644 "$MH/.qmail-ext"
printf 'Subject: by sendmail to ext\\n\\nhi\\n' | "$V/qmail/bin/sendmail" "$NAME-ext"
python3 -c '
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("a@b.example", [sys.argv[2] + "-ext@localhost"], b"Subject: by smtp to ext\\r\\n\\r\\nhi\\r\\n")
s.quit()' "$PORT" "$NAME" > "$T/smtp.out" 2>&1
# SMTP AUTH on the submission port with a system account's password (qmail-authd checks it for
# checkpassword, which runs as qmaild), then a wrong one.
swaks --server "127.0.0.1:$SUBPORT" --tls --auth PLAIN --auth-user "$AUSER" --auth-password "$APASS" \
  --from a@b.example --to "$NAME@localhost" --header "Subject: by submission" > "$T/swaks-ok.out" 2>&1
echo $? > "$T/swaks-ok.rc"
swaks --server "127.0.0.1:$SUBPORT" --tls --auth PLAIN --auth-user "$AUSER" --auth-password "$APASS-wrong" \
  --from a@b.example --to "$NAME@localhost" --header "Subject: wrong password" > "$T/swaks-bad.out" 2>&1
echo $? > "$T/swaks-bad.rc"
i=0; until [ "$(ls "$MH/Maildir/new" | wc -l)" -ge 3 ]; do i=$((i+1)); [ $i -lt 500 ] || break; sleep 0.02; done
cp "$V/log/authd/current" "$T/authd.log" 2>/dev/null
SVSCAN=$(pgrep -P $FIRST -x svscan || pgrep -s $FIRST -x svscan | head -1)
tree_exes "$SVSCAN" > "$T/exes"
cp "$V/qmail/users/assign" "$T/assign"
kill -INT -$FIRST
i=0; while kill -0 $FIRST 2>/dev/null; do i=$((i+1)); [ $i -lt 300 ] || break; sleep 0.1; done
echo $? > "$T/first.rc"
tree_exes "$SVSCAN" > "$T/exes-after"
for p in $(ps -s $FIRST -o pid= 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
echo done
`;
  writeFileSync(join(t, "script.sh"), script);
  // The script's output goes to a file (trace): nothing of the tree can hold the runner's pipes.
  const r = await run(
    "unshare",
    ["-m", "--fork", "sh", "-c", 'exec bash -x "$T/script.sh" > "$T/trace" 2>&1 < /dev/null'],
    {
      env: {
        T: t,
        ROOT,
        VAR: join(t, "var"),
        PORT: String(port),
        SUBPORT: String(await freePort()),
        SMTPSPORT: String(await freePort()),
        AUSER,
        APASS,
        PATH: process.env.PATH ?? "/usr/bin:/bin",
      },
      extendEnv: false,
      timeout: 240_000,
    },
  );
  const files: Record<string, string> = {};
  for (const f of readdirSync(t)) {
    try {
      files[f] = readFileSync(join(t, f), "latin1");
    } catch {}
  }
  const name = (files.assign ?? "").split(":")[1] ?? "";
  const md = join(t, "var/home", name, "Maildir/new");
  let maildir: string[] = [];
  try {
    maildir = readdirSync(md).map((f) => readFileSync(join(md, f), "latin1"));
  } catch {}
  if (process.env.QTS_E2E_KEEP) runSync("cp", ["-a", t, process.env.QTS_E2E_KEEP]);
  return { t, log: `${r.stdout}${r.stderr}${files.trace ?? ""}`, files, maildir };
}

/** A system account for SMTP AUTH on the submission port (useradd + chpasswd), removed afterwards. */
const AUSER = "qtsau_start";
const APASS = "sub mission";

describe.skipIf(!have)("make start, with Debian's daemontools and ucspi-tcp masked", () => {
  beforeAll(async () => {
    runSync("userdel", [AUSER]);
    runSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", AUSER]);
    runSync("chpasswd", [], { input: `${AUSER}:${APASS}\n` });
    out = await replay();
  }, 250_000);
  afterAll(() => {
    runSync("userdel", [AUSER]);
  });
  const o = () => out as Out;

  test("the banner comes once SMTP answers", () => {
    expect(o().log).toContain("done");
    // with its stderr, so that a failure shows why
    expect(`${o().files["first.out"]}\n--- first.err:\n${o().files["first.err"]}`).toContain(
      "start: SMTP on 127.0.0.1:",
    );
  });

  test("no original ran, and every process of the tree is our executable", () => {
    expect(o().files["originals-called"]).toBeUndefined();
    const lines = (o().files.exes ?? "").trim().split("\n");
    const comms = lines.map((l) => l.split(" ")[1]);
    for (const c of [
      "svscan",
      "supervise",
      "qmail-send",
      "qmail-lspawn",
      "qmail-rspawn",
      "qmail-clean",
      "tcpserver",
      "multilog",
      "qmail-authd",
    ])
      expect(comms).toContain(c);
    for (const l of lines) expect(l).toEndWith(` ${join(o().t, "var/qmail/bin/qts")}`);
  });

  test("mail to USER-ext reaches .qmail-ext, by sendmail and by SMTP", () => {
    expect(o().files.assign).toMatch(/^\+[^:]+-:[^:]+:\d+:\d+:[^:]+:-::$/m);
    const subjects = o()
      .maildir.map((m) => /^Subject: (.*)$/m.exec(m)?.[1])
      .sort();
    expect(subjects).toEqual(["by sendmail to ext", "by smtp to ext", "by submission"]);
  });

  test("submission: AUTH PLAIN after STARTTLS with a system account's password (235) delivers; a wrong one gets 535", () => {
    expect(o().files["first.out"]).toContain("STARTTLS, then AUTH with a system account's password (not root's)");
    expect(o().files["swaks-ok.rc"]?.trim()).toBe("0");
    expect(o().files["swaks-ok.out"]).toContain("<~  235 ");
    expect(o().files["swaks-bad.rc"]?.trim()).not.toBe("0");
    expect(o().files["swaks-bad.out"]).toContain("<~* 535 ");
    // checkpassword asked as qmaild (or nobody, when qmail's users do not exist), never as root
    const uid = getpwnam("qmaild")?.uid ?? getpwnam("nobody")?.uid;
    expect(o().files["authd.log"]).toContain(`qmail-authd: info: uid ${uid} name ${AUSER} ok`);
    expect(o().files["authd.log"]).toContain(`name ${AUSER} failed (wrong password)`);
    expect(o().files["authd.log"]).not.toContain(APASS);
  });

  test("a second make start in the same place says one runs (with its pid) and leaves it alone", () => {
    expect(o().files["second.rc"]?.trim()).toBe("111");
    expect(o().files["second.err"]).toMatch(
      /^start: fatal: a tree is already running under .* \(make start, pid \d+\)/,
    );
    expect(o().files["second.out"]).not.toContain("SMTP on");
    // The first tree still served the mail above.
    expect(o().maildir.length).toBe(3);
  });

  test("a taken port is refused before the banner", () => {
    expect(o().files["port.rc"]?.trim()).toBe("111");
    expect(o().files["port.err"]).toContain("start: fatal: port ");
    expect(o().files["port.err"]).toContain("is not free");
    expect(o().files["port.out"] ?? "").not.toContain("SMTP on");
  });

  test("Ctrl-C stops the whole tree", () => {
    expect(o().files["first.out"]).toContain("start: stopped");
    expect((o().files["exes-after"] ?? "").trim()).toBe("");
  });
});
