// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IDS_FILE, nssIds, parseIds, qmailIds } from "@qts/qmail/lib/ids";
import { getpwnam } from "@qts/sys/pwd";
import { ROOT, run, runSync, tmp } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const SETUP = join(ROOT, "scripts/setup.ts");

export async function setup(home: string, ...extra: string[]) {
  return await run(BUN, [SETUP, "--home", home, "--no-users", "--hardlink", ...extra], { timeout: 60_000 });
}

function check(path: string, uid: number, gid: number, mode: number, kind: "d" | "f" | "p" = "d") {
  const st = lstatSync(path);
  expect({ path, uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8) }).toEqual({
    path,
    uid,
    gid,
    mode: mode.toString(8),
  });
  if (kind === "d") expect(st.isDirectory()).toBe(true);
  if (kind === "f") expect(st.isFile()).toBe(true);
  if (kind === "p") expect(st.isFIFO()).toBe(true);
}

function checkTree(home: string) {
  const ids = nssIds();
  const u = ids.uid;
  const g = ids.gid.qmail;
  check(home, 0, g, 0o755);
  for (const d of ["control", "users", "bin", "boot"]) check(join(home, d), 0, g, 0o755);
  check(join(home, "alias"), u.alias, g, 0o2755);
  const q = join(home, "queue");
  check(q, u.qmailq, g, 0o750);
  check(join(q, "pid"), u.qmailq, g, 0o700);
  check(join(q, "intd"), u.qmailq, g, 0o700);
  check(join(q, "todo"), u.qmailq, g, 0o750);
  check(join(q, "bounce"), u.qmails, g, 0o700);
  for (const [base, uid, mode] of [
    ["mess", u.qmailq, 0o750],
    ["info", u.qmails, 0o700],
    ["local", u.qmails, 0o700],
    ["remote", u.qmails, 0o700],
  ] as const) {
    check(join(q, base), uid, g, mode);
    for (let i = 0; i < 23; i++) check(join(q, base, String(i)), uid, g, mode);
    expect(() => lstatSync(join(q, base, "23"))).toThrow();
  }
  check(join(q, "lock"), u.qmailq, g, 0o750);
  check(join(q, "lock/tcpto"), u.qmailr, g, 0o644, "f");
  check(join(q, "lock/sendmutex"), u.qmails, g, 0o600, "f");
  expect(lstatSync(join(q, "lock/sendmutex")).size).toBe(0);
  check(join(q, "lock/trigger"), u.qmails, g, 0o622, "p");
  check(join(home, "queued"), u.qmailq, g, 0o755);
  check(join(home, "queued/drop"), u.qmailq, g, 0o3733);
  // qmail-authd's socket directory: root and qmaild's group (nofiles) only (qmail-authd(8))
  check(join(home, "authd"), 0, ids.gid.nofiles, 0o750);
  for (const b of ["home", "home+df", "proc", "proc+df", "binm1", "binm1+df", "binm2", "binm2+df", "binm3", "binm3+df"])
    check(join(home, "boot", b), 0, g, 0o755, "f");
  expect(lstatSync(join(home, "bin/qts")).isFile()).toBe(true);
  for (const f of readdirSync(join(ROOT, "bin")))
    if (lstatSync(join(ROOT, "bin", f)).isSymbolicLink()) expect(readlinkSync(join(home, "bin", f))).toBe("qts");
  expect(readFileSync(join(home, "bin/.qmail-home"), "utf8")).toBe(`${home}\n`);
}

describe("setup", () => {
  test("creates qmail's tree with hier.c's owners and modes; a second run keeps control files and mail", async () => {
    const home = join(tmp(), "qmail");
    const r = await setup(home);
    expect(r).toMatchObject({ code: 0, stdout: `setup: ${home} ready\n` });
    checkTree(home);
    expect(readFileSync(join(home, "queue/lock/tcpto"))).toEqual(Buffer.alloc(1024));
    expect(readFileSync(join(home, "boot/home"), "utf8")).toBe(
      `#!/bin/sh\n\n# Using splogger to send the log through syslog.\n# Using qmail-local to deliver messages to ~/Mailbox by default.\n\nexec env - PATH="${home}/bin:$PATH" \\\nqmail-start ./Mailbox splogger qmail\n`,
    );
    expect(readFileSync(join(home, "boot/binm2"), "utf8")).toBe(
      `#!/bin/sh\n\n# Using splogger to send the log through syslog.\n# Using binmail to deliver messages to /var/spool/mail/$USER by default.\n# Using SVR4 binmail interface: /bin/mail -r\n\nexec env - PATH="${home}/bin:$PATH" \\\nqmail-start \\\n'|preline -f /bin/mail -r "\${SENDER:-MAILER-DAEMON}" -d "$USER"' \\\nsplogger qmail\n`,
    );
    expect(parseIds(readFileSync(join(home, "bin", IDS_FILE), "utf8"))).toEqual(nssIds());

    // State a running system has: control files, queued mail, a used tcpto.
    writeFileSync(join(home, "control/me"), "example.org\n");
    writeFileSync(join(home, "queue/mess/5/12345"), "Received: x\n\nbody\n");
    writeFileSync(join(home, "queue/todo/12345"), "u0\0p1\0Fa@b\0Tc@d\0");
    const tcpto = Buffer.alloc(1024, 7);
    writeFileSync(join(home, "queue/lock/tcpto"), tcpto);
    const r2 = await setup(home);
    expect(r2.code).toBe(0);
    checkTree(home);
    expect(readFileSync(join(home, "control/me"), "utf8")).toBe("example.org\n");
    expect(readFileSync(join(home, "queue/mess/5/12345"), "utf8")).toBe("Received: x\n\nbody\n");
    expect(readFileSync(join(home, "queue/todo/12345"), "latin1")).toBe("u0\0p1\0Fa@b\0Tc@d\0");
    expect(readFileSync(join(home, "queue/lock/tcpto"))).toEqual(tcpto);
  }, 60_000);

  test("--ids-user maps every qmail user and group to one account", async () => {
    const home = join(tmp(), "qmail");
    const nobody = getpwnam("nobody");
    if (!nobody) throw new Error("no nobody user");
    const r = await setup(home, "--ids-user", "nobody");
    expect(r.code).toBe(0);
    const ids = qmailIds(home);
    expect(new Set(Object.values(ids.uid))).toEqual(new Set([nobody.uid]));
    expect(new Set(Object.values(ids.gid))).toEqual(new Set([nobody.gid]));
    check(join(home, "queue"), nobody.uid, nobody.gid, 0o750);
    check(join(home, "queue/lock/trigger"), nobody.uid, nobody.gid, 0o622, "p");
    check(join(home, "alias"), nobody.uid, nobody.gid, 0o2755);
  }, 60_000);

  test("run by an ordinary user: every qmail id is that user, and qmail-queue writes the queue as it", async () => {
    const top = tmp();
    chmodSync(top, 0o777);
    const home = join(top, "qmail");
    const nobody = getpwnam("nobody");
    if (!nobody) throw new Error("no nobody user");
    const r = runSync(BUN, [SETUP, "--home", home, "--hardlink"], {
      uid: nobody.uid,
      gid: nobody.gid,
      cwd: "/",
      timeout: 60_000,
    });
    expect(r.stdout).toBe(`setup: ${home} ready\n`);
    expect(r.code).toBe(0);
    expect(parseIds(readFileSync(join(home, "bin", IDS_FILE), "utf8")).uid.qmailq).toBe(nobody.uid);
    check(join(home, "queue/todo"), nobody.uid, nobody.gid, 0o750);
    check(join(home, "queued/drop"), nobody.uid, nobody.gid, 0o3733);
    const env = join(top, "env");
    writeFileSync(env, "Fa@b\0Tc@d\0\0");
    const q = runSync("sh", ["-c", `echo hi | ${home}/bin/qmail-queue 1<${env}`], {
      uid: nobody.uid,
      gid: nobody.gid,
      timeout: 20_000,
    });
    expect(q.code).toBe(0);
    expect(readdirSync(join(home, "queue/todo"))).toHaveLength(1);
  }, 60_000);

  test("unknown option: 111", async () => {
    const r = await run(BUN, [SETUP, "--bogus"]);
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("setup: fatal: Unknown argument: bogus\n");
  });
});

describe("setup on a machine where qmail's users exist already", () => {
  test("alias with another home: a warning that says where the aliases are read", async () => {
    qmailIds();
    const alias = getpwnam("alias");
    const home = tmp("qts-setup-");
    // No --no-users: the users exist, so nothing is created, and their homes are compared.
    const r = await run(BUN, [SETUP, "--home", home, "--hardlink"], { timeout: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `setup: warning: user alias exists with home ${alias?.dir}, not ${home}/alias: aliases (.qmail-root, .qmail-postmaster, ...) are read from ${alias?.dir};`,
    );
    expect(r.stderr).toContain(`setup: note: user qmaild exists with home `);
  });
});

describe("services (make setup SERVICE=) run again", () => {
  const SERVICES = join(ROOT, "scripts/services.ts");
  test("keeps a changed run script (the template's goes to run.new) and each down file or its absence", async () => {
    const home = tmp("qts-setup-");
    expect((await setup(home)).code).toBe(0);
    const sv = join(tmp("qts-sv-"), "service");
    const args = [SERVICES, "--home", home, "--service", sv, "--down", "--keep"];
    const first = await run(BUN, args);
    expect(first.code).toBe(0);
    for (const d of ["qmail", "smtpd", "smtpd/log"]) expect(lstatSync(join(sv, d, "down")).isFile()).toBe(true);
    const template = readFileSync(join(sv, "smtpd/run"), "utf8");
    const mine = template.replace("tcpserver -UDHRQ", "tcpserver -c 100 -UDHRQ");
    writeFileSync(join(sv, "smtpd/run"), mine);
    rmSync(join(sv, "qmail/down"));
    const again = await run(BUN, args);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(
      `services: warning: ${sv}/smtpd/run differs from the template: kept it; the template's is ${sv}/smtpd/run.new\n`,
    );
    expect(readFileSync(join(sv, "smtpd/run"), "utf8")).toBe(mine);
    expect(readFileSync(join(sv, "smtpd/run.new"), "utf8")).toBe(template);
    expect(() => lstatSync(join(sv, "qmail/down"))).toThrow();
    expect(lstatSync(join(sv, "smtpd/down")).isFile()).toBe(true);
    expect(readFileSync(join(sv, "qmail/run"), "utf8")).toContain("qmail-start");
  });
});
