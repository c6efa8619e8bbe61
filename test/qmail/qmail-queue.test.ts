// SPDX-License-Identifier: MIT
// qmail-queue (qmail-queue(8), qmail-queue.c): files byte for byte, every exit code,
// crash consistency. There is no C qmail to compare with: the expected bytes
// are the spec's and qmail-queue.c's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { QP_SPACE } from "@qts/qmail/lib/queue/qp";
import { pipe } from "@qts/sys/pipe";
import { BIN, ROOT, run, runSync, start, stdioFd, tmp, waitFor } from "../lib/harness.ts";
import { added, BUN, expectMessage, files, ids, makeHome, qq, startQueued, todo } from "./qmail-queue.helpers.ts";

let home: string;
let queued: Awaited<ReturnType<typeof startQueued>> | undefined;

beforeAll(async () => {
  home = await makeHome();
});
afterAll(async () => {
  await queued?.stop();
});

const MSG = "From: a@b\nSubject: test\n\nhello\n";
const ENV = "Fa@b.org\0Tc@d.org\0Te@f.org\0\0";

describe("qmail-queue as root (writes the queue itself)", () => {
  test("mess, intd and todo byte for byte; owners and modes; pid/ left empty; trigger pulled", async () => {
    const before = todo(home);
    // A reader on the trigger FIFO sees the pull.
    const trig = start("head", ["-c", "1", join(home, "queue/lock/trigger")], { stdio: ["ignore", "pipe", "ignore"] });
    const got = () => Buffer.from(trig.stdout("latin1"), "latin1");
    await Bun.sleep(100);
    const t0 = Date.now();
    const r = await qq(home, MSG, ENV);
    const t1 = Date.now();
    expect(r).toMatchObject({ code: 0, signal: null });
    const [m, ...more] = added(home, before);
    expect(more).toEqual([]);
    if (!m) throw new Error("nothing queued");
    expect(expectMessage(m, { uid: 0, who: "by uid 0", message: MSG, envelope: ENV, t0, t1, pid: r.pid })).toBe(r.pid);
    expect(m.todo.toString("latin1")).toBe(`u0\0p${r.pid}\0Fa@b.org\0Tc@d.org\0Te@f.org\0`);
    const q = ids("qmailq");
    const mess = lstatSync(join(home, "queue/mess", String(BigInt(m.num) % 23n), m.num));
    expect(mess.ino).toBe(Number(m.num));
    for (const st of [mess, lstatSync(join(home, "queue/todo", m.num))])
      expect({ uid: st.uid, mode: (st.mode & 0o7777).toString(8) }).toEqual({ uid: q.uid, mode: "644" });
    // intd/N and todo/N are one file (link); qmail-clean removes both later.
    expect(lstatSync(join(home, "queue/intd", m.num)).nlink).toBe(2);
    expect(files(home).filter((f) => f.startsWith("pid/"))).toEqual([]);
    await waitFor(() => got().length > 0, 3000);
    trig.kill("SIGTERM");
    expect(got()).toEqual(Buffer.alloc(1));
  });

  test("an empty sender, binary bytes and a 1002-byte address are kept as they are", async () => {
    const before = todo(home);
    const msg = Buffer.from([0, 1, 255, 10, 13, 10, 46, 10]);
    const long = "x".repeat(1002);
    const env = `F\0T${long}\0T\xe9@\xff\0\0`;
    const t0 = Date.now();
    const r = await qq(home, msg, Buffer.from(env, "latin1"));
    expect(r.code).toBe(0);
    const [m] = added(home, before);
    if (!m) throw new Error("nothing queued");
    expectMessage(m, {
      uid: 0,
      who: "by uid 0",
      message: msg.toString("latin1"),
      envelope: env,
      t0,
      t1: Date.now(),
    });
  });

  test("data after the envelope's final NUL is not read", async () => {
    const before = todo(home);
    const r = await qq(home, MSG, "Fa\0Tb\0\0garbage that is never read");
    expect(r.code).toBe(0);
    expect(added(home, before)[0]?.todo.toString("latin1")).toBe(`u0\0p${r.pid}\0Fa\0Tb\0`);
  });

  test("qmailq writes directly too; its uid is an ordinary 'by uid N'", async () => {
    const before = todo(home);
    const t0 = Date.now();
    const r = await qq(home, MSG, ENV, { user: "qmailq" });
    expect(r.code).toBe(0);
    const [m] = added(home, before);
    if (!m) throw new Error("nothing queued");
    const u = ids("qmailq").uid;
    expectMessage(m, { uid: u, who: `by uid ${u}`, message: MSG, envelope: ENV, t0, t1: Date.now(), pid: r.pid });
  });
});

describe("qmail-queue exit codes", () => {
  const nothingNew = (before: string[]) => expect(files(home)).toEqual(before);

  test("11: a sender or recipient of 1003 bytes", async () => {
    expect((await qq(home, MSG, `F${"a".repeat(1003)}\0Tb\0\0`)).code).toBe(11);
    expect((await qq(home, MSG, `Fa\0Tb\0T${"b".repeat(1003)}\0\0`)).code).toBe(11);
    expect((await qq(home, MSG, `F${"a".repeat(1002)}\0T${"b".repeat(1002)}\0\0`)).code).toBe(0);
  });

  test("91: envelope not starting with F, or a record not starting with T", async () => {
    for (const env of ["Ta\0\0", "\0", "Fa\0Xb\0\0", "Fa\0Tb\0 \0"]) expect((await qq(home, MSG, env)).code).toBe(91);
  });

  test("54: envelope ends early (nothing queued, files removed)", async () => {
    const before = files(home);
    for (const env of ["", "F", "Fa", "Fa\0", "Fa\0Tb", "Fa\0Tb\0"]) expect((await qq(home, MSG, env)).code).toBe(54);
    nothingNew(before);
  });

  test("54: the message cannot be read (fd 0 is a directory); nothing left behind", () => {
    const before = files(home);
    const d = tmp();
    const dfd = require("node:fs").openSync(d, "r");
    const e = tmp();
    writeFileSync(join(e, "env"), ENV);
    const efd = require("node:fs").openSync(join(e, "env"), "r");
    const r = runSync(join(home, "bin/qmail-queue"), [], { stdio: [dfd, efd, "pipe"], timeout: 20_000 });
    closeSync(dfd);
    closeSync(efd);
    expect(r.code).toBe(54);
    nothingNew(before);
  });

  test("61: no home (the checkout's bin/ with QMAILHOME pointing nowhere)", async () => {
    const r = await qq(home, MSG, ENV, {
      prog: join(BIN, "qmail-queue"),
      env: { QMAILHOME: join(tmp(), "nonexistent") },
    });
    expect(r.code).toBe(61);
  });

  test("62-66: queue, pid, mess, intd or todo missing", async () => {
    const h = await makeHome();
    const q = join(h, "queue");
    const cases: [string, number][] = [
      ["queue", 62],
      ["queue/pid", 63],
      ["queue/mess", 64],
      ["queue/intd", 65],
      ["queue/todo", 66],
    ];
    for (const [d, code] of cases) {
      renameSync(join(h, d), join(h, `${d}.away`));
      expect({ d, code: (await qq(h, MSG, ENV)).code }).toEqual({ d, code });
      renameSync(join(h, `${d}.away`), join(h, d));
    }
    expect((await qq(h, MSG, ENV)).code).toBe(0);
    expect(existsSync(q)).toBe(true);
  });

  test("53: the disk fills up (a 256 KiB tmpfs in a private mount namespace); the partial message is removed", async () => {
    const h = await makeHome();
    const env = join(tmp(), "env");
    writeFileSync(env, ENV);
    const script = [
      "set -e",
      `mount -t tmpfs -o size=256k tmpfs ${h}/queue`,
      `${BUN} ${ROOT}/scripts/setup.ts --home ${h} --no-users --no-bin >/dev/null`,
      "set +e",
      `echo small | ${h}/bin/qmail-queue 1<${env}; echo "small $?"`,
      `head -c 2000000 /dev/zero | ${h}/bin/qmail-queue 1<${env}; echo "big $?"`,
      `echo "mess $(find ${h}/queue/mess ${h}/queue/intd ${h}/queue/pid -type f | wc -l)"`,
      `echo "todo $(ls ${h}/queue/todo | wc -l)"`,
    ].join("\n");
    const r = await run("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { timeout: 60_000 });
    if (r.code !== 0 && /unshare|mount/.test(r.stderr)) {
      console.warn(`skipped: cannot mount a tmpfs in a new mount namespace: ${r.stderr}`);
      return;
    }
    // The small message is one mess file plus its intd/todo link.
    expect(r.stdout).toBe("small 0\nbig 53\nmess 2\ntodo 1\n");
  }, 60_000);

  test("52: qmail-queue's 24-hour death, shortened (the program's own code path)", async () => {
    const h = await makeHome();
    const script = `
      import { injectWithDeath } from "${ROOT}/packages/qmail/src/bin/qmail-queue.ts";
      import { openQueue } from "${ROOT}/packages/qmail/src/lib/queue/queued-client.ts";
      const q = await openQueue(${JSON.stringify(h)});
      if (typeof q === "number") process.exit(200 + q);
      process.exit(await injectWithDeath(q, 300));
    `;
    const p = start(BUN, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
    p.write("a message that never ends\n");
    const { code } = await p.wait();
    p.end();
    expect(code).toBe(52);
    // "thou shalt not clean up here": the partial message stays for qmail-send's cleanup.
    expect(files(h).filter((f) => f.startsWith("mess/")).length).toBe(1);
    expect(files(h).filter((f) => f.startsWith("todo/"))).toEqual([]);
  });
});

describe("crash consistency: kill -9 never leaves a partial message in todo", () => {
  test("killed while reading the message, and while reading the envelope", async () => {
    for (const stage of ["message", "envelope"] as const) {
      const before = todo(home);
      const beforeFiles = files(home);
      const [er, ew] = pipe();
      const p = start(join(home, "bin/qmail-queue"), [], { stdio: ["pipe", stdioFd(er), "ignore"] });
      closeSync(er);
      p.write("Subject: partial\n\n");
      if (stage === "envelope") {
        p.write("rest\n");
        p.end();
        writeSync(ew, "Fa@b\0Tc@d\0");
        // intd/N appears once the message is fsynced and the envelope is being read.
        await waitFor(() => files(home).some((f) => f.startsWith("intd/") && !beforeFiles.includes(f)), 5000);
      } else {
        await waitFor(() => files(home).some((f) => f.startsWith("mess/") && !beforeFiles.includes(f)), 5000);
      }
      p.kill("SIGKILL");
      await p.exited;
      closeSync(ew);
      expect({ stage, added: added(home, before) }).toEqual({ stage, added: [] });
      const left = files(home).filter((f) => !beforeFiles.includes(f));
      expect(left.some((f) => f.startsWith("mess/"))).toBe(true);
      for (const f of left) rmSync(join(home, "queue", f));
    }
  });

  test("killed at each queue syscall in turn (strace fault injection): todo gets all or nothing", async () => {
    if (runSync("strace", ["-V"]).code !== 0) {
      console.warn("skipped: no strace");
      return;
    }
    const env = join(tmp(), "env");
    writeFileSync(env, ENV);
    // qmail-queue.c's steps: link pid→mess, fsync mess/N dir (link-sync), unlink pid, fsync mess,
    // fsync intd, link intd→todo (the commit), fsync todo/ (link-sync).
    const points: [string, boolean][] = [
      ["link:when=1", false],
      ["fsync:when=1", false],
      ["unlink:when=1", false],
      ["fsync:when=2", false],
      ["fsync:when=3", false],
      ["link:when=2", false],
      ["fsync:when=4", true],
    ];
    for (const [point, committed] of points) {
      const sc = point.split(":")[0] as string;
      const before = todo(home);
      const r = runSync(
        "sh",
        [
          "-c",
          `exec strace -f -o /dev/null -e trace=${sc} -e inject=${point.replace(":", ":signal=KILL:")} ${home}/bin/qmail-queue 1<${env}`,
        ],
        { input: MSG, timeout: 20_000 },
      );
      // the exit status as node reports it: null when a signal ended it
      expect({ point, status: r.signal ? null : r.code, signal: r.signal }).toEqual({
        point,
        status: null,
        signal: "SIGKILL",
      });
      const got = added(home, before);
      expect({ point, n: got.length }).toEqual({ point, n: committed ? 1 : 0 });
      for (const m of got) expect(m.todo.toString("latin1")).toMatch(/^u0\0p\d+\0Fa@b\.org\0Tc@d\.org\0Te@f\.org\0$/);
    }
  }, 60_000);

  test("killed at random moments of a 512 KiB injection: every todo entry is complete", async () => {
    const h = await makeHome();
    const big = `Subject: big\n\n${"0123456789abcdef".repeat(32768)}`;
    const d = tmp();
    writeFileSync(join(d, "m"), big);
    writeFileSync(join(d, "e"), ENV);
    let completed = 0;
    for (let i = 0; i < 16; i++) {
      const p = start("sh", ["-c", `exec ${h}/bin/qmail-queue <${d}/m 1<${d}/e`], { stdio: "ignore" });
      await Bun.sleep(Math.floor(Math.random() * 40));
      p.kill("SIGKILL");
      const { code } = await p.exited;
      if (code === 0) completed++;
    }
    const t = todo(h);
    for (const m of t.values()) {
      expect(m.todo.toString("latin1")).toMatch(/^u0\0p\d+\0Fa@b\.org\0Tc@d\.org\0Te@f\.org\0$/);
      expect(m.mess.toString("latin1")).toMatch(/^Received: \(qmail \d+ invoked by uid 0\); [^\n]+\n/);
      expect(m.mess.toString("latin1").endsWith(big)).toBe(true);
    }
    expect(t.size).toBeGreaterThanOrEqual(completed);
  }, 60_000);
});

describe("qmail-queue as other users: through qmail-queued", () => {
  beforeAll(async () => {
    queued = await startQueued(home);
  });

  const cases: [string, string][] = [
    ["qmaild", "from network"],
    ["alias", "by alias"],
    ["qmails", "for bounce"],
    ["nobody", `by uid ${ids("nobody").uid}`],
  ];
  for (const [user, who] of cases)
    test(`${user}: Received says "${who}", u is the real uid, p a qp of qmail-queued (its pid mod 2^22)`, async () => {
      const before = todo(home);
      const t0 = Date.now();
      const r = await qq(home, MSG, ENV, { user });
      expect(r.code).toBe(0);
      const [m] = added(home, before);
      if (!m) throw new Error("nothing queued");
      const p = expectMessage(m, { uid: ids(user).uid, who, message: MSG, envelope: ENV, t0, t1: Date.now() });
      // qmail-queued is the queue's process here, as C's setuid qmail-queue was: the qp is one of its numbers
      expect(p % QP_SPACE).toBe(queued?.pid ?? -1);
      // Queue files belong to qmailq, as with C's setuid qmail-queue.
      expect(lstatSync(join(home, "queue/todo", m.num)).uid).toBe(ids("qmailq").uid);
    });

  test("the same exit codes come back through the daemon", async () => {
    const before = files(home);
    expect((await qq(home, MSG, `F${"a".repeat(1003)}\0\0`, { user: "nobody" })).code).toBe(11);
    expect((await qq(home, MSG, "X\0", { user: "nobody" })).code).toBe(91);
    expect((await qq(home, MSG, "Fa\0Tb\0", { user: "nobody" })).code).toBe(54);
    expect((await qq(home, MSG, "", { user: "nobody" })).code).toBe(54);
    // The client checks the envelope itself, so 11 and 91 leave nothing behind either;
    // the daemon cleans up after a 54 once it sees the client go.
    await waitFor(() => files(home).join() === before.join(), 3000);
    expect(files(home)).toEqual(before);
  });

  test("a 3 MiB message streams through intact", async () => {
    const before = todo(home);
    const big = Buffer.alloc(3 * 1024 * 1024, "x");
    const t0 = Date.now();
    const r = await qq(home, big, ENV, { user: "nobody" });
    expect(r.code).toBe(0);
    const [m] = added(home, before);
    if (!m) throw new Error("nothing queued");
    const u = ids("nobody").uid;
    expectMessage(m, {
      uid: u,
      who: `by uid ${u}`,
      message: big.toString("latin1"),
      envelope: ENV,
      t0,
      t1: Date.now(),
    });
  });

  test("bounded memory: 200 MB streams through qmail-queue (root, direct) and through qmail-queued (nobody)", () => {
    const MB = 200;
    const env = join(tmp(), "env");
    writeFileSync(env, ENV);
    chmodSync(env, 0o644);
    const hwm = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    const daemonBefore = hwm(queued?.pid ?? 0);
    for (const as of ["", "setpriv --reuid=nobody --regid=nogroup --clear-groups "]) {
      const before = todo(home);
      const r = runSync(
        "sh",
        ["-c", `head -c ${MB * 1000000} /dev/zero | ${as}/usr/bin/time -f %M ${home}/bin/qmail-queue 1<${env}`],
        { timeout: 120_000 },
      );
      expect(r.code).toBe(0);
      const kb = Number(r.stderr.trim().split("\n").pop());
      expect(kb).toBeGreaterThan(0);
      expect(kb).toBeLessThan(150_000);
      const [m] = added(home, before);
      if (!m) throw new Error("nothing queued");
      const path = join(home, "queue/mess", String(BigInt(m.num) % 23n), m.num);
      expect(statSync(path).size).toBeGreaterThan(MB * 1000000);
      for (const f of [path, join(home, "queue/todo", m.num), join(home, "queue/intd", m.num)]) rmSync(f);
    }
    // qmail-queued holds a 64 KiB buffer per client, never the message.
    expect(hwm(queued?.pid ?? 0) - daemonBefore).toBeLessThan(50_000);
  }, 120_000);

  test("an ordinary user cannot read the queue", () => {
    const [m] = todo(home).values();
    if (!m) throw new Error("empty queue");
    const n = ids("nobody");
    const r = runSync("cat", [join(home, "queue/mess", String(BigInt(m.num) % 23n), m.num)], {
      uid: n.uid,
      gid: n.gid,
    });
    expect(r.code).not.toBe(0);
    mkdirSync(join(tmp(), "x"));
  });
});
