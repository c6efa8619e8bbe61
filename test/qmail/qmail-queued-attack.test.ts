// SPDX-License-Identifier: MIT
// qmail-queued under attack (qmail-queued(8) "Identity", "Limits"): a local
// user, qtsq_mallory, tries to queue mail as qtsq_victim through the drop
// directory, to choose the Received line's pid and date, to starve other
// users (qmaild included) of the daemon, to stall it with a big drop file, and
// to leave junk it logs for ever. Real users (useradd, removed afterwards),
// the real daemon.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { frameHeader } from "@qts/qmail/lib/queue/queued-proto";
import { runSync, type Started, start, waitFor } from "../lib/harness.ts";
import { added, datesBetween, ids, makeHome, qq, todo } from "./qmail-queue.helpers.ts";

setDefaultTimeout(60_000);

const MALLORY = "qtsq_mallory";
const VICTIM = "qtsq_victim";
const GROUP = "qtsq_grp";
const PY = "/usr/bin/python3";
const ENV = "Fm@x\0Tvictim-boss@y\0\0";

function removeUsers(): void {
  runSync("userdel", [MALLORY]);
  runSync("userdel", [VICTIM]);
  runSync("groupdel", [GROUP]);
}

beforeAll(() => {
  removeUsers();
  for (const [cmd, args] of [
    ["groupadd", [GROUP]],
    ["useradd", ["-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", "-G", GROUP, MALLORY]],
    ["useradd", ["-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", "-G", GROUP, VICTIM]],
  ] as const) {
    const r = runSync(cmd, args as unknown as string[]);
    if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  }
});
afterAll(removeUsers);

/** Runs sh -c script as user, with the user's groups (setpriv --init-groups), bounded. */
function as(user: string, script: string, args: string[] = []) {
  const u = ids(user);
  return runSync(
    "setpriv",
    [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", "sh", "-c", script, "sh", ...args],
    { encoding: "latin1", timeout: 20_000, env: { PATH: "/usr/bin:/bin" }, extendEnv: false },
  );
}

/** Starts the same thing as user in the background (setpriv), stdin a pipe. */
function asBg(user: string, cmd: string[]): Started {
  const u = ids(user);
  return start("setpriv", [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", ...cmd], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { PATH: "/usr/bin:/bin" },
    extendEnv: false,
  });
}

/** A drop stream (frames, empty frame, envelope) for msg. */
function stream(msg: string, env = ENV): Buffer {
  const b = Buffer.from(msg, "latin1");
  return Buffer.concat([frameHeader(b.length), b, frameHeader(0), Buffer.from(env, "latin1")]);
}

function dropName(pid = 4242): string {
  return `${pid}.${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
}

interface Daemon {
  pid: number;
  err: () => string;
  stop: () => Promise<void>;
}

/** <home>/bin/qmail-queued, its warnings collected; optional prlimit arguments first. */
async function daemon(home: string, pre: string[] = []): Promise<Daemon> {
  const sock = join(home, "queued/socket");
  const argv = [...pre, join(home, "bin/qmail-queued")];
  const p = start(argv[0] as string, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const up = await waitFor(() => existsSync(sock) && (statSync(sock).mode & 0o777) === 0o777, 10_000);
  if (!up) {
    p.kill("SIGKILL");
    throw new Error(`qmail-queued did not start: ${p.stderr()}`);
  }
  return {
    pid: p.pid,
    err: () => p.stderr(),
    stop: async () => {
      p.kill("SIGTERM");
      await p.wait(5000);
    },
  };
}

/** Every message in the queue recorded as uid. */
function queuedAs(home: string, uid: number) {
  return [...todo(home).values()].filter((m) => m.todo.toString("latin1").startsWith(`u${uid}\0`));
}

describe("identity: a drop file is queued as its owner only if nobody else can have written it", () => {
  let home: string;
  let top: string;
  let drop: string;
  let attack: string;
  beforeAll(async () => {
    home = await makeHome();
    top = dirname(home);
    drop = join(home, "queued/drop");
    attack = join(top, "attack");
    writeFileSync(attack, stream("Subject: pay mallory\n\nas the victim\n"));
  });

  /** Starts the daemon (its first drain), waits until the drop directory is empty, stops it. */
  async function drainOnce(): Promise<string> {
    return (await drainPid()).err;
  }

  async function drainPid(): Promise<{ err: string; pid: number }> {
    const d = await daemon(home);
    try {
      expect(await waitFor(() => readdirSync(drop).length === 0, 10_000)).toBe(true);
    } finally {
      await d.stop();
    }
    return { err: d.err(), pid: d.pid };
  }

  test("victim's 0666 file, hard-linked in by mallory, rewritten through the link, victim's name removed", async () => {
    const vdir = join(top, "victim-home");
    mkdirSync(vdir, { mode: 0o755 });
    runSync("chown", [VICTIM, vdir]);
    const vfile = join(vdir, "notes");
    expect(as(VICTIM, `umask 0; echo notes > ${vfile}`).code).toBe(0);
    const name = dropName();
    const r = as(MALLORY, `ln ${vfile} ${drop}/${name} && cat ${attack} > ${drop}/${name}`);
    expect(r.stderr).toBe("");
    expect(as(VICTIM, `rm -f ${vfile}`).code).toBe(0);
    expect(lstatSync(join(drop, name)).nlink).toBe(1);
    const err = await drainOnce();
    expect(queuedAs(home, ids(VICTIM).uid)).toEqual([]);
    expect(err).toBe(`qmail-queued: warning: removed ${name}: mode 0666\n`);
  });

  test("victim's 0666 file in a directory mallory may write, rewritten and renamed in", async () => {
    const open = join(top, "open");
    mkdirSync(open, { mode: 0o777 });
    runSync("chmod", ["0777", open]);
    const vfile = join(open, "draft");
    expect(as(VICTIM, `umask 0; echo draft > ${vfile}`).code).toBe(0);
    const name = dropName();
    const r = as(MALLORY, `cat ${attack} > ${vfile} && mv ${vfile} ${drop}/${name}`);
    expect(r.stderr).toBe("");
    expect(lstatSync(join(drop, name)).uid).toBe(ids(VICTIM).uid);
    const err = await drainOnce();
    expect(queuedAs(home, ids(VICTIM).uid)).toEqual([]);
    expect(err).toBe(`qmail-queued: warning: removed ${name}: mode 0666\n`);
  });

  test("a shared group directory (2775, umask 002): victim's 0664 file, rewritten by mallory and renamed in", async () => {
    const shared = join(top, "shared");
    mkdirSync(shared);
    runSync("chgrp", [GROUP, shared]);
    runSync("chmod", ["2775", shared]);
    const vfile = join(shared, "report");
    expect(as(VICTIM, `umask 002; echo report > ${vfile}`).code).toBe(0);
    const name = dropName();
    const r = as(MALLORY, `cat ${attack} > ${vfile} && mv ${vfile} ${drop}/${name}`);
    expect(r.stderr).toBe("");
    expect((lstatSync(join(drop, name)).mode & 0o777).toString(8)).toBe("664");
    const err = await drainOnce();
    expect(queuedAs(home, ids(VICTIM).uid)).toEqual([]);
    expect(err).toBe(`qmail-queued: warning: removed ${name}: mode 0664\n`);
  });

  test("a victim's own drop file (0640, group qmail) is queued as the victim; root's and qmailq's are not", async () => {
    const name = dropName();
    expect(as(VICTIM, `umask 027; cat ${attack} > ${drop}/${name}`).code).toBe(0);
    const rootName = dropName();
    writeFileSync(join(drop, rootName), stream("Subject: root?\n\n"), { mode: 0o640 });
    const before = todo(home);
    const { err, pid } = await drainPid();
    const got = added(home, before);
    expect(got.map((m) => m.todo.toString("latin1"))).toEqual([`u${ids(VICTIM).uid}\0p${pid}\0Fm@x\0Tvictim-boss@y\0`]);
    expect(err).toBe(`qmail-queued: warning: removed ${rootName}: owned by uid 0\n`);
  });

  test("the Received line's pid and date are qmail-queued's own, not the drop file's name and mtime", async () => {
    const names = ["1", "9999999999"].map((p) => dropName(Number(p)));
    for (const [i, name] of names.entries())
      expect(
        as(
          MALLORY,
          `umask 027; cat ${attack} > ${drop}/${name} && touch -d ${i ? "2400-01-01" : "1901-12-14"} ${drop}/${name}`,
        ).code,
      ).toBe(0);
    const before = todo(home);
    const t0 = Date.now();
    const d = await daemon(home);
    try {
      expect(await waitFor(() => added(home, before).length === 2, 10_000)).toBe(true);
    } finally {
      await d.stop();
    }
    const dates = datesBetween(t0, Date.now());
    for (const m of added(home, before)) {
      const todoText = m.todo.toString("latin1");
      // qmail-queued's own number (lib/queue/qp.ts: its pid, then its pid plus multiples of 2^22)
      const qp = Number(/\0p(\d+)\0/.exec(todoText)?.[1]);
      expect(qp % 4194304).toBe(d.pid);
      expect(todoText).toBe(`u${ids(MALLORY).uid}\0p${qp}\0Fm@x\0Tvictim-boss@y\0`);
      const first = m.mess.toString("latin1").split("\n")[0] ?? "";
      expect(dates.map((x) => `Received: (qmail ${qp} invoked by uid ${ids(MALLORY).uid}); ${x}`)).toContain(first);
    }
  });
});

// Mallory's socket clients: hold n connections until stdin closes, printing how many were
// made; or, for secs seconds, connect again and again, each connection held until 300 newer ones.
const HOLD = `
import socket, sys
socks = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError:
        break
    socks.append(s)
print(len(socks), flush=True)
sys.stdin.read()
`;
const ROLL = `
import collections, socket, sys, time
end = time.time() + float(sys.argv[2])
held = collections.deque()
while time.time() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
        held.append(s)
    except OSError:
        s.close()
    if len(held) > 300:
        held.popleft().close()
`;

/** Starts HOLD as mallory; resolves once her n connections are made. */
async function hold(sock: string, n: number): Promise<Started> {
  const p = asBg(MALLORY, [PY, "-c", HOLD, sock, String(n)]);
  expect(await p.until("\n", 30_000)).toContain("\n");
  return p;
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe("availability: one uid cannot make qmail-queued refuse another", () => {
  let home: string;
  let d: Daemon;
  beforeAll(async () => {
    home = await makeHome();
    d = await daemon(home);
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("600 connections held by mallory: the victim and qmaild are still served, through the socket", async () => {
    const sock = join(home, "queued/socket");
    const m = await hold(sock, 600);
    try {
      for (const user of [VICTIM, "qmaild"]) {
        const before = todo(home);
        const r = await qq(home, "Subject: still here\n\n", ENV, { user });
        expect(r.code).toBe(0);
        const got = added(home, before);
        // Through the socket: the caller's uid; the qp is qmail-queued's number for this message.
        expect(got.map((x) => x.todo.toString("latin1"))).toEqual([
          expect.stringMatching(new RegExp(`^u${ids(user).uid}\0p\\d+\0Fm@x\0Tvictim-boss@y\0$`)),
        ]);
      }
      expect(readdirSync(join(home, "queued/drop"))).toEqual([]);
    } finally {
      m.kill("SIGKILL");
    }
  });

  test("a rolling flood (each connection held a moment, 900 at a time): qmaild's and the victim's messages all go through", async () => {
    const sock = join(home, "queued/socket");
    const floods = [0, 1, 2].map(() => asBg(MALLORY, [PY, "-c", ROLL, sock, "6"]));
    const done = floods.map((p) => p.exited);
    let over = false;
    void Promise.all(done).then(() => {
      over = true;
    });
    try {
      await Bun.sleep(300);
      // Refused connections are closed at once: the daemon's descriptors stay within its
      // clients' (500 of them, three each), however many mallory makes.
      let most = 0;
      for (let i = 0; i < 40 && !over; i++) {
        for (const user of ["qmaild", VICTIM])
          expect((await qq(home, "Subject: flood\n\n", ENV, { user })).code).toBe(0);
        most = Math.max(most, openFds(d.pid));
        await Bun.sleep(100);
      }
      expect(most).toBeLessThan(1600);
    } finally {
      for (const p of floods) p.kill("SIGKILL");
      await Promise.all(done);
    }
  });

  test("a flood up to the descriptor limit: the daemon stays under it, serves the victim, and drains", async () => {
    await d.stop();
    // A small limit, so mallory's flood would reach it: 45 clients fit in 200 descriptors.
    d = await daemon(home, ["prlimit", "--nofile=200:200", "--"]);
    const sock = join(home, "queued/socket");
    const m = await hold(sock, 1000);
    try {
      expect(openFds(d.pid)).toBeLessThan(200);
      expect((await qq(home, "Subject: at the limit\n\n", ENV, { user: VICTIM })).code).toBe(0);
      // The drain still runs: a victim's drop file is queued on SIGALRM.
      const before = todo(home);
      const name = dropName();
      writeFileSync(join(top(home), "vstream"), stream("Subject: dropped\n\n"));
      expect(as(VICTIM, `umask 027; cat ${join(top(home), "vstream")} > ${home}/queued/drop/${name}`).code).toBe(0);
      process.kill(d.pid, "SIGALRM");
      expect(await waitFor(() => added(home, before).length === 1, 10_000)).toBe(true);
      expect(openFds(d.pid)).toBeLessThan(200);
    } finally {
      m.kill("SIGKILL");
    }
  });
});

function top(home: string): string {
  return dirname(home);
}

describe("the drain: bounded, and junk goes (or is said once)", () => {
  let home: string;
  let drop: string;
  beforeAll(async () => {
    home = await makeHome();
    drop = join(home, "queued/drop");
    // qmail-smtpd's limit on a message, 1 MB: a drop file may hold 1 MB and 1 MiB more.
    writeFileSync(join(home, "control/databytes"), "1000000\n");
  });

  test("a 2 GiB sparse drop file of valid frames is refused without being copied, and clients are served meanwhile", async () => {
    const name = dropName();
    // Frames of 65536 bytes whose bodies are holes, then a valid end and envelope.
    const make = `
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
frames = (2 << 30) // 65540
for i in range(frames):
    os.lseek(fd, i * 65540, 0)
    os.write(fd, struct.pack(">I", 65536))
os.lseek(fd, frames * 65540, 0)
os.write(fd, struct.pack(">I", 0) + b"Fm@x\\0Tv@y\\0\\0")
`;
    const r = as(MALLORY, `umask 027; exec ${PY} -c "$1" "$2"`, [make, join(drop, name)]);
    expect(r.stderr).toBe("");
    const size = lstatSync(join(drop, name)).size;
    expect(size).toBeGreaterThan(2 ** 31);
    const before = todo(home);
    const d = await daemon(home);
    try {
      expect((await qq(home, "Subject: meanwhile\n\n", ENV, { user: VICTIM })).code).toBe(0);
      expect(await waitFor(() => readdirSync(drop).length === 0, 10_000)).toBe(true);
      expect(added(home, before).map((m) => m.todo.toString("latin1").split("\0")[0])).toEqual([`u${ids(VICTIM).uid}`]);
    } finally {
      await d.stop();
    }
    expect(d.err()).toBe(`qmail-queued: warning: removed ${name}: ${size} bytes, more than ${1000000 + 1048576}\n`);
  });

  test("a drop file mallory keeps growing is read only up to the limit, then removed; the victim is served meanwhile", async () => {
    const name = dropName();
    const grow = `
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
chunk = struct.pack(">I", 65536) + b"x" * 65536
print("ok", flush=True)
for i in range(100000):
    os.write(fd, chunk)
`;
    const d = await daemon(home);
    const g = asBg(MALLORY, ["sh", "-c", `umask 027; exec ${PY} -c "$1" "$2"`, "sh", grow, join(drop, name)]);
    try {
      const before = todo(home);
      expect(await waitFor(() => existsSync(join(drop, name)), 10_000)).toBe(true);
      process.kill(d.pid, "SIGALRM");
      expect((await qq(home, "Subject: meanwhile\n\n", ENV, { user: VICTIM })).code).toBe(0);
      expect(await waitFor(() => !existsSync(join(drop, name)), 20_000)).toBe(true);
      expect(added(home, before).map((m) => m.todo.toString("latin1").split("\0")[0])).toEqual([`u${ids(VICTIM).uid}`]);
    } finally {
      g.kill("SIGKILL");
      await g.exited;
      await d.stop();
    }
  });

  test("junk: an empty directory and a mode-000 file are removed; mallory's full directory is said once, not every drain", async () => {
    const empty = dropName();
    const zero = dropName();
    const full = dropName();
    const r = as(
      MALLORY,
      `mkdir ${drop}/${empty} && : > ${drop}/${zero} && chmod 000 ${drop}/${zero} && mkdir ${drop}/${full} && : > ${drop}/${full}/x && chmod 700 ${drop}/${full}`,
    );
    expect(r.stderr).toBe("");
    writeFileSync(join(top(home), "vstream2"), stream("Subject: marker\n\n"));
    const d = await daemon(home);
    try {
      // Three more drains, each marked by a victim's file: when the last is queued, the
      // rounds before it are over.
      for (let i = 0; i < 3; i++) {
        const before = todo(home);
        expect(as(VICTIM, `umask 027; cat ${join(top(home), "vstream2")} > ${drop}/${dropName()}`).code).toBe(0);
        process.kill(d.pid, "SIGALRM");
        expect(await waitFor(() => added(home, before).length === 1, 10_000)).toBe(true);
      }
      // The last marker is removed just after it is queued.
      expect(await waitFor(() => readdirSync(drop).length === 1, 5000)).toBe(true);
      expect(readdirSync(drop)).toEqual([full]);
    } finally {
      await d.stop();
    }
    expect(
      d
        .err()
        .split("\n")
        .filter((l) => l)
        .sort(),
    ).toEqual(
      [
        `qmail-queued: warning: removed ${empty}: not a regular file`,
        `qmail-queued: warning: removed ${zero}: unreadable`,
        `qmail-queued: warning: unable to remove ${full}: not a regular file`,
      ].sort(),
    );
    runSync("rm", ["-rf", join(drop, full)]);
  });
});
