// SPDX-License-Identifier: MIT
// qmail-queued (qmail-queued(8)): the drop directory
// when it is down, limits, its 24-hour death, a fuzzed parser; and QmailQueue's
// in-process path.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { qmailIds } from "@qts/qmail/lib/ids";
import { QmailQueue } from "@qts/qmail/lib/queue/qmail";
import { QP_SPACE } from "@qts/qmail/lib/queue/qp";
import { ADDR } from "@qts/qmail/lib/queue/queue";
import { Queued } from "@qts/qmail/lib/queue/queued";
import { frameHeader } from "@qts/qmail/lib/queue/queued-proto";
import fc from "fast-check";
import { ROOT, runSync, type Started, start, waitFor } from "../lib/harness.ts";
import { added, BUN, expectMessage, files, ids, makeHome, qq, startQueued, todo } from "./qmail-queue.helpers.ts";

const MSG = "Subject: dropped\n\nbody\n";
const ENV = "Fa@b\0Tc@d\0\0";

function asUser(user: string, cmd: string, args: string[]) {
  const u = ids(user);
  return runSync(cmd, args, { uid: u.uid, gid: u.gid, encoding: "latin1", timeout: 10_000 });
}

/** An address at env[i] (to its NUL, at most ADDR bytes): [-1 or the exit code, the index after it]. */
function addrAt(env: string, i: number): [number, number] {
  for (let len = 0; len < ADDR; len++) {
    if (i >= env.length) return [54, i];
    if (env[i++] === "\0") return [-1, i];
  }
  return [11, i];
}

/** The model: qmail-queue.c's reading loop, over the whole envelope at once; its exit code. */
function envelopeModel(env: string): number {
  let i = 0;
  if (i >= env.length) return 54;
  if (env[i++] !== "F") return 91;
  let r: number;
  [r, i] = addrAt(env, i);
  if (r >= 0) return r;
  for (;;) {
    if (i >= env.length) return 54;
    const c = env[i++];
    if (c === "\0") return 0;
    if (c !== "T") return 91;
    [r, i] = addrAt(env, i);
    if (r >= 0) return r;
  }
}

describe("the drop directory, while qmail-queued is down", () => {
  let home: string;
  beforeAll(async () => {
    home = await makeHome();
  });

  test("an ordinary user's message waits there, unreadable to others, and is queued as that user at start", async () => {
    const nobody = ids("nobody");
    const drop = join(home, "queued/drop");
    const r = await qq(home, MSG, ENV, { user: "nobody" });
    expect(r.code).toBe(0);
    const names = readdirSync(drop);
    expect(names).toHaveLength(1);
    const name = names[0] as string;
    expect(name).toMatch(new RegExp(`^${r.pid}\\.[0-9a-f]{32}$`));
    const st = lstatSync(join(drop, name));
    expect({ uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({
      uid: nobody.uid,
      gid: qmailIds(home).gid.qmail,
      mode: "640",
    });
    // Nobody else can list the directory or read the file.
    expect(asUser("nobody", "ls", [drop]).code).not.toBe(0);
    expect(asUser("qmaild", "cat", [join(drop, name)]).code).not.toBe(0);
    expect(asUser("qmaild", "rm", ["-f", join(drop, name)]).code).not.toBe(0);
    expect(todo(home).size).toBe(0);

    const t0 = Date.now();
    const q = await startQueued(home);
    try {
      await waitFor(() => todo(home).size === 1, 5000);
      const [m] = todo(home).values();
      if (!m) throw new Error("not drained");
      expectMessage(m, {
        uid: nobody.uid,
        who: `by uid ${nobody.uid}`,
        message: MSG,
        envelope: ENV,
        t0,
        t1: Date.now(),
        // qmail-queued's own pid, as C's qmail-queue writes its own, not the writer's.
        pid: q.pid,
      });
      expect(await waitFor(() => readdirSync(drop).length === 0, 5000)).toBe(true);
    } finally {
      await q.stop();
    }
  });

  test("the client checks the envelope: 11 and 91 leave no drop file", async () => {
    const drop = join(home, "queued/drop");
    expect((await qq(home, MSG, `F${"x".repeat(ADDR)}\0\0`, { user: "nobody" })).code).toBe(11);
    expect((await qq(home, MSG, "Tx\0\0", { user: "nobody" })).code).toBe(91);
    expect((await qq(home, MSG, "Fx\0", { user: "nobody" })).code).toBe(54);
    expect(readdirSync(drop)).toEqual([]);
  });

  test("draining: the date and pid are the drain's, malformed, foreign and hard-linked files are refused and removed, partial files of dead writers go", async () => {
    const drop = join(home, "queued/drop");
    const nobody = ids("nobody");
    const body = Buffer.from("Subject: old\n\nx\n");
    const stream = Buffer.concat([frameHeader(body.length), body, frameHeader(0), Buffer.from(ENV, "latin1")]);
    const nobodys = (path: string, data: string | Buffer) => {
      writeFileSync(path, data);
      chmodSync(path, 0o640);
      runSync("chown", [`${nobody.uid}:${qmailIds(home).gid.qmail}`, path]);
    };
    const good = join(drop, `4242.${"a".repeat(32)}`);
    nobodys(good, stream);
    const when = new Date("2026-01-02T03:04:05Z");
    utimesSync(good, when, when);
    const bad = join(drop, `4243.${"b".repeat(32)}`);
    nobodys(bad, "garbage");
    const linked = join(drop, `4244.${"c".repeat(32)}`);
    nobodys(join(home, "elsewhere"), stream);
    linkSync(join(home, "elsewhere"), linked);
    const rootOwned = join(drop, `4245.${"d".repeat(32)}`);
    writeFileSync(rootOwned, stream, { mode: 0o640 });
    // Partial files: a live writer's (this process) stays; a dead writer's, or one older than
    // 36 hours, goes.
    const gone = start("true");
    await gone.exited;
    const dead = gone.pid;
    const liveTmp = join(drop, `t${process.pid}.${"e".repeat(32)}`);
    const deadTmp = join(drop, `t${dead}.${"f".repeat(32)}`);
    const oldTmp = join(drop, `t${process.pid}.${"0".repeat(32)}`);
    for (const t of [liveTmp, deadTmp, oldTmp]) nobodys(t, "partial");
    const old = new Date(Date.now() - 37 * 3600 * 1000);
    utimesSync(oldTmp, old, old);
    writeFileSync(join(drop, "README"), "not ours");

    const before = todo(home);
    const log: string[] = [];
    const q = new Queued({ home, ids: qmailIds(home), log: (l) => log.push(l) });
    const t0 = Date.now();
    expect(await q.drain()).toBe(1);
    const [m, ...more] = added(home, before);
    expect(more).toEqual([]);
    if (!m) throw new Error("not drained");
    expectMessage(m, {
      uid: nobody.uid,
      who: `by uid ${nobody.uid}`,
      message: "Subject: old\n\nx\n",
      envelope: ENV,
      t0,
      t1: Date.now(),
      pid: process.pid,
    });
    expect(readdirSync(drop)).toEqual([`t${process.pid}.${"e".repeat(32)}`]);
    expect(log.sort()).toEqual(
      [
        `warning: dropping malformed 4243.${"b".repeat(32)}: qq 91`,
        `warning: removed 4244.${"c".repeat(32)}: 2 links`,
        `warning: removed 4245.${"d".repeat(32)}: owned by uid 0`,
        "warning: removed README: not a drop file",
      ].sort(),
    );
  });
});

describe("qmail-queued in-process (limits, death, fuzz)", () => {
  let home: string;
  let q: Queued;
  let sock: string;
  beforeAll(async () => {
    home = await makeHome();
    sock = join(home, "queued/socket");
    q = new Queued({
      home,
      ids: qmailIds(home),
      maxClients: 3,
      reserve: 0,
      deathMs: 400,
      lingerMs: 500,
      log: () => {},
    });
    q.start();
  });
  afterAll(() => q.stop());

  /** Sends bytes (then half-closes unless hold), resolves with the one-byte answer, or -1 if none within ms. */
  function talk(bytes: Uint8Array, o: { hold?: boolean; ms?: number } = {}): Promise<number> {
    return new Promise((ok) => {
      const s = connect({ path: sock });
      let done = false;
      const fin = (v: number) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        s.destroy();
        ok(v);
      };
      const t = setTimeout(() => fin(-1), o.ms ?? 3000);
      s.on("data", (d: Buffer) => fin(d[0] as number));
      s.on("close", () => fin(-2));
      s.on("error", () => {});
      s.on("connect", () => {
        if (bytes.length) s.write(bytes);
        if (!o.hold) s.end();
      });
    });
  }

  function stream(msg: Uint8Array, env: string | Uint8Array): Buffer {
    const parts: Uint8Array[] = [];
    for (let at = 0; at < msg.length; at += 65536) {
      const p = msg.subarray(at, at + 65536);
      parts.push(frameHeader(p.length), p);
    }
    parts.push(frameHeader(0), typeof env === "string" ? Buffer.from(env, "latin1") : env);
    return Buffer.concat(parts);
  }

  test("a well-formed stream is queued (as the peer's uid, here root)", async () => {
    const before = todo(home);
    const t0 = Date.now();
    expect(await talk(stream(Buffer.from(MSG), ENV))).toBe(0);
    const [m] = added(home, before);
    if (!m) throw new Error("nothing queued");
    expectMessage(m, { uid: 0, who: "by uid 0", message: MSG, envelope: ENV, t0, t1: Date.now(), pid: process.pid });
  });

  test("an oversized frame is 91; a stream cut short is 54 and leaves nothing", async () => {
    const before = files(home);
    expect(await talk(frameHeader(65537))).toBe(91);
    expect(await talk(Buffer.concat([frameHeader(10), Buffer.from("abc")]))).toBe(54);
    expect(await talk(stream(Buffer.from(MSG), "Fa\0Tb"))).toBe(54);
    await waitFor(() => files(home).join() === before.join(), 2000);
    expect(files(home)).toEqual(before);
  });

  test("more clients than allowed: 71 at once; a silent client gets 52 after the death time", async () => {
    const held = [talk(new Uint8Array(0), { hold: true }), talk(new Uint8Array(0), { hold: true })];
    await Bun.sleep(50);
    const third = talk(new Uint8Array(0), { hold: true });
    const fourth = talk(new Uint8Array(0), { hold: true });
    const codes = await Promise.all([...held, third, fourth]);
    expect(codes.filter((c) => c === 71).length).toBe(1);
    expect(codes.filter((c) => c === 52).length).toBe(3);
  });

  const VALID = new Set([0, 11, 54, 91]);

  test("fuzz: random bytes always get one of qmail-queue's codes, quickly", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
        const t = Date.now();
        const code = await talk(b, { ms: 2000 });
        expect(VALID.has(code)).toBe(true);
        expect(Date.now() - t).toBeLessThan(2000);
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  test("fuzz: random envelopes get the code qmail-queue.c's rules give, and the queue holds exactly them", async () => {
    const addr = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom("a".repeat(ADDR - 1), "a".repeat(ADDR), "a".repeat(ADDR + 5)),
      fc.constantFrom("x\0y", "\0"),
    );
    const envArb = fc.record({
      lead: fc.constantFrom("F", "F", "F", "T", "X", ""),
      sender: addr,
      rcpts: fc.array(fc.tuple(fc.constantFrom("T", "T", "T", "Q"), addr), { maxLength: 4 }),
      end: fc.constantFrom("\0", "\0", ""),
    });
    await fc.assert(
      fc.asyncProperty(envArb, fc.uint8Array({ maxLength: 200 }), async (e, msg) => {
        const env = `${e.lead}${e.sender}\0${e.rcpts.map(([t, a]) => `${t}${a}\0`).join("")}${e.end}`;
        const before = todo(home);
        const code = await talk(stream(msg, env));
        expect(code).toBe(envelopeModel(env));
        const got = added(home, before);
        expect(got.length).toBe(code === 0 ? 1 : 0);
        if (code === 0) {
          const m = got[0];
          expect(m?.mess.subarray(m.mess.indexOf(10) + 1)).toEqual(Buffer.from(msg));
        }
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});

describe("qmail-queued per-uid limit", () => {
  test("an ordinary uid over its limit gets 71; root and the qmail users are exempt", async () => {
    const home = await makeHome();
    const q = new Queued({ home, ids: qmailIds(home), maxPerUid: 1, log: () => {} });
    q.start();
    const env = join(home, "queued", "env");
    writeFileSync(env, ENV);
    chmodSync(env, 0o644);
    const holders: Started[] = [];
    try {
      const hold = (user: string) => {
        const u = ids(user);
        const c = start("sh", ["-c", `exec ${home}/bin/qmail-queue 1<${env}`], {
          uid: u.uid,
          gid: u.gid,
          stdio: ["pipe", "ignore", "ignore"],
        });
        holders.push(c);
        // Some bytes, so that qmail-queued opens the queue's files for it (a sign it is counted).
        c.write("Subject: held\n");
        return c;
      };
      const messes = () => files(home).filter((f) => f.startsWith("mess/")).length;
      hold("nobody");
      hold("qmaild");
      await waitFor(() => messes() === 2, 5000);
      // Run the second clients off the event loop that serves them (runSync would block it).
      const second = async (user: string) => {
        const u = ids(user);
        const c = start("sh", ["-c", `echo x | exec ${home}/bin/qmail-queue 1<${env}`], {
          uid: u.uid,
          gid: u.gid,
          stdio: "ignore",
        });
        return (await c.wait()).code;
      };
      expect(await second("nobody")).toBe(71);
      expect(await second("qmaild")).toBe(0);
    } finally {
      for (const c of holders) c.kill("SIGKILL");
      q.stop();
    }
  }, 30_000);
});

describe("QmailQueue in-process (lib/queue/qmail.ts without $QMAILQUEUE)", () => {
  let home: string;
  beforeAll(async () => {
    home = await makeHome();
  });

  test("root writes the queue from this process: code 0, qp is ours (our pid mod 2^22)", async () => {
    const before = todo(home);
    const t0 = Date.now();
    const qq = new QmailQueue({ home, env: {} });
    await qq.put("Subject: in-process\n\n");
    await qq.put(Buffer.from("body\n"));
    qq.from("a@b");
    qq.to("c@d");
    qq.to("e@f");
    const r = await qq.close();
    expect({ code: r.code, text: r.text, space: r.pid % QP_SPACE }).toEqual({ code: 0, text: "", space: process.pid });
    const [m] = added(home, before);
    if (!m) throw new Error("nothing queued");
    expectMessage(m, {
      uid: 0,
      who: "by uid 0",
      message: "Subject: in-process\n\nbody\n",
      envelope: "Fa@b\0Tc@d\0Te@f\0\0",
      t0,
      t1: Date.now(),
      pid: r.pid,
    });
  });

  test("qmail_fail (no envelope): 54, qq read error, nothing left", async () => {
    const before = files(home);
    const qq = new QmailQueue({ home, env: {} });
    await qq.put("x\n");
    const r = await qq.close();
    expect({ code: r.code, text: r.text, space: r.pid % QP_SPACE }).toEqual({
      code: 54,
      text: "Zqq read error (#4.3.0)",
      space: process.pid,
    });
    expect(files(home)).toEqual(before);
  });

  test("an ordinary user's QmailQueue goes through qmail-queued, and through the drop directory when it is down", async () => {
    const script = `
      import { QmailQueue } from "${ROOT}/packages/qmail/src/lib/queue/qmail.ts";
      const qq = new QmailQueue({ home: ${JSON.stringify(home)}, env: {} });
      await qq.put("Subject: user\\n\\nhi\\n");
      qq.from("u@v");
      qq.to("w@x");
      const r = await qq.close();
      process.stdout.write(JSON.stringify(r));
    `;
    const nobody = ids("nobody");
    const runAsNobody = () => {
      const r = runSync(BUN, ["-e", script], {
        uid: nobody.uid,
        gid: nobody.gid,
        cwd: "/",
        timeout: 20_000,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/" },
        extendEnv: false,
      });
      return JSON.parse(r.stdout || "{}") as { code: number; pid: number };
    };
    const qd = await startQueued(home);
    let before = todo(home);
    try {
      const r = runAsNobody();
      expect(r.code).toBe(0);
      const [m] = added(home, before);
      expect(m?.todo.toString("latin1")).toBe(`u${nobody.uid}\0p${r.pid}\0Fu@v\0Tw@x\0`);
    } finally {
      await qd.stop();
    }
    const r2 = runAsNobody();
    expect(r2.code).toBe(0);
    expect(readdirSync(join(home, "queued/drop"))).toHaveLength(1);
    before = todo(home);
    const qd2 = await startQueued(home);
    try {
      await waitFor(() => added(home, before).length === 1, 5000);
      expect(added(home, before)[0]?.todo.toString("latin1")).toBe(`u${nobody.uid}\0p${qd2.pid}\0Fu@v\0Tw@x\0`);
    } finally {
      await qd2.stop();
    }
  }, 60_000);
});

describe("qmail-queued the program", () => {
  test("under qmail-start, fd 0 is its lifeline: EOF there and it exits 0", async () => {
    const home = await makeHome();
    const p = start(join(home, "bin/qmail-queued"), [], { stdio: ["pipe", "ignore", "inherit"] });
    expect(
      await waitFor(() => lstatSync(join(home, "queued/socket"), { throwIfNoEntry: false })?.isSocket(), 5000),
    ).toBe(true);
    expect((await qq(home, MSG, ENV, { user: "nobody" })).code).toBe(0);
    expect(todo(home).size).toBe(1);
    p.end();
    expect((await p.wait()).code).toBe(0);
  });

  test("killed -9 mid-message: the client gets 81 at its next write, todo nothing; a new qmail-queued starts over the stale socket", async () => {
    const home = await makeHome();
    const q = await startQueued(home);
    const env = join(home, "queued", "env");
    writeFileSync(env, ENV);
    chmodSync(env, 0o644);
    const nobody = ids("nobody");
    const c = start("sh", ["-c", `exec ${home}/bin/qmail-queue 1<${env}`], {
      uid: nobody.uid,
      gid: nobody.gid,
      stdio: ["pipe", "ignore", "ignore"],
    });
    c.write("Subject: cut\n\n");
    expect(await waitFor(() => files(home).some((f) => f.startsWith("mess/")), 5000)).toBe(true);
    process.kill(q.pid, "SIGKILL");
    // The client notices at its next write, when more of the message comes.
    c.write("more\n");
    c.end();
    expect((await c.wait()).code).toBe(81);
    expect(todo(home).size).toBe(0);
    const q2 = await startQueued(home);
    try {
      // Until the new daemon has bound, a client meets the stale socket and drops the message: either way it is queued.
      expect((await qq(home, MSG, ENV, { user: "nobody" })).code).toBe(0);
      expect(await waitFor(() => todo(home).size === 1, 5000)).toBe(true);
    } finally {
      await q2.stop();
      await q.stop();
    }
  }, 30_000);

  test("drops to qmailq; a second instance on the same home exits 111; SIGALRM drains; SIGTERM exits 0", async () => {
    const home = await makeHome();
    const q = await startQueued(home);
    try {
      const st = statSync(`/proc/${q.pid}/status`);
      expect(st.isFile()).toBe(true);
      const status = readFileSync(`/proc/${q.pid}/status`, "utf8");
      const u = ids("qmailq").uid;
      expect(status).toMatch(new RegExp(`\\nUid:\\t${u}\\t${u}\\t${u}\\t${u}\\n`));
      expect(readFileSync(`/proc/${q.pid}/comm`, "utf8")).toBe("qmail-queued\n");
      const second = runSync(join(home, "bin/qmail-queued"), [], { timeout: 10_000 });
      expect(second.code).toBe(111);
      expect(second.stderr).toBe(`qmail-queued: fatal: unable to acquire ${home}/queued/lock: temporary failure\n`);
      // A drop file that appears while it runs is queued on SIGALRM.
      const drop = join(home, "queued/drop");
      const body = Buffer.from("x\n");
      const name = join(drop, `77.${"f".repeat(32)}`);
      writeFileSync(name, Buffer.concat([frameHeader(body.length), body, frameHeader(0), Buffer.from(ENV, "latin1")]));
      chmodSync(name, 0o640);
      runSync("chown", [`${ids("nobody").uid}:${qmailIds(home).gid.qmail}`, name]);
      process.kill(q.pid, "SIGALRM");
      expect(await waitFor(() => todo(home).size === 1, 5000)).toBe(true);
    } finally {
      await q.stop();
    }
    // A drop file qmail-queued cannot read (not group qmail, mode 0600) is nobody's drop file: removed, with a warning.
    const unreadable = join(home, "queued/drop", `78.${"0".repeat(32)}`);
    writeFileSync(unreadable, "x");
    chmodSync(unreadable, 0o600);
    runSync("chown", [`${ids("nobody").uid}:${ids("nobody").gid}`, unreadable]);
    const p = start(join(home, "bin/qmail-queued"), [], { stdio: ["ignore", "ignore", "pipe"] });
    await waitFor(() => {
      try {
        return lstatSync(join(home, "queued/socket")).isSocket();
      } catch {
        return false;
      }
    }, 5000);
    p.kill("SIGTERM");
    const { code, stderr } = await p.wait();
    expect(code).toBe(0);
    expect(stderr).toBe(`qmail-queued: warning: removed 78.${"0".repeat(32)}: unreadable\n`);
    expect(existsSync(unreadable)).toBe(false);
  }, 30_000);
});

describe("an unfinished message leaves nothing in the drop directory (qmail-queued down)", () => {
  let home: string;
  let drop: string;
  beforeAll(async () => {
    home = await makeHome();
    drop = join(home, "queued/drop");
    writeFileSync(join(home, "control/me"), "test.example\n");
    writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
    writeFileSync(join(home, "control/timeoutsmtpd"), "2\n");
  });

  const HEAD = "HELO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nSubject: cut\r\n\r\n";

  /** The writer's descriptors that point into the drop directory (a nameless file shows as "(deleted)"). */
  function dropFds(pid: number): string[] {
    const out: string[] = [];
    for (const fd of readdirSync(`/proc/${pid}/fd`))
      try {
        const t = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (t.startsWith(drop)) out.push(t);
      } catch {}
    return out;
  }

  /** qmail-smtpd as qmaild, in the middle of DATA with 200 KB of body sent, then `end` it. */
  async function smtpdCut(end: (p: Started) => void): Promise<string> {
    const qd = ids("qmaild");
    const p = start(join(home, "bin/qmail-smtpd"), [], {
      uid: qd.uid,
      gid: qd.gid,
      stdio: ["pipe", "pipe", "ignore"],
      env: { PATH: process.env.PATH ?? "/bin:/usr/bin", TCPREMOTEIP: "10.1.2.3", TCPLOCALHOST: "mx.test.example" },
      extendEnv: false,
    });
    p.write(HEAD);
    p.write(`${"x".repeat(999)}\r\n`.repeat(200));
    // The writer holds its drop file (nameless) once the body is flowing.
    expect(await waitFor(() => p.stdout().includes("354 ") && dropFds(p.pid).length > 0, 10_000)).toBe(true);
    end(p);
    await p.exited;
    return p.stdout();
  }

  test("qmail-smtpd as qmaild: a finished message is one drop file", async () => {
    const qd = ids("qmaild");
    const r = runSync(join(home, "bin/qmail-smtpd"), [], {
      uid: qd.uid,
      gid: qd.gid,
      input: `${HEAD}body\r\n.\r\nQUIT\r\n`,
      encoding: "latin1",
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? "/bin:/usr/bin", TCPREMOTEIP: "10.1.2.3" },
      extendEnv: false,
    });
    expect(r.stdout).toMatch(/\r\n250 ok \d+ qp \d+\r\n221 /);
    const names = readdirSync(drop);
    expect(names).toHaveLength(1);
    runSync("rm", ["-f", join(drop, names[0] as string)]);
  });

  test("qmail-smtpd as qmaild: client disconnect in DATA leaves nothing", async () => {
    await smtpdCut((p) => p.end());
    expect(readdirSync(drop)).toEqual([]);
  });

  test("qmail-smtpd as qmaild: timeout in DATA leaves nothing", async () => {
    const out = await smtpdCut(() => {});
    expect(out).toEndWith("451 timeout (#4.4.2)\r\n");
    expect(readdirSync(drop)).toEqual([]);
  });

  test("qmail-smtpd as qmaild: SIGTERM and SIGKILL in DATA leave nothing", async () => {
    await smtpdCut((p) => p.kill("SIGTERM"));
    expect(readdirSync(drop)).toEqual([]);
    await smtpdCut((p) => p.kill("SIGKILL"));
    expect(readdirSync(drop)).toEqual([]);
  });

  test("a message bigger than the drop limit (control/databytes + 1 MiB) gets 71 and leaves nothing", async () => {
    writeFileSync(join(home, "control/databytes"), "1000\n");
    try {
      expect(
        (await qq(home, `Subject: big\n\n${"z".repeat(1024 * 1024 + 2000)}\n`, ENV, { user: "nobody" })).code,
      ).toBe(71);
      expect(readdirSync(drop)).toEqual([]);
      expect((await qq(home, "Subject: small\n\nok\n", ENV, { user: "nobody" })).code).toBe(0);
      expect(readdirSync(drop)).toHaveLength(1);
    } finally {
      unlinkSync(join(home, "control/databytes"));
      for (const n of readdirSync(drop)) unlinkSync(join(drop, n));
    }
  });

  test("qmail-queue as a user, killed -9 in the middle of the message, leaves nothing", async () => {
    const env = join(home, "queued", "env");
    writeFileSync(env, ENV);
    chmodSync(env, 0o644);
    const nobody = ids("nobody");
    const c = start("sh", ["-c", `exec ${home}/bin/qmail-queue 1<${env}`], {
      uid: nobody.uid,
      gid: nobody.gid,
      stdio: ["pipe", "ignore", "ignore"],
    });
    c.write(`Subject: cut\n\n${"y".repeat(100_000)}\n`);
    expect(await waitFor(() => dropFds(c.pid).length > 0, 10_000)).toBe(true);
    c.kill("SIGKILL");
    await c.exited;
    expect(readdirSync(drop)).toEqual([]);
  });
});

describe("the drop writer where O_TMPFILE is missing (t files)", () => {
  let home: string;
  let drop: string;
  beforeAll(async () => {
    home = await makeHome();
    drop = join(home, "queued/drop");
  });

  const script = (end: string) => `
    import { DropInjection } from "${ROOT}/packages/qmail/src/lib/queue/queued-client.ts";
    import { qmailIds } from "${ROOT}/packages/qmail/src/lib/ids.ts";
    const d = DropInjection.open(${JSON.stringify(home)}, qmailIds(${JSON.stringify(home)}), { tmpfile: false });
    if (typeof d === "number") process.exit(d);
    d.put(Buffer.from("Subject: t\\n\\n" + "x".repeat(100000)));
    // The partial file, by the name only its writer knows (nobody may list the directory).
    const { existsSync } = await import("node:fs");
    process.stdout.write(\`\${existsSync(d.tmp)}\\n\`);
    ${end}
  `;
  const runAsNobody = (end: string) => {
    const nobody = ids("nobody");
    return runSync(BUN, ["-e", script(end)], {
      uid: nobody.uid,
      gid: nobody.gid,
      cwd: "/",
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/" },
      extendEnv: false,
    });
  };

  test("a partial t file is there while writing; an exit in the middle removes it", () => {
    const r = runAsNobody("process.exit(1);");
    expect(r.stdout).toBe("true\n");
    expect(r.code).toBe(1);
    expect(readdirSync(drop)).toEqual([]);
  });

  test("a complete message is renamed to its final name; abort removes the partial file", () => {
    const r = runAsNobody(`
      d.messageEnd();
      if (d.envelope(Buffer.from("Fa\\0Tb\\0\\0")) !== 0) process.exit(9);
      const e = DropInjection.open(${JSON.stringify(home)}, qmailIds(${JSON.stringify(home)}), { tmpfile: false });
      if (typeof e === "number") process.exit(e);
      e.put(Buffer.from("x"));
      process.exit(e.abort(54) === 54 ? 0 : 8);
    `);
    expect(r.code).toBe(0);
    const names = readdirSync(drop);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\d+\.[0-9a-f]{32}$/);
    unlinkSync(join(drop, names[0] as string));
  });

  test("a writer killed -9 leaves its t file; qmail-queued removes it at start (the writer's pid is gone)", async () => {
    const nobody = ids("nobody");
    const c = start(BUN, ["-e", script("setInterval(() => {}, 1000);")], {
      uid: nobody.uid,
      gid: nobody.gid,
      cwd: "/",
      stdio: ["ignore", "pipe", "inherit"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/" },
      extendEnv: false,
    });
    expect(await c.until("\n", 20_000)).toContain("\n");
    const partial = readdirSync(drop);
    expect(partial).toEqual([expect.stringMatching(new RegExp(`^t${c.pid}\\.[0-9a-f]{32}$`))]);
    c.kill("SIGKILL");
    await c.exited;
    expect(readdirSync(drop)).toEqual(partial);
    const q = await startQueued(home);
    try {
      expect(await waitFor(() => readdirSync(drop).length === 0, 5000)).toBe(true);
    } finally {
      await q.stop();
    }
  });
});
