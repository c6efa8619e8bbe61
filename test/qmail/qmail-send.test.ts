// SPDX-License-Identifier: MIT
// qmail-send end to end, started by qmail-start with the real spawners and
// qmail-clean, fake qmail-local / qmail-remote / qmail-queue (helpers).
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { kill, ours, start, stdioFd, waitFor } from "../lib/harness.ts";
import {
  bounces,
  deliveries,
  type Home,
  inject,
  makeHome,
  pull,
  queueFiles,
  type Running,
  startQmail,
} from "./qmail-send.helpers.ts";

setDefaultTimeout(30_000);

const RCVD = "Received: (qmail 4242 invoked by uid 0); 1 Jan 2026 00:00:00 -0000\n";
const BODY = "Subject: test\n\nhello\n";
const BYTES = Buffer.byteLength(RCVD + BODY);
const DATE = /^Date: \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n/;

async function withQmail(h: Home, f: (q: Running) => Promise<void>, args?: string[]): Promise<void> {
  const q = startQmail(h, args);
  try {
    expect(await q.waitLine(/^status: local 0\/\d+ remote 0\/\d+$/)).toBe(true);
    await f(q);
  } catch (e) {
    process.stderr.write(`--- log:\n${q.log()}---\n`);
    throw e;
  } finally {
    await q.stop();
  }
}

/** The log lines about message id since its last "new msg" (inode numbers are reused), in order. */
function about(q: Running, id: number): string[] {
  const l = q.lines();
  const from = l.lastIndexOf(`new msg ${id}`);
  return l.slice(Math.max(from, 0)).filter((x) => x.includes(`msg ${id}`));
}

/** The queue's files once qmail-clean had time to remove them ("end msg" comes before the last clean request). */
async function drained(h: Home): Promise<string[]> {
  await waitFor(() => queueFiles(h).length === 0, 3000);
  return queueFiles(h);
}

/** Injects and waits for its end msg line. */
async function deliver(q: Running, h: Home, sender: string, recips: string[], ms = 8000): Promise<number> {
  const n = q.lines().length;
  const id = inject(h, sender, recips);
  expect(await q.waitLineFrom(n, new RegExp(`^end msg ${id}$`), ms)).toBe(true);
  return id;
}

describe("qmail-send: log lines (qmail-log(5), the article's example)", () => {
  test("local delivery: new msg, info msg, starting delivery, success did_1+0+0/, end msg", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      const id = inject(h, "me@domain", ["ok@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(q.lines()).toEqual([
        "status: local 0/10 remote 0/20",
        `new msg ${id}`,
        `info msg ${id}: bytes ${BYTES} from <me@domain> qp 4242 uid 0`,
        `starting delivery 1: msg ${id} to local ok@domain`,
        "status: local 1/10 remote 0/20",
        "delivery 1: success: did_1+0+0/",
        "status: local 0/10 remote 0/20",
        `end msg ${id}`,
      ]);
      expect(await drained(h)).toEqual([]);
    });
    expect(readFileSync(join(h.dir, "queue/lock/sendmutex")).length).toBe(0);
  });

  test("remote delivery; SIGTERM ends with status: exiting; escaping of odd bytes", async () => {
    const h = makeHome();
    const q = startQmail(h);
    expect(await q.waitLine(/^status:/)).toBe(true);
    const id = inject(h, "we%ird\tsender@domain", ["x@remote.org"]);
    expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
    await q.stop();
    expect(q.lines()).toEqual([
      "status: local 0/10 remote 0/20",
      `new msg ${id}`,
      `info msg ${id}: bytes ${BYTES} from <we_ird_sender@domain> qp 4242 uid 0`,
      `starting delivery 1: msg ${id} to remote x@remote.org`,
      "status: local 0/10 remote 1/20",
      "delivery 1: success: 127.0.0.1_accepted_message./Remote_host_said:_250_ok_1234_qp_99/",
      "status: local 0/10 remote 0/20",
      `end msg ${id}`,
      "status: exiting",
    ]);
    expect((await q.child.exited).code).toBe(0);
  });

  test("concurrency is capped by the spawner's byte (120); an odd control value is the default", async () => {
    const h = makeHome({ control: { concurrencylocal: "500", concurrencyremote: "x" } });
    await withQmail(h, async (q) => {
      expect(q.lines()[0]).toBe("status: local 0/120 remote 0/20");
    });
  });

  test("SIGTERM waits for deliveries in progress (exitasap) and stores nothing new", async () => {
    const h = makeHome();
    const q = startQmail(h);
    expect(await q.waitLine(/^status:/)).toBe(true);
    const id = inject(h, "me@domain", ["slow@domain"]);
    expect(await q.waitLine(/^starting delivery 1/)).toBe(true);
    kill(q.pid, "SIGTERM");
    expect(await q.waitLine(/^status: exiting$/)).toBe(true);
    await q.stop();
    expect(q.lines().slice(-4)).toEqual([
      "delivery 1: success: did_1+0+0/",
      "status: local 0/10 remote 0/20 exitasap",
      `end msg ${id}`,
      "status: exiting",
    ]);
    expect(await drained(h)).toEqual([]);
  });

  test("a second qmail-send: alert: cannot start: qmail-send is already running", async () => {
    const h = makeHome();
    await withQmail(h, async () => {
      const q2 = startQmail(h);
      expect(await q2.waitLine(/^alert: cannot start: qmail-send is already running$/)).toBe(true);
      expect((await q2.child.wait(5000)).code).toBe(111);
      await q2.stop();
    });
  });

  test("spawners that never answer: alert: cannot start: hath the daemon spawn no fire?", async () => {
    const h = makeHome();
    const logf = join(h.dir, "log");
    const fd = openSync(logf, "w");
    const c = start(ours("qmail-send"), [], {
      env: { QMAILHOME: h.dir },
      extendEnv: false,
      stdio: [stdioFd(fd), "ignore", "ignore", "ignore", "ignore", "ignore", "ignore"],
    });
    closeSync(fd);
    expect((await c.wait()).code).toBe(111);
    expect(readFileSync(logf, "latin1")).toBe("alert: cannot start: hath the daemon spawn no fire?\n");
  });

  test("no queue: alert: cannot start: unable to switch to queue directory", async () => {
    const h = makeHome();
    const { rmSync } = await import("node:fs");
    rmSync(join(h.dir, "queue"), { recursive: true });
    const q = startQmail(h);
    expect(await q.waitLine(/^alert: cannot start: unable to switch to queue directory$/)).toBe(true);
    await q.stop();
  });
});

describe("qmail-send: todo scan and rewriting", () => {
  test("todo/ is scanned on a trigger pull, not before", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      // qmail-send scans todo/ once at start-up, a subdirectory per turn of its loop (qmail-send.c's
      // todo_do): on a loaded machine that pass may still be running after the status line, and it
      // would find the message. Let it end first.
      await Bun.sleep(2000);
      const id = inject(h, "me@domain", ["ok@domain"], BODY, { trigger: false });
      await Bun.sleep(1500);
      expect(about(q, id)).toEqual([]);
      pull(h);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
    });
  });

  test("a message already in todo/ at start-up is processed at once", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["ok@domain"], BODY, { trigger: false });
    await withQmail(h, async (q) => {
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
    });
  });

  test("envnoathost, percenthack, locals (any case), virtualdomains; HUP rereads locals and virtualdomains", async () => {
    const h = makeHome({
      control: {
        percenthack: "gw.org",
        virtualdomains: "virt.org:ok\nuser@exact.org:okexact\n.sub.org:oksub\nno.sub.org:\n",
        locals: "domain\nother.local\n",
      },
    });
    await withQmail(h, async (q) => {
      const cases: [string, string][] = [
        ["nohost", "local nohost@domain"],
        ["a%b%remote.net@gw.org", "remote a_b@remote.net"],
        ["x@OTHER.Local", "local x@OTHER.Local"],
        ["dude@virt.org", "local ok-dude@virt.org"],
        ["user@exact.org", "local okexact-user@exact.org"],
        ["x@a.sub.org", "local oksub-x@a.sub.org"],
        ["x@no.sub.org", "remote x@no.sub.org"],
        ["x@anything.else", "remote x@anything.else"],
      ];
      for (const [rcpt, want] of cases) {
        const id = await deliver(q, h, "me@domain", [rcpt]);
        const start = about(q, id).find((l) => l.startsWith("starting delivery"));
        expect(start?.replace(/^starting delivery \d+: msg \d+ to /, "")).toBe(want);
      }

      writeFileSync(join(h.dir, "control/locals"), "domain\nnew.local\n");
      writeFileSync(join(h.dir, "control/virtualdomains"), "virt.org:okv2\n:okall\n");
      kill(q.pid, "SIGHUP");
      await Bun.sleep(300);
      for (const [rcpt, want] of [
        ["x@new.local", "local x@new.local"],
        ["x@other.local", "local okall-x@other.local"],
        ["dude@virt.org", "local okv2-dude@virt.org"],
      ] as [string, string][]) {
        const id = await deliver(q, h, "me@domain", [rcpt]);
        const start = about(q, id).find((l) => l.startsWith("starting delivery"));
        expect(start?.replace(/^starting delivery \d+: msg \d+ to /, "")).toBe(want);
      }
    });
  });

  test("200 recipients in one message, local and remote: each delivered once, then end msg", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      const rcpts = Array.from({ length: 200 }, (_, i) => (i % 2 ? `ok${i}@domain` : `r${i}@remote.org`));
      // 200 deliveries, each a process pair: bounded generously for a loaded 2-core machine.
      const id = await deliver(q, h, "me@domain", rcpts, 40_000);
      const got = deliveries(h).map((x) => x.split("\n"));
      const local = got.filter((x) => x[0] === "nobody").map((x) => `${x[2]}@${x[5]}`);
      const remote = got.filter((x) => x[0] !== "nobody").map((x) => x[2]);
      expect([...local, ...remote].sort()).toEqual([...rcpts].sort());
      expect(about(q, id).filter((l) => l.startsWith("starting delivery")).length).toBe(200);
      expect(await drained(h)).toEqual([]);
    });
  });

  test("VERP: sender owner-@host-@[] reaches the spawner as owner-box=host@host", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      const id = inject(h, "list-owner-@lists.org-@[]", ["ok@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect((deliveries(h)[0] as string).split("\n")[6]).toBe("list-owner-ok=domain@lists.org");
    });
  });
});

describe("qmail-send: bounces (QSBMF)", () => {
  test("a failure bounces to the sender in QSBMF, byte for byte", async () => {
    const h = makeHome({ control: { virtualdomains: "virt.org:fail" } });
    await withQmail(h, async (q) => {
      const id = inject(h, "me@domain", ["fail@domain", "ok@domain", "dude@virt.org", "blank@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      const b = bounces(h);
      expect(b.length).toBe(1);
      const bb = b[0] as { msg: string; env: string; pid: number };
      expect(q.lines()).toContain(`bounce msg ${id} qp ${bb.pid}`);
      expect(q.lines()).toContain(
        `delivery ${
          q
            .lines()
            .find((l) => l.endsWith("to local blank@domain"))
            ?.match(/delivery (\d+)/)?.[1]
        }: failure: first///last`,
      );
      expect(bb.env).toBe("F\0Tme@domain\0\0");
      expect(bb.msg).toMatch(DATE);
      const lines = bb.msg.replace(DATE, "");
      // entries appear in the order the reports came back
      const entries = [
        "<fail@domain>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n",
        "<dude@virt.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n",
        "<blank@domain>:\nfirst\n//last\n\n",
      ];
      const head =
        "From: MAILER-DAEMON@domain\nTo: me@domain\nSubject: failure notice\n\n" +
        "Hi. This is the qmail-send program at domain.\n" +
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n" +
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n";
      const tail = `--- Below this line is a copy of the message.\n\nReturn-Path: <me@domain>\n${RCVD}${BODY}`;
      expect(lines.startsWith(head)).toBe(true);
      expect(lines.endsWith(tail)).toBe(true);
      const mid = lines.slice(head.length, lines.length - tail.length);
      expect(mid.length).toBe(entries.join("").length);
      for (const e of entries) expect(mid).toContain(e);
      expect(await drained(h)).toEqual([]);
    });
  });

  test("bouncefrom, bouncehost and quoting; a VERP sender loses its -@[]", async () => {
    const h = makeHome({ control: { bouncefrom: "mailer daemon", bouncehost: "bh.org" } });
    await withQmail(h, async (q) => {
      const id = inject(h, "o..x-@lists.org-@[]", ["fail@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      const bb = bounces(h)[0] as { msg: string; env: string };
      expect(bb.env).toBe("F\0To..x-@lists.org\0\0");
      expect(bb.msg.replace(DATE, "").split("\n").slice(0, 6)).toEqual([
        'From: "mailer daemon"@bh.org',
        'To: "o..x-"@lists.org',
        "Subject: failure notice",
        "",
        "Hi. This is the qmail-send program at bh.org.",
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
      ]);
      expect(bb.msg).toContain('Return-Path: <"o..x-"@lists.org>\n');
      expect((deliveries(h)[0] as string).split("\n")[6]).toBe("o..x-fail=domain@lists.org");
    });
  });

  test("double bounce: a bounce that fails goes from #@[] to doublebounceto@doublebouncehost", async () => {
    const h = makeHome({ control: { doublebouncehost: "dbh.org", doublebounceto: "pm" } });
    await withQmail(h, async (q) => {
      const id = inject(h, "", ["fail@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      const bb = bounces(h)[0] as { msg: string; env: string; pid: number };
      expect(bb.env).toBe("F#@[]\0Tpm@dbh.org\0\0");
      expect(bb.msg.replace(DATE, "")).toBe(
        "From: MAILER-DAEMON@domain\nTo: pm@dbh.org\nSubject: failure notice\n\n" +
          "Hi. This is the qmail-send program at domain.\n" +
          "I tried to deliver a bounce message to this address, but the bounce bounced!\n\n" +
          "<fail@domain>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n" +
          "--- Below this line is the original bounce.\n\n" +
          `Return-Path: <>\n${RCVD}${BODY}`,
      );
    });
  });

  test("triple bounce: sender #@[] fails, the bounce is discarded", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      const id = inject(h, "#@[]", ["fail@domain"]);
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      const l = about(q, id);
      expect(q.lines()).toContain(`triple bounce: discarding bounce/${id}`);
      expect(l.some((x) => x.startsWith("bounce msg"))).toBe(false);
      expect(bounces(h)).toEqual([]);
      expect(await drained(h)).toEqual([]);
    });
  });

  test("qmail-queue failing: warning, bounce kept and retried", async () => {
    const h = makeHome();
    const q = startQmail(h, ["./Mailbox"]);
    try {
      expect(await q.waitLine(/^status:/)).toBe(true);
    } finally {
      await q.stop();
    }
    const q2 = startQmail(h, ["./Mailbox"], { FAKE_QQ_EXIT: "53" });
    try {
      expect(await q2.waitLine(/^status:/)).toBe(true);
      const id = inject(h, "me@domain", ["fail@domain"]);
      expect(await q2.waitLine(/^warning: trouble injecting bounce message, will try later$/)).toBe(true);
      expect(existsSync(join(h.dir, "queue/bounce", String(id)))).toBe(true);
      expect(about(q2, id).some((l) => l.startsWith("end msg"))).toBe(false);
    } finally {
      await q2.stop();
    }
    // a working qmail-queue at the next start: the bounce goes out, then end msg
    await withQmail(h, async (q3) => {
      expect(await q3.waitLine(/^end msg /)).toBe(true);
      expect(bounces(h).length).toBeGreaterThan(0);
    });
  });
});

describe("qmail-send: retries", () => {
  test("a deferral is retried on SIGALRM; the next retry time is stored as mtime on exit", async () => {
    const h = makeHome();
    let id = 0;
    let alarmAt = 0;
    await withQmail(h, async (q) => {
      id = inject(h, "me@domain", ["defer@domain"]);
      expect(await q.waitLine(/^delivery 1: deferral: Temporary_failure.\/$/)).toBe(true);
      await Bun.sleep(1200);
      expect(q.lines().some((l) => l.startsWith("starting delivery 2"))).toBe(false);
      alarmAt = Math.floor(Date.now() / 1000);
      kill(q.pid, "SIGALRM");
      expect(await q.waitLine(/^delivery 2: deferral: Temporary_failure.\/$/)).toBe(true);
      expect(q.lines()).toContain(`starting delivery 2: msg ${id} to local defer@domain`);
    });
    const birth = Math.floor(statSync(join(h.dir, "queue/info", String(id % 23), String(id))).mtimeMs / 1000);
    const local = statSync(join(h.dir, "queue/local", String(id % 23), String(id)));
    // the pass after SIGALRM, at age a, schedules birth + (floor(sqrt(a)) + 10)^2
    const a = alarmAt - birth;
    const want = [a - 1, a, a + 1].filter((x) => x >= 0).map((x) => birth + (Math.floor(Math.sqrt(x)) + 10) ** 2);
    expect(want).toContain(Math.floor(local.mtimeMs / 1000));
  });

  test("the retry schedule: birth + (floor(sqrt(age)) + 10)^2 local, + 20 remote", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["defer@domain", "conn@remote.org"], BODY, { trigger: false });
    // First pass with a queue state made by hand: info born 150 s ago, both channels due.
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@domain\0");
    writeFileSync(join(q, "local", d), "Tdefer@domain\0");
    writeFileSync(join(q, "remote", d), "Tconn@remote.org\0");
    for (const s of ["info", "local", "remote"]) chownSync(join(q, s, d), h.ids.qmails, h.ids.qmail);
    unlinkSync(join(q, "todo", String(id)));
    unlinkSync(join(q, "intd", String(id)));
    const birth = Math.floor(Date.now() / 1000) - 150;
    utimesSync(join(q, "info", d), birth, birth);
    for (const s of ["local", "remote"]) utimesSync(join(q, s, d), birth, birth);
    await withQmail(h, async (r) => {
      expect(await r.waitLine(/^delivery \d: deferral: Sorry/)).toBe(true);
      expect(await r.waitLine(/^delivery \d: deferral: Temporary/)).toBe(true);
    });
    const m = (s: string) => Math.floor(statSync(join(q, s, d)).mtimeMs / 1000);
    expect(m("local")).toBe(birth + (12 + 10) ** 2);
    expect(m("remote")).toBe(birth + (12 + 20) ** 2);
  });

  test("an info/ born in the future (clock skew): retried at birth + 10^2", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["defer@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@domain\0");
    writeFileSync(join(q, "local", d), "Tdefer@domain\0");
    for (const s of ["info", "local"]) chownSync(join(q, s, d), h.ids.qmails, h.ids.qmail);
    unlinkSync(join(q, "todo", String(id)));
    unlinkSync(join(q, "intd", String(id)));
    const birth = Math.floor(Date.now() / 1000) + 5000;
    utimesSync(join(q, "info", d), birth, birth);
    utimesSync(join(q, "local", d), 1000, 1000);
    await withQmail(h, async (r) => {
      expect(await r.waitLine(/^delivery 1: deferral: Temporary/)).toBe(true);
    });
    expect(Math.floor(statSync(join(q, "local", d)).mtimeMs / 1000)).toBe(birth + 100);
  });

  test("past queuelifetime a deferral becomes a failure, bounced with the too-long text", async () => {
    const h = makeHome({ control: { queuelifetime: "100" } });
    const id = inject(h, "me@domain", ["defer@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@domain\0");
    writeFileSync(join(q, "local", d), "Tdefer@domain\0");
    for (const s of ["info", "local"]) chownSync(join(q, s, d), h.ids.qmails, h.ids.qmail);
    unlinkSync(join(q, "todo", String(id)));
    unlinkSync(join(q, "intd", String(id)));
    const birth = Math.floor(Date.now() / 1000) - 1000;
    utimesSync(join(q, "info", d), birth, birth);
    utimesSync(join(q, "local", d), birth, birth);
    await withQmail(h, async (r) => {
      expect(await r.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(r.lines()).toContain(
        "delivery 1: failure: Temporary_failure./I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./",
      );
      const bb = bounces(h)[0] as { msg: string };
      expect(bb.msg).toContain(
        "<defer@domain>:\nTemporary failure.\nI'm not going to try again; this message has been in the queue too long.\n\n",
      );
    });
  });
});

describe("qmail-send: crash safety", () => {
  test("kill -9 mid-delivery, restart: delivered once or twice, never lost; queue empties", async () => {
    const h = makeHome();
    const q = startQmail(h);
    expect(await q.waitLine(/^status:/)).toBe(true);
    const id = inject(h, "me@domain", ["slow@domain", "ok@domain"]);
    expect(await q.waitLine(/^starting delivery 2/)).toBe(true);
    kill(q.pid, "SIGKILL");
    await q.stop();
    await withQmail(h, async (r) => {
      expect(await r.waitLine(new RegExp(`^end msg ${id}$`), 10000)).toBe(true);
    });
    const got = deliveries(h).map((x) => x.split("\n")[2]);
    const slow = got.filter((x) => x === "slow").length;
    const ok = got.filter((x) => x === "ok").length;
    expect(slow === 1 || slow === 2).toBe(true);
    expect(ok === 1 || ok === 2).toBe(true);
    expect(await drained(h)).toEqual([]);
  });

  test("kill -9 at random moments while 40 messages flow: every recipient delivered at least once", async () => {
    const h = makeHome();
    const rcpts: string[] = [];
    let q = startQmail(h);
    expect(await q.waitLine(/^status:/)).toBe(true);
    for (let i = 0; i < 40; i++) {
      const r = [`ok${i}a@domain`, `r${i}@remote.org`];
      rcpts.push(...r);
      inject(h, "me@domain", r);
      if (i % 10 === 9) {
        await Bun.sleep(20 + Math.floor(Math.random() * 150));
        kill(q.pid, "SIGKILL");
        await q.stop();
        q = startQmail(h);
        expect(await q.waitLine(/^status:/)).toBe(true);
      }
    }
    // Done when no message is left to deliver. A kill between "end msg" and qmail-clean's foop/N leaves
    // mess/N and intd/N behind; qmail-send's cleanup removes them after 36 hours, as in C.
    const pending = () => queueFiles(h).filter((f) => !/^(mess\/\d+|intd)\/\d+$/.test(f));
    try {
      expect(await waitFor(() => pending().length === 0, 20000)).toBe(true);
      expect(pending()).toEqual([]);
    } finally {
      await q.stop();
    }
    for (const f of queueFiles(h)) {
      const id = Number(f.split("/").pop());
      expect(existsSync(join(h.dir, "queue/info", String(id % 23), String(id)))).toBe(false);
    }
    const got = new Set(
      deliveries(h).map((x) => {
        const f = x.split("\n");
        return f[0] === "nobody" ? `${f[2]}@${f[5]}` : (f[2] as string);
      }),
    );
    expect(rcpts.filter((r) => !got.has(r))).toEqual([]);
  });

  test("restart with D-marked records: only the T records are delivered", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["ok1@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@domain\0");
    writeFileSync(join(q, "local", d), "Dok1@domain\0Tok2@domain\0Dok3@domain\0");
    for (const s of ["info", "local"]) chownSync(join(q, s, d), h.ids.qmails, h.ids.qmail);
    unlinkSync(join(q, "todo", String(id)));
    unlinkSync(join(q, "intd", String(id)));
    await withQmail(h, async (r) => {
      expect(await r.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(about(r, id).filter((l) => l.startsWith("starting"))).toEqual([
        `starting delivery 1: msg ${id} to local ok2@domain`,
      ]);
    });
    expect(await drained(h)).toEqual([]);
  });

  test("todo/ beside a half-written info/ (crash during the todo scan): redone from todo", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["ok@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@dom");
    writeFileSync(join(q, "local", d), "Tstale@domain\0");
    await withQmail(h, async (r) => {
      expect(await r.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(about(r, id).filter((l) => l.startsWith("starting"))).toEqual([
        `starting delivery 1: msg ${id} to local ok@domain`,
      ]);
    });
    expect(await drained(h)).toEqual([]);
  });

  test("info/ and bounce/ left without channel files: the bounce is sent, then end msg", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["x@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    const d = `${id % 23}/${id}`;
    writeFileSync(join(q, "info", d), "Fme@domain\0");
    writeFileSync(join(q, "bounce", String(id)), "<x@domain>:\nGone.\n\n");
    unlinkSync(join(q, "todo", String(id)));
    await withQmail(h, async (r) => {
      expect(await r.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(r.lines()).toContain(`bounce msg ${id} qp ${(bounces(h)[0] as { pid: number }).pid}`);
    });
    expect(await drained(h)).toEqual([]);
  });

  test("cleanup: a mess/ file older than 36 h with no info/ or todo/ is removed", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["x@domain"], BODY, { trigger: false });
    const q = join(h.dir, "queue");
    unlinkSync(join(q, "todo", String(id)));
    const old = Date.now() / 1000 - 129600 - 100;
    utimesSync(join(q, "mess", String(id % 23), String(id)), old, old);
    await withQmail(h, async () => {
      expect(await waitFor(() => queueFiles(h).length === 0, 5000)).toBe(true);
    });
  });
});

describe("qmail-send: alerts", () => {
  function child(pid: number, comm: string): number {
    const { readdirSync } = require("node:fs") as typeof import("node:fs");
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === pid && readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm) return Number(d);
      } catch {}
    }
    return 0;
  }

  test("qmail-clean gone: alert: oh no! lost qmail-clean connection! dying...", async () => {
    const h = makeHome();
    const q = startQmail(h);
    try {
      expect(await q.waitLine(/^status:/)).toBe(true);
      const pid = child(q.pid, "qmail-clean");
      expect(pid).toBeGreaterThan(0);
      kill(pid, "SIGKILL");
      await Bun.sleep(200);
      inject(h, "me@domain", ["ok@domain"]);
      expect(await q.waitLine(/^alert: oh no! lost qmail-clean connection! dying...$/)).toBe(true);
      expect(await q.waitLine(/^status: exiting$/)).toBe(true);
    } finally {
      await q.stop();
    }
  });

  test("qmail-lspawn gone: alert: oh no! lost spawn connection! dying...", async () => {
    const h = makeHome();
    const q = startQmail(h);
    try {
      expect(await q.waitLine(/^status:/)).toBe(true);
      kill(child(q.pid, "qmail-lspawn"), "SIGKILL");
      expect(await q.waitLine(/^alert: oh no! lost spawn connection! dying...$/)).toBe(true);
      expect(await q.waitLine(/^status: exiting$/)).toBe(true);
    } finally {
      await q.stop();
    }
  });

  test("HUP with an unreadable locals: alert: unable to reread control/locals, old values kept", async () => {
    const h = makeHome();
    await withQmail(h, async (q) => {
      unlinkSync(join(h.dir, "control/locals"));
      mkdirSync(join(h.dir, "control/locals"));
      kill(q.pid, "SIGHUP");
      expect(await q.waitLine(/^alert: unable to reread control\/locals$/)).toBe(true);
      const id = await deliver(q, h, "me@domain", ["ok@domain"]);
      expect(about(q, id)).toContain(`starting delivery 1: msg ${id} to local ok@domain`);
    });
  });

  test("HUP with no locals: control/me as read at start-up is the local domain", async () => {
    const h = makeHome({ control: { me: "me.host" } });
    await withQmail(h, async (q) => {
      unlinkSync(join(h.dir, "control/locals"));
      unlinkSync(join(h.dir, "control/me"));
      kill(q.pid, "SIGHUP");
      await Bun.sleep(300);
      const id = await deliver(q, h, "me@domain", ["ok@me.host", "ok@domain"]);
      const starts = about(q, id).filter((l) => l.startsWith("starting"));
      expect(starts.map((l) => l.replace(/^starting delivery \d+: msg \d+ /, "")).sort()).toEqual([
        "to local ok@me.host",
        "to remote ok@domain",
      ]);
    });
  });

  test("no lock/sendmutex: alert: cannot start: unable to open mutex", async () => {
    const h = makeHome();
    unlinkSync(join(h.dir, "queue/lock/sendmutex"));
    const q = startQmail(h);
    expect(await q.waitLine(/^alert: cannot start: unable to open mutex$/)).toBe(true);
    await q.stop();
  });

  test("no home: alert: cannot start: unable to switch to home directory", async () => {
    const h = makeHome();
    const q = startQmail(h, ["./Mailbox"], { QMAILHOME: join(h.dir, "nonexistent") });
    expect(await q.waitLine(/^alert: cannot start: unable to switch to home directory$/)).toBe(true);
    await q.stop();
  });

  test("no control/me and no locals: alert: cannot start: unable to read controls", async () => {
    const h = makeHome();
    unlinkSync(join(h.dir, "control/locals"));
    unlinkSync(join(h.dir, "control/me"));
    const q = startQmail(h);
    expect(await q.waitLine(/^alert: cannot start: unable to read controls$/)).toBe(true);
    await q.stop();
  });
});
