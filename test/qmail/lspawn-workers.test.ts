// SPDX-License-Identifier: MIT
// qmail-lspawn with QTS_LOCALWORKERS: long-lived qmail-local -W workers per user (qmail-lspawn(8),
// "Delivery workers"). Each delivery must see exactly what a qmail-local of its own would see.
import { afterAll, describe, expect, test } from "bun:test";

import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { cdbBuild } from "@qts/cdb/cdb";
import { getpwnam } from "@qts/sys/pwd";
import { kill, ours, run, runSync, waitFor } from "../lib/harness.ts";
import { type Home, inject, makeHome, messid, NOBODY, SpawnerProc } from "./qmail-send.helpers.ts";

const started: SpawnerProc[] = [];
const madeUsers: string[] = [];
afterAll(() => {
  for (const p of started) kill(p.child.pid);
  for (const u of madeUsers) runSync("userdel", [u]);
});

/** A home whose bin/qmail-local is ours, nobody's Maildir, and "other-*" delivered as the alias user. */
function home(): Home & { otherHome: string } {
  const h = makeHome();
  rmSync(join(h.dir, "bin/qmail-local"));
  symlinkSync(ours("qmail-local"), join(h.dir, "bin/qmail-local"));
  const maildir = (dir: string, uid: number) => {
    for (const d of ["Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"]) {
      mkdirSync(join(dir, d));
      chownSync(join(dir, d), uid, uid === NOBODY ? NOBODY : h.ids.nofiles);
    }
    writeFileSync(join(dir, ".qmail-default"), "./Maildir/\n");
  };
  maildir(h.userHome, NOBODY);
  const otherHome = join(h.dir, "other");
  mkdirSync(otherHome);
  chownSync(otherHome, h.ids.alias, h.ids.nofiles);
  maildir(otherHome, h.ids.alias);
  const v = (u: string, uid: number, gid: number, dir: string) => Buffer.from(`${u}\0${uid}\0${gid}\0${dir}\0-\0`);
  writeFileSync(
    join(h.dir, "users/cdb"),
    cdbBuild([
      ["", "-"],
      ["!other-", v("alias", h.ids.alias, h.ids.nofiles, otherHome)],
      ["!", v("nobody", NOBODY, NOBODY, h.userHome)],
    ]),
  );
  return { ...h, otherHome };
}

function spawner(h: Home, env: Record<string, string>): SpawnerProc {
  const p = new SpawnerProc(ours("qmail-lspawn"), ["./Maildir/"], h, env);
  started.push(p);
  return p;
}

async function deliver(p: SpawnerProc, h: Home, recip: string, sender = "me@domain"): Promise<string> {
  const id = inject(h, sender, [recip], "Subject: t\n\nbody\n", { trigger: false });
  const before = p.reports().length;
  p.send(0, messid(id), sender, recip);
  const r = await p.waitReports(before + 1, 20000);
  return r[before]?.[1] ?? "";
}

/** The qmail-local children of pid: [pid, argv]. */
function locals(pid: number, comm = "qmail-local"): [number, string[]][] {
  const out: [number, string[]][] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    let kids = "";
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8");
    } catch {}
    for (const k of kids.split(" ").filter(Boolean)) {
      try {
        const argv = readFileSync(`/proc/${k}/cmdline`, "latin1").split("\0").slice(0, -1);
        // An empty cmdline is a child caught in the middle of its exec: the next look sees it whole.
        if (argv.length > 0 && readFileSync(`/proc/${k}/comm`, "utf8").trim() === comm) out.push([Number(k), argv]);
      } catch {}
    }
  }
  return out;
}

function status(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return (line ?? "")
    .slice(field.length + 1)
    .trim()
    .split(/\s+/)
    .join(" ");
}

// What a program delivery sees: environment, cwd, umask, ids and open descriptors.
const PROBE = `|{ env | sort; pwd; umask; id; ls /proc/$$/fd; } > probe.$EXT.$$; mv probe.$EXT.$$ probe.$EXT\n`;

describe("qmail-lspawn delivery workers", () => {
  test("deliveries into a Maildir through one worker, running as the user with the user's ids", async () => {
    const h = home();
    const p = spawner(h, { QTS_LOCALWORKERS: "30" });
    expect(await deliver(p, h, "a@domain")).toBe("Kdid 1+0+0\n");
    const w = locals(p.child.pid as number);
    expect(w.length).toBe(1);
    const [pid, argv] = w[0] as [number, string[]];
    expect(argv).toEqual(["bin/qmail-local", "-W"]);
    expect(status(pid, "Uid")).toBe(`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`);
    expect(status(pid, "Gid")).toBe(`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`);
    expect(status(pid, "Groups")).toBe(`${NOBODY}`);
    // Three more in the same second: each its own file, by the same worker.
    for (const r of ["b@domain", "c@domain", "d@domain"]) expect(await deliver(p, h, r)).toBe("Kdid 1+0+0\n");
    expect(locals(p.child.pid as number).map(([k]) => k)).toEqual([pid]);
    const files = readdirSync(join(h.userHome, "Maildir/new"));
    expect(files.length).toBe(4);
    for (const f of files) expect(f).toMatch(new RegExp(`^[0-9]+\\.${pid}_[0-9]+\\.`));
    const texts = files.map((f) => readFileSync(join(h.userHome, "Maildir/new", f), "latin1"));
    expect(texts.filter((t) => t.includes("Delivered-To: b@domain\n")).length).toBe(1);
  });

  test("a user never gets another user's worker: one per uid, each with its own ids", async () => {
    const h = home();
    const p = spawner(h, { QTS_LOCALWORKERS: "30" });
    expect(await deliver(p, h, "a@domain")).toBe("Kdid 1+0+0\n");
    expect(await deliver(p, h, "other-x@domain")).toBe("Kdid 1+0+0\n");
    expect(await deliver(p, h, "b@domain")).toBe("Kdid 1+0+0\n");
    const w = locals(p.child.pid as number);
    expect(w.length).toBe(2);
    const uids = w.map(([k]) => status(k, "Uid")).sort();
    expect(uids).toEqual(
      [`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`, `${h.ids.alias} ${h.ids.alias} ${h.ids.alias} ${h.ids.alias}`].sort(),
    );
    expect(readdirSync(join(h.otherHome, "Maildir/new")).length).toBe(1);
    expect(readdirSync(join(h.userHome, "Maildir/new")).length).toBe(2);
  });

  test("two deliveries in a row share nothing: a program sees what a qmail-local of its own shows it", async () => {
    // The same deliveries, classic (one qmail-local each) and through a worker; the first sets
    // DEFAULT (.qmail-x-default), the second must not see it, nor anything else of the first.
    const probe = async (env: Record<string, string>) => {
      const h = home();
      writeFileSync(join(h.userHome, ".qmail-x-default"), PROBE);
      writeFileSync(join(h.userHome, ".qmail-y"), PROBE);
      const p = spawner(h, env);
      expect(await deliver(p, h, "x-foo@domain", "s1@example.org")).toBe("Kdid 0+0+1\n");
      expect(await deliver(p, h, "y@domain", "s2@example.org")).toBe("Kdid 0+0+1\n");
      const read = (ext: string) =>
        readFileSync(join(h.userHome, `probe.${ext}`), "latin1")
          .replaceAll(h.dir, "H")
          .replace(/^(UFLINE=From \S+) .*$/m, "$1 DATE");
      return { x: read("x-foo"), y: read("y"), workers: locals(p.child.pid as number).length };
    };
    const classic = await probe({});
    const fast = await probe({ QTS_LOCALWORKERS: "30" });
    expect(classic.workers).toBe(0);
    expect(fast.workers).toBe(1);
    expect(fast.y).not.toContain("DEFAULT=");
    expect(fast.y).not.toContain("s1@example.org");
    expect(fast.y).not.toContain("QTS_LOCALWORKERS");
    expect(fast.x).toContain("DEFAULT=foo\n");
    expect(fast.x).toBe(classic.x);
    expect(fast.y).toBe(classic.y);
  });

  test("a worker killed between deliveries is replaced; killed during one, that delivery crashed", async () => {
    const h = home();
    writeFileSync(join(h.userHome, ".qmail-slow"), "|sleep 2\n");
    const p = spawner(h, { QTS_LOCALWORKERS: "30" });
    expect(await deliver(p, h, "a@domain")).toBe("Kdid 1+0+0\n");
    const [first] = locals(p.child.pid as number)[0] as [number, string[]];
    process.kill(first, "SIGKILL");
    await waitFor(() => !locals(p.child.pid as number).some(([k]) => k === first), 10000);
    expect(await deliver(p, h, "b@domain")).toBe("Kdid 1+0+0\n");
    const [second] = locals(p.child.pid as number)[0] as [number, string[]];
    expect(second).not.toBe(first);
    const id = inject(h, "me@domain", ["slow@domain"], "Subject: t\n\nbody\n", { trigger: false });
    const before = p.reports().length;
    p.send(1, messid(id), "me@domain", "slow@domain");
    await Bun.sleep(500);
    process.kill(second, "SIGKILL");
    const r = await p.waitReports(before + 1, 20000);
    expect(r[before]).toEqual([1, "Zqmail-local crashed.\n"]);
  });

  test("an idle worker exits and is reaped; the next delivery starts a fresh one", async () => {
    const h = home();
    const p = spawner(h, { QTS_LOCALWORKERS: "1" });
    expect(await deliver(p, h, "a@domain")).toBe("Kdid 1+0+0\n");
    const [pid] = locals(p.child.pid as number)[0] as [number, string[]];
    await waitFor(() => !existsSync(`/proc/${pid}`), 15000);
    expect(await deliver(p, h, "b@domain")).toBe("Kdid 1+0+0\n");
    expect(readdirSync(join(h.userHome, "Maildir/new")).length).toBe(2);
  });

  test("a qmail-local that does not know -W: a temporary failure, never a bounce", async () => {
    const h = home();
    rmSync(join(h.dir, "bin/qmail-local"));
    writeFileSync(join(h.dir, "bin/qmail-local"), "#!/bin/sh\necho 'qmail-local: usage: ...'\nexit 100\n", {
      mode: 0o755,
    });
    const p = spawner(h, { QTS_LOCALWORKERS: "30" });
    expect(await deliver(p, h, "a@domain")).toBe("ZUnable to run qmail-local.\n");
  });

  test("QTS_LOCALWORKERS=0 or unset: one qmail-local per delivery, as qmail does", async () => {
    const h = home();
    writeFileSync(join(h.userHome, ".qmail-slow"), "|sleep 1\n./Maildir/\n");
    const p = spawner(h, { QTS_LOCALWORKERS: "0" });
    const id = inject(h, "me@domain", ["slow@domain"], "Subject: t\n\nbody\n", { trigger: false });
    p.send(0, messid(id), "me@domain", "slow@domain");
    const argv = await waitFor(() => locals(p.child.pid as number)[0]?.[1], 10000);
    expect(argv?.slice(0, 3)).toEqual(["bin/qmail-local", "--", "nobody"]);
    expect(await p.waitReports(1, 20000)).toEqual([[0, "Kdid 1+0+1\n"]]);
  });

  test("qmail-local -W run by hand (no socket on fd 3): usage, exit 100", async () => {
    const r = await run(ours("qmail-local"), ["-W"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toBe(
      "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty\n",
    );
  });
});

/**
 * A home without users/cdb, and a passwd user (useradd) whose home is in it with a Maildir: its
 * deliveries need qmail-getpw's lookup, as on an installation without qmail-newu.
 */
function passwdHome(name: string): Home & { pwHome: string } {
  const h = makeHome();
  rmSync(join(h.dir, "users/cdb"));
  rmSync(join(h.dir, "bin/qmail-local"));
  symlinkSync(ours("qmail-local"), join(h.dir, "bin/qmail-local"));
  const pwHome = join(h.dir, name);
  mkdirSync(pwHome);
  if (getpwnam(name)) runSync("userdel", [name]);
  const r = runSync("useradd", ["-M", "-d", pwHome, "-s", "/usr/sbin/nologin", name]);
  if (r.code !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  madeUsers.push(name);
  const pw = getpwnam(name);
  if (!pw) throw new Error(name);
  for (const d of ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"]) {
    mkdirSync(join(pwHome, d), { recursive: true });
    chownSync(join(pwHome, d), pw.uid, pw.gid);
  }
  writeFileSync(join(pwHome, ".qmail"), "./Maildir/\n");
  writeFileSync(join(pwHome, ".qmail-ext"), "./Maildir/\n");
  return { ...h, pwHome };
}

describe("qmail-lspawn's lookup worker (qmail-getpw -W)", () => {
  test("lookups of users without a users/cdb entry go to one qmail-getpw -W with qmail-getpw's ids", async () => {
    const h = passwdHome("qtslw_a");
    const p = spawner(h, { QTS_LOCALWORKERS: "30" });
    expect(await deliver(p, h, "qtslw_a@domain")).toBe("Kdid 1+0+0\n");
    const w = locals(p.child.pid as number, "qmail-getpw");
    expect(w.length).toBe(1);
    const [pid, argv] = w[0] as [number, string[]];
    expect(argv).toEqual(["bin/qmail-getpw", "-W"]);
    expect(status(pid, "Uid")).toBe(Array(4).fill(h.ids.qmailp).join(" "));
    expect(status(pid, "Gid")).toBe(Array(4).fill(h.ids.nofiles).join(" "));
    expect(status(pid, "Groups")).toBe(`${h.ids.nofiles}`);
    // Its descriptors: /dev/null on 0-2, the socket on 3, and only the runtime's own (epoll, eventfd).
    const fds = readdirSync(`/proc/${pid}/fd`).map((f) => [Number(f), readlinkSync(`/proc/${pid}/fd/${f}`)] as const);
    expect(fds.filter(([f]) => f <= 3).map(([, l]) => l.replace(/[0-9]+/, "N"))).toEqual([
      "/dev/null",
      "/dev/null",
      "/dev/null",
      "socket:[N]",
    ]);
    expect(fds.filter(([f, l]) => f > 3 && !l.startsWith("anon_inode:"))).toEqual([]);
    for (const r of ["qtslw_a-ext@domain", "QTSLW_A@domain"]) expect(await deliver(p, h, r)).toBe("Kdid 1+0+0\n");
    expect(locals(p.child.pid as number, "qmail-getpw").map(([k]) => k)).toEqual([pid]);
    const texts = readdirSync(join(h.pwHome, "Maildir/new")).map((f) =>
      readFileSync(join(h.pwHome, "Maildir/new", f), "latin1"),
    );
    expect(texts.length).toBe(3);
    expect(texts.filter((t) => t.includes("Delivered-To: qtslw_a-ext@domain\n")).length).toBe(1);
  });

  test("a killed lookup worker is replaced; an idle one exits and is reaped", async () => {
    const h = passwdHome("qtslw_b");
    const p = spawner(h, { QTS_LOCALWORKERS: "1" });
    expect(await deliver(p, h, "qtslw_b@domain")).toBe("Kdid 1+0+0\n");
    const [first] = locals(p.child.pid as number, "qmail-getpw")[0] as [number, string[]];
    process.kill(first, "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${first}`), 10000);
    expect(await deliver(p, h, "qtslw_b@domain")).toBe("Kdid 1+0+0\n");
    const [second] = locals(p.child.pid as number, "qmail-getpw")[0] ?? [0];
    expect(second).not.toBe(first);
    // Idle for a second: told to exit, and reaped (no zombie left under qmail-lspawn).
    await waitFor(() => !existsSync(`/proc/${second}`), 15000);
    expect(readdirSync(join(h.pwHome, "Maildir/new")).length).toBe(2);
  });

  test("the same deliveries with and without the workers land alike", async () => {
    const land = async (env: Record<string, string>, name: string) => {
      const h = passwdHome(name);
      const p = spawner(h, env);
      const reports: string[] = [];
      for (const r of [`${name}@domain`, `${name}-ext@domain`, `${name}-none@domain`])
        reports.push(await deliver(p, h, r));
      return { reports, files: readdirSync(join(h.pwHome, "Maildir/new")).length };
    };
    const classic = await land({}, "qtslw_c");
    const fast = await land({ QTS_LOCALWORKERS: "30" }, "qtslw_d");
    expect(fast).toEqual(classic);
    expect(classic.files).toBe(2);
  });
});
