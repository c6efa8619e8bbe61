// SPDX-License-Identifier: MIT
// Issue "nothing left behind": a message that is not completed leaves no file
// in the queue, on every path that writes one: qmail-smtpd as root (the queue
// written in-process), as qmaild through qmail-queued's socket, qmail-inject
// as root, and qmail-queue as root. Each path meets a client disconnect, a
// timeout, a bare LF and a kill in the middle of DATA; the queue's files are
// counted before and after. Also: the qp of each message is its own.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { QP_SPACE } from "@qts/qmail/lib/queue/qp";
import { pipe } from "@qts/sys/pipe";
import { getpwnam } from "@qts/sys/pwd";
import { type Started, start, stdioFd, waitFor } from "../lib/harness.ts";
import { added, files, makeHome, startQueued, todo } from "./qmail-queue.helpers.ts";

setDefaultTimeout(60_000);

let home: string;
let queued: { pid: number; stop: () => Promise<void> } | undefined;
beforeAll(async () => {
  home = await makeHome();
  writeFileSync(join(home, "control/me"), "test.example\n");
  writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
}, 120_000);
afterAll(async () => {
  await queued?.stop();
});

const HEAD = "HELO c.example\r\nMAIL FROM:<s@c.example>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n";
const BODY = `Subject: partial\r\n\r\n${"x".repeat(998)}\r\n`.repeat(200);

interface Smtpd {
  p: Started;
  out: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** An exit as node reports it: the code, or null and the signal that ended it. */
function codeSignal(r: { code: number; signal?: string }): { code: number | null; signal: string | null } {
  return { code: r.signal ? null : r.code, signal: r.signal ?? null };
}

function smtpd(user?: string): Smtpd {
  const pw = user ? getpwnam(user) : undefined;
  const p = start(join(home, "bin/qmail-smtpd"), [], {
    stdio: ["pipe", "pipe", "pipe"],
    uid: pw?.uid,
    gid: pw?.gid,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TCPREMOTEIP: "10.1.2.3", TCPLOCALHOST: "mx.test.example" },
    extendEnv: false,
  });
  return { p, out: () => p.stdout("latin1"), exited: p.exited.then(codeSignal) };
}

const newMess = (before: string[]) => files(home).filter((f) => f.startsWith("mess/") && !before.includes(f));

/** Starts a session, sends part of DATA and waits until its message file is in the queue (and has bytes). */
async function midData(user?: string): Promise<{ s: Smtpd; before: string[] }> {
  const before = files(home);
  const s = smtpd(user);
  s.p.write(HEAD + BODY);
  const seen = await waitFor(() => s.out().includes("354 ") && newMess(before).length > 0, 10_000);
  expect(seen).toBe(true);
  return { s, before };
}

async function nothingLeft(before: string[]): Promise<void> {
  await waitFor(() => files(home).join() === before.join(), 5000);
  expect(files(home)).toEqual(before);
}

const ends: [string, (s: Smtpd) => void, (r: { code: number | null; signal: string | null }, out: string) => void][] = [
  ["client disconnect", (s) => s.p.end(), (r) => expect(r.code).toBe(1)],
  [
    "bare LF (smuggling attempt)",
    (s) => s.p.write("smuggled\n.\nMAIL FROM:<x@y>\r\n"),
    (r, out) => {
      expect(r.code).toBe(1);
      expect(out).toEndWith("451 See http://pobox.com/~djb/docs/smtplf.html.\r\n");
    },
  ],
  ...(["SIGTERM", "SIGHUP", "SIGALRM", "SIGINT"] as const).map(
    (sig) =>
      [
        `kill -${sig.slice(3)}`,
        (s: Smtpd) => s.p.kill(sig),
        (r: { code: number | null; signal: string | null }) => expect(r.signal).toBe(sig),
      ] as (typeof ends)[number],
  ),
];

describe("qmail-smtpd as root (queue written in-process): an unfinished DATA leaves nothing", () => {
  for (const [name, end, check] of ends)
    test(name, async () => {
      const { s, before } = await midData();
      end(s);
      const r = await s.exited;
      check(r, s.out());
      await nothingLeft(before);
    });

  test("timeout (control/timeoutsmtpd 1): 451 timeout, nothing left", async () => {
    writeFileSync(join(home, "control/timeoutsmtpd"), "1\n");
    try {
      const { s, before } = await midData();
      const r = await s.exited;
      expect(r.code).toBe(1);
      expect(s.out()).toEndWith("451 timeout (#4.4.2)\r\n");
      await nothingLeft(before);
    } finally {
      rmSync(join(home, "control/timeoutsmtpd"));
    }
  });

  test("a complete message is still queued; a refused one (too many hops, over databytes) leaves nothing", async () => {
    const before = todo(home);
    const s = smtpd();
    s.p.write(`${HEAD}Subject: whole\r\n\r\nbody\r\n.\r\nQUIT\r\n`);
    s.p.end();
    expect((await s.exited).code).toBe(0);
    expect(s.out()).toMatch(/250 ok \d+ qp \d+\r\n221 test\.example\r\n$/);
    expect(added(home, before)).toHaveLength(1);

    const f = files(home);
    writeFileSync(join(home, "control/databytes"), "100000\n");
    try {
      const t = smtpd();
      t.p.write(
        `${HEAD}${"Received: x\r\n".repeat(100)}\r\nhi\r\n.\r\n${HEAD.slice(HEAD.indexOf("MAIL"))}${BODY}.\r\nQUIT\r\n`,
      );
      t.p.end();
      expect((await t.exited).code).toBe(0);
      expect(t.out()).toContain(
        "554 too many hops, this message is looping (#5.4.6)\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n",
      );
    } finally {
      rmSync(join(home, "control/databytes"));
    }
    expect(files(home)).toEqual(f);
  });
});

describe("qmail-smtpd as qmaild through qmail-queued's socket: an unfinished DATA leaves nothing", () => {
  beforeAll(async () => {
    queued = await startQueued(home);
  });
  for (const [name, end, check] of ends)
    test(name, async () => {
      if (!getpwnam("qmaild")) return;
      const { s, before } = await midData("qmaild");
      end(s);
      const r = await s.exited;
      check(r, s.out());
      await nothingLeft(before);
    });

  test("timeout: 451 timeout, nothing left", async () => {
    if (!getpwnam("qmaild")) return;
    writeFileSync(join(home, "control/timeoutsmtpd"), "1\n");
    try {
      const { s, before } = await midData("qmaild");
      const r = await s.exited;
      expect(r.code).toBe(1);
      expect(s.out()).toEndWith("451 timeout (#4.4.2)\r\n");
      await nothingLeft(before);
    } finally {
      rmSync(join(home, "control/timeoutsmtpd"));
    }
  });
});

/** Sends n messages in one session; returns the qps of the 250 replies and the messages queued. */
async function messages(n: number, user?: string) {
  const before = todo(home);
  const s = smtpd(user);
  let text = "HELO c.example\r\n";
  for (let i = 0; i < n; i++)
    text += `MAIL FROM:<s@c.example>\r\nRCPT TO:<u${i}@test.example>\r\nDATA\r\nSubject: ${i}\r\n\r\nbody\r\n.\r\n`;
  s.p.write(`${text}QUIT\r\n`);
  s.p.end();
  expect((await s.exited).code).toBe(0);
  const qps = [...s.out().matchAll(/250 ok \d+ qp (\d+)\r\n/g)].map((m) => Number(m[1]));
  expect(qps).toHaveLength(n);
  const byRcpt = new Map<string, { p: number; received: number }>();
  for (const m of added(home, before)) {
    const t = m.todo.toString("latin1");
    const rcpt = /\0T([^\0]*)\0$/.exec(t)?.[1] ?? "";
    const p = Number(/^u\d+\0p(\d+)\0/.exec(t)?.[1]);
    const received = Number(/^Received: \(qmail (\d+) invoked /.exec(m.mess.toString("latin1"))?.[1]);
    byRcpt.set(rcpt, { p, received });
  }
  return { pid: s.p.pid, qps, byRcpt };
}

describe("qp: each message of a session has its own", () => {
  test("as root: the first is qmail-smtpd's pid, the next ones differ; each matches its p record and Received line", async () => {
    const { pid, qps, byRcpt } = await messages(3);
    expect(new Set(qps).size).toBe(3);
    expect(qps[0]).toBe(pid);
    for (let i = 0; i < 3; i++) {
      const q = qps[i] as number;
      expect(q % QP_SPACE).toBe(pid);
      expect(byRcpt.get(`u${i}@test.example`)).toEqual({ p: q, received: q });
    }
  });

  test("as qmaild through qmail-queued: numbers of qmail-queued (the queue's process), one per message", async () => {
    if (!getpwnam("qmaild") || !queued) return;
    const { qps, byRcpt } = await messages(3, "qmaild");
    expect(new Set(qps).size).toBe(3);
    for (let i = 0; i < 3; i++) {
      const q = qps[i] as number;
      expect(q % QP_SPACE).toBe(queued.pid);
      expect(byRcpt.get(`u${i}@test.example`)).toEqual({ p: q, received: q });
    }
  });
});

/** Ends p's message by sig, or by EOF on its stdin and on the envelope's pipe (writing end ew). */
async function cut(p: Started, sig: NodeJS.Signals | "EOF", ew: number) {
  if (sig === "EOF") {
    p.end();
    closeSync(ew);
  } else p.kill(sig);
  return codeSignal(await p.exited);
}

describe("qmail-queue and qmail-inject as root: killed in the middle of the message, nothing left", () => {
  for (const sig of ["SIGTERM", "SIGHUP", "SIGALRM", "EOF"] as const)
    for (const prog of ["qmail-queue", "qmail-inject"] as const) {
      // qmail-inject's EOF is the end of its message, not a cut: only qmail-queue meets it (the envelope never comes)
      if (sig === "EOF" && prog === "qmail-inject") continue;
      test(`${prog}, ${sig === "EOF" ? "no envelope (54)" : sig}`, async () => {
        const before = files(home);
        const args = prog === "qmail-inject" ? ["u@test.example"] : [];
        // qmail-queue's fd 1 (the envelope) is a pipe whose writing end we hold and close for the EOF.
        const [er, ew] = pipe();
        const p = start(join(home, "bin", prog), args, {
          stdio: ["pipe", prog === "qmail-queue" ? stdioFd(er) : "ignore", "ignore"],
          env: { PATH: process.env.PATH ?? "" },
          extendEnv: false,
        });
        closeSync(er);
        try {
          p.write(`Subject: partial\n\n${"y".repeat(200_000)}\n`);
          expect(await waitFor(() => newMess(before).length > 0, 10_000)).toBe(true);
          const r = await cut(p, sig, ew);
          if (sig === "EOF") expect(r.code).toBe(54);
          else expect(r.signal).toBe(sig);
          await nothingLeft(before);
        } finally {
          p.kill();
          if (sig !== "EOF") closeSync(ew);
        }
      });
    }
});
