// SPDX-License-Identifier: MIT
// The delivery side with every real program: a home made by scripts/setup.ts,
// qmail-start with qmail-local, qmail-queue/qmail-queued (bounces from qmails
// go through qmail-queued), qmail-inject. TEST.deliver's local,
// nonexistent-user and double-bounce cases.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run, runSync, type Started, start, tmp, waitFor } from "../lib/harness.ts";
import { qmailIds } from "./qmail-send.helpers.ts";

setDefaultTimeout(60_000);

const NOBODY = 65534;
let home: string;
let meHome: string;
let child: Started;

const lines = () => (child ? child.all("latin1") : "").split("\n").filter((l) => l);
const waitLine = (re: RegExp, from = 0) =>
  waitFor(
    () =>
      lines()
        .slice(from)
        .some((l) => re.test(l)),
    15000,
  );
const maildir = (dir: string) =>
  readdirSync(join(dir, "Maildir/new"))
    .sort()
    .map((f) => readFileSync(join(dir, "Maildir/new", f), "latin1"));

function mkMaildir(dir: string, uid: number, gid: number): void {
  for (const d of ["", "tmp", "new", "cur"]) {
    mkdirSync(join(dir, "Maildir", d), { recursive: true });
    chownSync(join(dir, "Maildir", d), uid, gid);
    chmodSync(join(dir, "Maildir", d), 0o700);
  }
}

async function inject(from: string, to: string, body: string): Promise<void> {
  const r = await run(join(home, "bin/qmail-inject"), [`-f${from}`, to], {
    input: body,
    env: { PATH: "/usr/bin:/bin" },
  });
  expect(r).toMatchObject({ code: 0, stderr: "" });
}

beforeAll(async () => {
  const ids = qmailIds();
  const base = tmp("qts-e2e-");
  chmodSync(base, 0o755);
  home = join(base, "q");
  const s = runSync(
    join(ROOT, "node_modules/.bin/bun"),
    [join(ROOT, "scripts/setup.ts"), "--home", home, "--hardlink"],
    {
      timeout: 120_000,
    },
  );
  expect(s.code).toBe(0);
  writeFileSync(join(home, "control/me"), "domain.test\n");
  writeFileSync(join(home, "control/locals"), "domain.test\n");
  meHome = join(base, "me");
  mkdirSync(meHome);
  chownSync(meHome, NOBODY, NOBODY);
  mkMaildir(meHome, NOBODY, NOBODY);
  mkMaildir(join(home, "alias"), ids.alias, ids.nofiles);
  writeFileSync(join(home, "alias/.qmail-postmaster"), "");
  chmodSync(join(home, "alias/.qmail-postmaster"), 0o644);
  writeFileSync(
    join(home, "users/assign"),
    `=me:nobody:${NOBODY}:${NOBODY}:${meHome}:::\n+:alias:${ids.alias}:${ids.nofiles}:${home}/alias:-::\n.\n`,
  );
  expect((await run(join(home, "bin/qmail-newu"), [])).code).toBe(0);
  child = start(join(home, "bin/qmail-start"), ["./Maildir/"], {
    cwd: "/",
    env: { PATH: `${join(home, "bin")}:/usr/bin:/bin` },
    extendEnv: false,
    stdio: ["ignore", "pipe", "pipe"],
  });
  expect(await waitLine(/^status: local 0\/10 remote 0\/20$/)).toBe(true);
});

afterAll(async () => {
  child.kill("SIGTERM");
  await child.wait(8000);
});

describe("qmail-send with the real programs", () => {
  test("D3 local -> local: into ~me/Maildir, the article's log lines", async () => {
    const n = lines().length;
    await inject("me@domain.test", "me@domain.test", "To: me@domain.test\nSubject: d3\n\nhello\n");
    expect(await waitLine(/^end msg \d+$/, n)).toBe(true);
    const l = lines().slice(n);
    const id = /^new msg (\d+)$/.exec(l[0] ?? "")?.[1];
    expect(l).toEqual([
      `new msg ${id}`,
      expect.stringMatching(new RegExp(`^info msg ${id}: bytes \\d+ from <me@domain.test> qp \\d+ uid 0$`)),
      `starting delivery 1: msg ${id} to local me@domain.test`,
      "status: local 1/10 remote 0/20",
      "delivery 1: success: did_1+0+0/",
      "status: local 0/10 remote 0/20",
      `end msg ${id}`,
    ]);
    const m = maildir(meHome);
    expect(m.length).toBe(1);
    expect(m[0]).toMatch(
      /^Return-Path: <me@domain.test>\nDelivered-To: me@domain.test\nReceived: \(qmail \d+ invoked by uid 0\);/,
    );
    expect(m[0]).toContain("Subject: d3\n");
  });

  test("D4 local -> nonexistent: failure, bounce msg, then the bounce arrives from <> to me", async () => {
    const n = lines().length;
    await inject("me@domain.test", "nonexistent@domain.test", "To: nonexistent@domain.test\nSubject: d4\n\nlost\n");
    expect(await waitLine(/^delivery \d+: success: did_1\+0\+0\/$/, n + 3)).toBe(true);
    const l = lines().slice(n);
    expect(l).toContain("delivery 2: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/");
    const id = /^new msg (\d+)$/.exec(l[0] ?? "")?.[1];
    expect(l.some((x) => new RegExp(`^bounce msg ${id} qp \\d+$`).test(x))).toBe(true);
    expect(await waitLine(/^info msg \d+: bytes \d+ from <> qp \d+ uid \d+$/, n)).toBe(true);
    const m = maildir(meHome);
    const b = m[m.length - 1] as string;
    expect(b).toMatch(/^Return-Path: <>\nDelivered-To: me@domain.test\n/);
    expect(b).toContain(
      "\nFrom: MAILER-DAEMON@domain.test\nTo: me@domain.test\nSubject: failure notice\n\nHi. This is the qmail-send program at domain.test.\n",
    );
    expect(b).toContain(
      "<nonexistent@domain.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <me@domain.test>\n",
    );
    expect(b).toContain("Subject: d4\n");
  });

  test("D7 double bounce: the bounce to a nonexistent sender goes to postmaster (~alias/Maildir)", async () => {
    const n = lines().length;
    await inject(
      "nonexistent@domain.test",
      "unknownuser@domain.test",
      "To: unknownuser@domain.test\nSubject: d7\n\nlost twice\n",
    );
    expect(await waitFor(() => readdirSync(join(home, "alias/Maildir/new")).length > 0, 15000)).toBe(true);
    const b = maildir(join(home, "alias"))[0] as string;
    expect(b).toMatch(/^Return-Path: <#@\[\]>\nDelivered-To: postmaster@domain.test\n/);
    expect(b).toContain("\nTo: postmaster@domain.test\nSubject: failure notice\n");
    expect(b).toContain("I tried to deliver a bounce message to this address, but the bounce bounced!\n\n");
    expect(b).toContain("<nonexistent@domain.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n");
    expect(b).toContain("--- Below this line is the original bounce.\n\nReturn-Path: <>\n");
    expect(b).toContain("<unknownuser@domain.test>:\n");
    expect(b).toContain("Subject: d7\n");
    expect(
      lines()
        .slice(n)
        .some((l) => /^info msg \d+: bytes \d+ from <#@\[\]> qp \d+ uid \d+$/.test(l)),
    ).toBe(true);
  });

  test("addresses that are not UTF-8: qmail-queue -> qmail-send -> qmail-lspawn -> qmail-local, bytes kept", async () => {
    const ids = qmailIds();
    const alias = join(home, "alias");
    for (const d of ["", "tmp", "new", "cur"]) {
      mkdirSync(join(alias, "Maildir8", d), { recursive: true });
      chownSync(join(alias, "Maildir8", d), ids.alias, ids.nofiles);
    }
    writeFileSync(Buffer.from(join(alias, ".qmail-a\xe9\xff"), "latin1"), "./Maildir8/\n");
    chmodSync(Buffer.from(join(alias, ".qmail-a\xe9\xff"), "latin1"), 0o644);
    const dir = tmp("qts-e2e8-");
    writeFileSync(join(dir, "msg"), "Subject: 8bit\n\nbody\n");
    writeFileSync(join(dir, "env"), Buffer.from("Fs\xe9\xff@x.org\0TA\xe9\xff@domain.test\0\0", "latin1"));
    const n = lines().length;
    const q = runSync(
      "/bin/sh",
      ["-c", 'exec "$0" < "$1" 1< "$2"', join(home, "bin/qmail-queue"), join(dir, "msg"), join(dir, "env")],
      {
        timeout: 20_000,
      },
    );
    expect(q.code).toBe(0);
    // The log shows bytes outside 33..126 as "_" (logsafe). Wait for this delivery's own success line:
    // the previous test's last one may still be logged after n.
    const start = /^starting delivery (\d+): msg \d+ to local A__@domain\.test$/;
    expect(await waitLine(start, n)).toBe(true);
    const d = lines()
      .slice(n)
      .map((l) => start.exec(l)?.[1])
      .find((x) => x !== undefined);
    expect(await waitLine(new RegExp(`^delivery ${d}: success: did_1\\+0\\+0/$`), n)).toBe(true);
    const files = readdirSync(join(alias, "Maildir8/new"));
    expect(files.length).toBe(1);
    const m = readFileSync(join(alias, "Maildir8/new", files[0] as string), "latin1");
    expect(m).toMatch(/^Return-Path: <"s\xe9\xff"@x.org>\nDelivered-To: A\xe9\xff@domain.test\nReceived: /);
  });
  test("qp: two messages of one qmail-smtpd session have their own, the same in 250 and in info msg", async () => {
    const n = lines().length;
    const one = "MAIL FROM:<me@domain.test>\r\nRCPT TO:<me@domain.test>\r\nDATA\r\nSubject: qp\r\n\r\nx\r\n.\r\n";
    const r = await run(join(home, "bin/qmail-smtpd"), [], {
      input: `HELO c\r\n${one}${one}QUIT\r\n`,
      env: { PATH: "/usr/bin:/bin", RELAYCLIENT: "" },
    });
    expect(r.code).toBe(0);
    const qps = [...r.stdout.matchAll(/250 ok \d+ qp (\d+)\r\n/g)].map((m) => m[1]);
    expect(qps).toHaveLength(2);
    expect(qps[0]).not.toBe(qps[1]);
    for (const qp of qps)
      expect(await waitLine(new RegExp(`^info msg \\d+: bytes \\d+ from <me@domain\\.test> qp ${qp} uid 0$`), n)).toBe(
        true,
      );
  });
});
