// SPDX-License-Identifier: MIT
// svscan as process 1 (unshare -pf --mount-proc, as in a container): the article's tree comes up
// ready, delivers a message, reaps orphans, and on SIGTERM stops the services, then their loggers,
// and exits 0 with nothing lost: the message is in the Maildir and qmail-send's last lines are in
// its log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { freePort, kill, original, ROOT, run, start, tmp, waitFor } from "../lib/harness.ts";
import { qmailIds } from "../qmail/qmail-send.helpers.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const have = !!original("unshare");
let out: { code: number | null; stderr: string; t: string; home: string; zombies: number } | undefined;
const pids: number[] = [];
afterAll(() => {
  for (const p of pids) kill(p);
});

function childOf(pid: number): number | undefined {
  try {
    const c = readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(" ")[0];
    return c ? Number(c) : undefined;
  } catch {
    return undefined;
  }
}

/** Zombies whose parent is pid. */
function zombiesOf(pid: number): number {
  let n = 0;
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, "latin1");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      if (f[0] === "Z" && Number(f[1]) === pid) n++;
    } catch {}
  }
  return n;
}

describe.skipIf(!have)("svscan as process 1", () => {
  beforeAll(async () => {
    qmailIds();
    const t = tmp("qts-pid1-");
    chmodSync(t, 0o755);
    const H = join(t, "qmail");
    const S = join(t, "service");
    const L = join(t, "log");
    const r = await run(BUN, [join(ROOT, "scripts/setup.ts"), "--home", H, "--no-users", "--hardlink"], {
      timeout: 60_000,
    });
    if (r.code !== 0) throw new Error(r.stderr);
    await run(join(H, "bin/config-fast"), ["pid1.example"]);
    const nobody = getpwnam("nobody") as { uid: number; gid: number };
    const home = join(t, "home/me");
    mkdirSync(home, { recursive: true });
    await run(join(H, "bin/maildirmake"), [join(home, "Maildir")]);
    for (const p of [home, ...["", "new", "cur", "tmp"].map((d) => join(home, "Maildir", d))])
      chownSync(p, nobody.uid, nobody.gid);
    writeFileSync(join(H, "users/assign"), `=me:me:${nobody.uid}:${nobody.gid}:${home}:::\n.\n`);
    await run(join(H, "bin/qmail-newu"), [], { cwd: H });
    const port = await freePort();
    const sv = await run(BUN, [
      join(ROOT, "scripts/services.ts"),
      ...["--home", H, "--service", S, "--files", L, "--ip", "127.0.0.1", "--port", String(port)],
    ]);
    if (sv.code !== 0) throw new Error(sv.stderr);
    // A service that leaves an orphan behind: process 1 must reap it.
    mkdirSync(join(S, "orphans"));
    writeFileSync(join(S, "orphans/run"), "#!/bin/sh\n(sleep 0.2 &)\nexec sleep 1000\n", { mode: 0o755 });
    const proc = start("unshare", ["-pf", "--mount-proc", join(H, "bin/svscan"), S], {
      env: { PATH: `${H}/bin:/usr/bin:/bin` },
      extendEnv: false,
      cwd: S,
      stdio: ["ignore", "pipe", "pipe"],
    });
    pids.push(proc.pid);
    const svscan = (await waitFor(() => childOf(proc.pid), 5000)) as number;
    const up = await waitFor(
      async () =>
        (
          await run(join(H, "bin/svwait"), [
            "-U",
            "-t",
            "1000",
            join(S, "qmail"),
            join(S, "smtpd"),
            join(S, "smtpd/log"),
          ])
        ).code === 0,
      30_000,
    );
    if (!up) throw new Error("the tree did not become ready");
    const inj = await run(join(H, "bin/sendmail"), ["me"], { input: "Subject: pid1\n\nbody\n", env: { QMAILHOME: H } });
    if (inj.code !== 0) throw new Error(inj.stderr);
    await waitFor(() => readdirSync(join(home, "Maildir/new")).length > 0, 20_000);
    await Bun.sleep(1000);
    const zombies = zombiesOf(svscan);
    kill(svscan, "SIGTERM");
    const code = await Promise.race([proc.exited.then((r) => r.code), Bun.sleep(40_000).then(() => null)]);
    out = { code, stderr: proc.stderr(), t, home, zombies };
  }, 120_000);

  test("SIGTERM: every service stopped, exit 0", () => {
    expect(out?.stderr).toContain("svscan: info: SIGTERM: every service stopped\n");
    expect(out?.code).toBe(0);
  });

  test("orphans are reaped", () => {
    expect(out?.zombies).toBe(0);
  });

  test("nothing lost: the message delivered, and qmail-send's last lines in its log", () => {
    const files = readdirSync(join(out?.home ?? "", "Maildir/new"));
    expect(files.length).toBe(1);
    const log = readFileSync(join(out?.t ?? "", "log/qmail/current"), "latin1");
    expect(log).toMatch(/delivery \d+: success: did_1\+0\+0\//);
    expect(log).toMatch(/status: exiting\n$/);
  });
});
