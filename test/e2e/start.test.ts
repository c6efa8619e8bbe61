// SPDX-License-Identifier: MIT
// make start (scripts/start.sh) as a new user meets it, with Debian's daemontools and ucspi-tcp
// masked by failing stubs in a private mount namespace: the tree comes up and answers on SMTP,
// every process of it runs our executable (/proc/PID/exe), mail to USER-ext reaches .qmail-ext,
// a second start in the same place says one is running and leaves it alone, a taken port is
// refused before the banner, and Ctrl-C (SIGINT) stops the whole tree.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
i=0; until [ "$(ls "$MH/Maildir/new" | wc -l)" -ge 2 ]; do i=$((i+1)); [ $i -lt 500 ] || break; sleep 0.02; done
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
      env: { T: t, ROOT, VAR: join(t, "var"), PORT: String(port), PATH: process.env.PATH ?? "/usr/bin:/bin" },
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

describe.skipIf(!have)("make start, with Debian's daemontools and ucspi-tcp masked", () => {
  beforeAll(async () => {
    out = await replay();
  }, 250_000);
  const o = () => out as Out;

  test("the banner comes once SMTP answers", () => {
    expect(o().log).toContain("done");
    expect(o().files["first.out"]).toContain("start: SMTP on 127.0.0.1:");
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
    ])
      expect(comms).toContain(c);
    for (const l of lines) expect(l).toEndWith(` ${join(o().t, "var/qmail/bin/qts")}`);
  });

  test("mail to USER-ext reaches .qmail-ext, by sendmail and by SMTP", () => {
    expect(o().files.assign).toMatch(/^\+[^:]+-:[^:]+:\d+:\d+:[^:]+:-::$/m);
    const subjects = o()
      .maildir.map((m) => /^Subject: (.*)$/m.exec(m)?.[1])
      .sort();
    expect(subjects).toEqual(["by sendmail to ext", "by smtp to ext"]);
  });

  test("a second make start in the same place says one runs (with its pid) and leaves it alone", () => {
    expect(o().files["second.rc"]?.trim()).toBe("111");
    expect(o().files["second.err"]).toMatch(
      /^start: fatal: a tree is already running under .* \(make start, pid \d+\)/,
    );
    expect(o().files["second.out"]).not.toContain("SMTP on");
    // The first tree still served the mail above.
    expect(o().maildir.length).toBe(2);
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
