// SPDX-License-Identifier: MIT
// QMTP and QMQP (D. J. Bernstein's qmtp.html and qmqp.html; qmail-qmtpd.c, qmail-qmqpd.c,
// qmail-qmqpc.c): our servers against a client written here, our qmail-qmqpc against a server
// written here, and ours against ours; qmail-newmrh and morercpthosts.cdb in qmail-qmtpd and
// qmail-smtpd.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { Cdb } from "@qts/cdb/cdb";
import { NetIn, Quit } from "@qts/qmail/lib/net/netstring";
import { pipe } from "@qts/sys/pipe";
import { kill, ours, run, runSync, runSyncBytes, start, tmp, waitFor } from "../lib/harness.ts";

// ---------------------------------------------------------------- an independent netstring codec

function ns(data: string | Buffer): Buffer {
  const d = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  return Buffer.concat([Buffer.from(`${d.length}:`, "latin1"), d, Buffer.from(",")]);
}

/** Splits a run of netstrings; throws on anything else. */
function unns(b: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < b.length) {
    const colon = b.indexOf(0x3a, at);
    const head = b.subarray(at, colon).toString("latin1");
    if (colon < 0 || !/^\d+$/.test(head)) throw new Error(`not a netstring at ${at}: ${b.toString("latin1")}`);
    const len = Number(head);
    if (b[colon + 1 + len] !== 0x2c) throw new Error("no comma");
    out.push(b.subarray(colon + 1, colon + 1 + len).toString("latin1"));
    at = colon + 2 + len;
  }
  return out;
}

/** A QMTP message: the body netstring starts with "\n" (LF lines) or "\r" (CRLF lines). */
function qmtp(body: string | Buffer, sender: string, rcpts: (string | Buffer)[], crlf = false): Buffer {
  const b = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  return Buffer.concat([
    ns(Buffer.concat([Buffer.from(crlf ? "\r" : "\n"), b])),
    ns(sender),
    ns(Buffer.concat(rcpts.map((r) => ns(r)))),
  ]);
}

/** A QMQP request: one netstring holding the message, the sender and the recipients. */
function qmqp(body: string | Buffer, sender: string | Buffer, rcpts: (string | Buffer)[]): Buffer {
  return ns(Buffer.concat([ns(body as Buffer), ns(sender as Buffer), ...rcpts.map((r) => ns(r))]));
}

// ---------------------------------------------------------------- a home with a fake qmail-queue

interface Home {
  dir: string;
  out: string;
  qq: string;
}

function home(): Home {
  const dir = tmp("qts-qmtp-");
  mkdirSync(join(dir, "control"));
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "fakeqq");
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg.$$"\ncat <&1 > "${out}/env.$$"\nexit \${QQEXIT:-0}\n`, {
    mode: 0o755,
  });
  return { dir, out, qq };
}

/** What the fake queue received, in order of pid (one per message). */
function queued(h: Home): { msg: string; env: string }[] {
  const pids = readdirSync(h.out)
    .filter((f) => f.startsWith("env."))
    .map((f) => Number(f.slice(4)))
    .sort((a, b) => a - b);
  return pids.map((p) => ({
    msg: readFileSync(join(h.out, `msg.${p}`), "latin1"),
    env: readFileSync(join(h.out, `env.${p}`), "latin1"),
  }));
}

/** Envelopes that would have queued a message (a real qmail-queue refuses the others). */
function accepted(h: Home): { msg: string; env: string }[] {
  return queued(h).filter((q) => q.env.startsWith("F"));
}

function runServer(prog: string, h: Home, input: Buffer, env: Record<string, string> = {}) {
  const r = runSyncBytes(ours(prog), [], {
    input,
    extendEnv: false,
    env: {
      PATH: "/usr/bin:/bin",
      QMAILHOME: h.dir,
      QMAILQUEUE: h.qq,
      TCPREMOTEIP: "10.0.0.7",
      TCPREMOTEHOST: "client.example",
      TCPLOCALHOST: "server.example",
      ...env,
    },
    timeout: 30000,
  });
  return { code: r.code, out: r.stdout.toString("latin1"), err: r.stderr.toString("latin1") };
}

const RECEIVED = /^Received: from client\.example \(10\.0\.0\.7\)\n {2}by server\.example with (QMTP|QMQP); [^\n]+\n/;
const KOK = /^\d+:Kok \d+ qp \d+,$/;
const NOT_RCPTHOSTS_TEXT = "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)";
const NOT_RCPTHOSTS = "66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),";
const CANT_HANDLE = "46:Dsorry, I can't handle that recipient (#5.1.3),";

function qmtpHome(): Home {
  const h = home();
  writeFileSync(join(h.dir, "control/rcpthosts"), "example.org\n");
  writeFileSync(join(h.dir, "control/morercpthosts"), "# more\nMore.Example  \n\n.sub.more.example\t\n");
  const r = runSync(ours("qmail-newmrh"), [], { env: { QMAILHOME: h.dir }, extendEnv: false });
  if (r.code !== 0) throw new Error(r.stderr);
  return h;
}

// ---------------------------------------------------------------- QMTP

describe("qmail-qmtpd", () => {
  test("per-recipient replies: rcpthosts, morercpthosts.cdb (.suffix keys), refused domains", () => {
    const h = qmtpHome();
    const body = Buffer.from("Subject: 8bit \xe9\xff\n\nnul \0 byte, lone \r cr\n.\n", "latin1");
    const r = runServer(
      "qmail-qmtpd",
      h,
      qmtp(body, "s@x.example", [
        "a@example.org",
        "b@more.example",
        "c@x.sub.more.example",
        "d@other.example",
        "e@EXAMPLE.ORG",
      ]),
    );
    expect(r.code).toBe(0);
    const replies = unns(Buffer.from(r.out, "latin1"));
    expect(replies).toHaveLength(5);
    expect(replies[0]).toMatch(/^Kok \d+ qp \d+$/);
    const k = replies[0] as string;
    expect(replies.slice(1)).toEqual([k, k, NOT_RCPTHOSTS_TEXT, k]);
    expect(r.out).toContain(NOT_RCPTHOSTS);
    const q = accepted(h);
    expect(q).toHaveLength(1);
    // the body is taken as is: 8-bit bytes, NUL, a lone CR, a lone "." line (no dot rules in QMTP)
    expect(q[0]?.msg).toMatch(RECEIVED);
    expect(q[0]?.msg.replace(RECEIVED, "")).toBe(body.toString("latin1"));
    expect(q[0]?.env).toBe("Fs@x.example\0Ta@example.org\0Tb@more.example\0Tc@x.sub.more.example\0Te@EXAMPLE.ORG\0\0");
  });

  test('a body starting with "\\r": CRLF becomes LF, a lone CR stays, a final CR stays', () => {
    const h = qmtpHome();
    const r = runServer("qmail-qmtpd", h, qmtp("a\r\nb\rc\r\r\nd\r", "", ["x@example.org"], true));
    expect(r.out).toMatch(KOK);
    expect(accepted(h)[0]?.msg.replace(RECEIVED, "")).toBe("a\nb\rc\r\nd\r");
  });

  test("several messages on one connection, each with its replies, in order; RELAYCLIENT", () => {
    const h = qmtpHome();
    const r = runServer(
      "qmail-qmtpd",
      h,
      Buffer.concat([
        qmtp("one\n", "a@b", ["x@far.example"]),
        qmtp("two\n", "c@d", ["y@far.example", "z@example.org"]),
      ]),
      { RELAYCLIENT: "" },
    );
    expect(r.out).toMatch(/^\d+:Kok \d+ qp \d+,\d+:Kok \d+ qp \d+,\d+:Kok \d+ qp \d+,$/);
    expect(accepted(h).map((q) => q.env)).toEqual([
      "Fa@b\0Tx@far.example\0\0",
      "Fc@d\0Ty@far.example\0Tz@example.org\0\0",
    ]);
    const r2 = runServer("qmail-qmtpd", h, qmtp("three\n", "a@b", ["x@example.org"]), {
      RELAYCLIENT: "@relay.example",
    });
    expect(r2.out).toMatch(KOK);
    expect(accepted(h).at(-1)?.env).toBe("Fa@b\0Tx@example.org@relay.example\0\0");
  });

  test("bad addresses: a NUL or 1000 bytes in the sender, in a recipient; no recipient left", () => {
    const h = qmtpHome();
    const r = runServer(
      "qmail-qmtpd",
      h,
      Buffer.concat([
        qmtp("m\n", "s\0x", ["a@example.org"]),
        qmtp("m\n", "x".repeat(1000), ["a@example.org"]),
        qmtp("m\n", "ok@x", [Buffer.from("a\0@example.org"), `${"y".repeat(990)}@example.org`, "b@example.org"]),
        qmtp("m\n", "ok@x", ["d@other.example"]),
      ]),
    );
    const replies = unns(Buffer.from(r.out, "latin1"));
    expect(replies).toEqual([
      "Dunacceptable sender (#5.1.7)",
      "Dunacceptable sender (#5.1.7)",
      "Dsorry, I can't handle that recipient (#5.1.3)",
      "Dsorry, I can't handle that recipient (#5.1.3)",
      expect.stringMatching(/^Kok \d+ qp \d+$/),
      NOT_RCPTHOSTS_TEXT,
    ]);
    expect(r.out).toContain(CANT_HANDLE + CANT_HANDLE);
    expect(accepted(h).map((q) => q.env)).toEqual(["Fok@x\0Tb@example.org\0\0"]);
  });

  test("databytes: a longer message is refused, in both line modes; DATABYTES overrides the control file", () => {
    const h = qmtpHome();
    writeFileSync(join(h.dir, "control/databytes"), "10\n");
    const SIZE = "Dsorry, that message size exceeds my databytes limit (#5.3.4)";
    const r = runServer(
      "qmail-qmtpd",
      h,
      Buffer.concat([
        qmtp("0123456789", "a@b", ["x@example.org"]),
        qmtp("0123456789a", "a@b", ["x@example.org"]),
        qmtp("012345678\r\n", "a@b", ["x@example.org"], true),
        qmtp("0123456789\r\n", "a@b", ["x@example.org"], true),
      ]),
    );
    const parts = unns(Buffer.from(r.out, "latin1"));
    expect(parts[0]).toMatch(/^Kok /);
    expect(parts[1]).toBe(SIZE);
    expect(parts[2]).toMatch(/^Kok /);
    expect(parts[3]).toBe(SIZE);
    expect(accepted(h)).toHaveLength(2);
    const r2 = runServer("qmail-qmtpd", h, qmtp("0123456789a", "a@b", ["x@example.org"]), { DATABYTES: "0" });
    expect(r2.out).toMatch(KOK);
  });

  test("bad input: no reply, exit 100 for a protocol violation, 111 for an oversized netstring, nothing queued", () => {
    const h = qmtpHome();
    const cases: [string, Buffer, number][] = [
      ["a length that is not a number", Buffer.from("1x:\nm,"), 100],
      ["an empty message netstring", Buffer.from("0:,"), 100],
      ["neither \\n nor \\r first", Buffer.from("2:xm,"), 100],
      ["a missing comma", Buffer.from("2:\nm;"), 100],
      ["an oversized netstring", Buffer.from("300000000:\nabc"), 111],
      [
        "a recipient netstring longer than the list",
        Buffer.concat([ns("\nm"), ns("a@b"), Buffer.from("5:9:x,,")]),
        100,
      ],
    ];
    for (const [what, input, code] of cases) {
      const r = runServer("qmail-qmtpd", h, input);
      expect({ what, code: r.code, out: r.out }).toEqual({ what, code, out: "" });
    }
    expect(accepted(h)).toEqual([]);
  });

  test("a connection that ends in the middle of a message: exit 0, no reply, nothing queued", () => {
    const h = qmtpHome();
    const full = qmtp("hello\n", "a@b", ["x@example.org"]);
    for (const cut of [3, 10, full.length - 1]) {
      const r = runServer("qmail-qmtpd", h, full.subarray(0, cut));
      expect({ cut, code: r.code, out: r.out }).toEqual({ cut, code: 0, out: "" });
    }
    expect(accepted(h)).toEqual([]);
  });

  test("the hour's alarm (NetIn's, given 200 ms here) on a stalled connection is exit 111", async () => {
    const [r, w] = pipe();
    writeFileSync(`/proc/self/fd/${w}`, "12:");
    const inp = new NetIn(r, () => {}, 200);
    let code = -1;
    try {
      await inp.len();
      await inp.byte();
    } catch (e) {
      if (e instanceof Quit) code = e.code;
    }
    expect(code).toBe(111);
  });

  test("qmail-queue's refusal comes back as the reply", () => {
    const h = qmtpHome();
    const r = runServer("qmail-qmtpd", h, qmtp("m\n", "a@b", ["x@example.org", "y@example.org"]), { QQEXIT: "31" });
    expect(r.out).toBe("50:Dmail server permanently rejected message (#5.3.0),".repeat(2));
  });
});

// ---------------------------------------------------------------- qmail-newmrh, qmail-smtpd

describe("qmail-newmrh", () => {
  test("keys lower-cased, trailing blanks cut, comments and empty lines skipped; values empty; mode 0644", () => {
    const h = qmtpHome();
    const c = Cdb.fromFd(openSync(join(h.dir, "control/morercpthosts.cdb"), "r"));
    expect(c.get(Buffer.from("more.example"))?.toString()).toBe("");
    expect(c.get(Buffer.from(".sub.more.example"))?.toString()).toBe("");
    expect(c.get(Buffer.from("More.Example"))).toBeUndefined();
    expect(c.get(Buffer.from("# more"))).toBeUndefined();
    expect(c.get(Buffer.from(""))).toBeUndefined();
    expect(runSync("stat", ["-c", "%a", join(h.dir, "control/morercpthosts.cdb")]).stdout).toBe("644\n");
    expect(existsSync(join(h.dir, "control/morercpthosts.tmp"))).toBe(false);
  });

  test("no control/morercpthosts: 111 with the C's message, the old cdb kept", () => {
    const h = qmtpHome();
    unlinkSync(join(h.dir, "control/morercpthosts"));
    const r = runSync(ours("qmail-newmrh"), [], { env: { QMAILHOME: h.dir }, extendEnv: false });
    expect({ code: r.code, err: r.stderr }).toEqual({
      code: 111,
      err: "qmail-newmrh: fatal: unable to read control/morercpthosts: file does not exist\n",
    });
    expect(existsSync(join(h.dir, "control/morercpthosts.cdb"))).toBe(true);
  });

  test("qmail-smtpd takes rcpthosts first, then morercpthosts.cdb; without rcpthosts the cdb is not read", () => {
    const h = qmtpHome();
    writeFileSync(join(h.dir, "control/me"), "server.example\n");
    const session = (rcpts: string[]) =>
      runSync(ours("qmail-smtpd"), [], {
        input: `HELO x\r\nMAIL FROM:<a@b>\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join("")}QUIT\r\n`,
        env: { QMAILHOME: h.dir, QMAILQUEUE: h.qq, TCPREMOTEIP: "10.0.0.7" },
        extendEnv: false,
        encoding: "latin1",
      }).stdout.split("\r\n");
    const lines = session([
      "a@example.org",
      "b@more.example",
      "c@x.sub.more.example",
      "d@sub.more.example",
      "e@no.example",
    ]);
    expect(lines.slice(3, 8)).toEqual([
      "250 ok",
      "250 ok",
      "250 ok",
      "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
      "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
    ]);
  });
});

// ---------------------------------------------------------------- QMQP

/** A QMQP server written here: records each request, answers with reply. */
async function fakeQmqpServer(ip: string, reply: string): Promise<{ server: Server; got: Buffer[] }> {
  const got: Buffer[] = [];
  const server = createServer((s) => {
    const parts: Buffer[] = [];
    s.on("data", (d) => {
      parts.push(d as Buffer);
      const all = Buffer.concat(parts);
      const colon = all.indexOf(0x3a);
      if (colon > 0 && all.length >= colon + 2 + Number(all.subarray(0, colon).toString())) {
        got.push(all);
        s.end(reply);
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(628, ip, () => ok());
  });
  return { server, got };
}

/** A loopback address of its own for each QMQP test (port 628 is fixed, as in the C). */
let nextIp = 0;
function loopback(): string {
  return `127.${(process.pid >> 8) & 255}.${process.pid & 255}.${10 + nextIp++}`;
}

/** Runs our qmail-qmqpc (asynchronously: the servers written here answer from this process). */
async function qmqpc(h: Home, servers: string[], message: string | Buffer, envelope: string | Buffer) {
  writeFileSync(join(h.dir, "control/qmqpservers"), servers.map((s) => `${s}\n`).join(""));
  const d = tmp("qts-qmqpc-");
  writeFileSync(join(d, "m"), message);
  writeFileSync(join(d, "e"), envelope);
  const r = await run("/bin/sh", ["-c", `exec "$0" < "${d}/m" 1< "${d}/e"`, ours("qmail-qmqpc")], {
    env: { QMAILHOME: h.dir },
    extendEnv: false,
    timeout: 60000,
  });
  return { code: r.code, err: r.stderr };
}

describe("qmail-qmqpd", () => {
  test("one message, its sender and recipients, from a client written here; 8-bit and NUL bodies", () => {
    const h = home();
    const body = Buffer.from("Subject: \xe9\n\n\0 and \r\n.\nend", "latin1");
    const r = runServer("qmail-qmqpd", h, qmqp(body, "s@x", ["a@far.example", "b@far.example"]));
    expect(r.code).toBe(0);
    expect(unns(Buffer.from(r.out, "latin1"))[0]).toMatch(/^Kok \d+ qp \d+$/);
    const q = accepted(h);
    expect(q).toHaveLength(1);
    expect(q[0]?.msg).toMatch(RECEIVED);
    expect(q[0]?.msg.replace(RECEIVED, "")).toBe(body.toString("latin1"));
    expect(q[0]?.env).toBe("Fs@x\0Ta@far.example\0Tb@far.example\0\0");
  });

  test("a bad address (a NUL, 1000 bytes) refuses the whole message", () => {
    const h = home();
    for (const [s, rc] of [
      ["s\0x", ["a@b"]],
      ["s@x", ["a@b", `${"x".repeat(1000)}@b`]],
    ] as [string, string[]][]) {
      const r = runServer("qmail-qmqpd", h, qmqp("m\n", s, rc));
      expect(r.out).toBe(ns("Dsorry, I can't accept addresses like that (#5.1.3)").toString("latin1"));
    }
    expect(accepted(h)).toEqual([]);
  });

  test("bad input: exit 100 or 111 without a reply, nothing queued", () => {
    const h = home();
    const good = qmqp("m\n", "s@x", ["a@b"]);
    const cases: [string, Buffer, number][] = [
      ["an outer length that is not a number", Buffer.from("1a:"), 100],
      ["an outer length with more than 100 digits", Buffer.from("0".repeat(101)), 100],
      ["an outer length past 200000000 (before 100 digits)", Buffer.from("1".repeat(20)), 111],
      ["an oversized netstring", Buffer.from("300000000:3:m\n,"), 111],
      ["an inner netstring past the outer one", Buffer.from("5:9:abcdefghi,,"), 100],
      ["a missing inner comma", Buffer.from(good.toString("latin1").replace("m\n,", "m\n;"), "latin1"), 100],
      ["a missing final comma", Buffer.concat([good.subarray(0, good.length - 1), Buffer.from(";")]), 100],
    ];
    for (const [what, input, code] of cases) {
      const r = runServer("qmail-qmqpd", h, input);
      expect({ what, code: r.code, out: r.out }).toEqual({ what, code, out: "" });
    }
    // a client gone in the middle: exit 0
    expect(runServer("qmail-qmqpd", h, good.subarray(0, 8)).code).toBe(0);
    expect(accepted(h)).toEqual([]);
  });
});

describe("qmail-qmqpc", () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  test("sends message, sender and recipients to a server written here; K is 0, Z 71, D 31", async () => {
    const h = home();
    for (const [reply, code] of [
      ["11:Kok thanks,", 0],
      ["9:Zsoft err,", 71],
      ["9:Dhard err,", 31],
    ] as [string, number][]) {
      const ip = loopback();
      const f = await fakeQmqpServer(ip, reply);
      servers.push(f.server);
      const body = Buffer.from("Subject: \xe9\n\nbody\0\n", "latin1");
      const r = await qmqpc(h, [ip], body, "Fme@here\0Tyou@there\0Tu2@x\0\0");
      expect({ reply, code: r.code }).toEqual({ reply, code });
      expect(f.got).toHaveLength(1);
      const outer = unns(f.got[0] as Buffer);
      expect(outer).toHaveLength(1);
      expect(unns(Buffer.from(outer[0] as string, "latin1"))).toEqual([
        body.toString("latin1"),
        "me@here",
        "you@there",
        "u2@x",
      ]);
    }
  });

  test("control/qmqpservers in order: a refused connection and a junk line are skipped; the last error counts", async () => {
    const h = home();
    const dead = loopback();
    const ip = loopback();
    const f = await fakeQmqpServer(ip, "3:Kok,");
    servers.push(f.server);
    expect((await qmqpc(h, ["junk", dead, ip], "m\n", "Fa@b\0Tc@d\0\0")).code).toBe(0);
    expect(f.got).toHaveLength(1);
    expect((await qmqpc(h, [dead], "m\n", "Fa@b\0Tc@d\0\0")).code).toBe(73);
    expect((await qmqpc(h, ["junk"], "m\n", "Fa@b\0Tc@d\0\0")).code).toBe(55);
  });

  test("a server that closes without a K, Z or D: 74; a bad envelope: 91; no qmqpservers: 55", async () => {
    const h = home();
    const ip = loopback();
    const f = await fakeQmqpServer(ip, "5:hello,");
    servers.push(f.server);
    expect((await qmqpc(h, [ip], "m\n", "Fa@b\0Tc@d\0\0")).code).toBe(74);
    expect((await qmqpc(h, [ip], "m\n", "Xa@b\0\0")).code).toBe(91);
    expect((await qmqpc(h, [ip], "m\n", "Fa@b\0Tc@d")).code).toBe(91);
    unlinkSync(join(h.dir, "control/qmqpservers"));
    const r = runSync("/bin/sh", ["-c", 'exec "$0" </dev/null 1</dev/null', ours("qmail-qmqpc")], {
      env: { QMAILHOME: h.dir },
      extendEnv: false,
    });
    expect(r.code).toBe(55);
  });
});

describe("ours against ours: qmail-qmqpc -> tcpserver -> qmail-qmqpd", () => {
  let pid = 0;
  const ip = loopback();
  const h = home();
  beforeAll(async () => {
    const logf = join(h.dir, "tcpserver.log");
    const p = start("/usr/bin/tcpserver", ["-v", "-R", "-H", "-l", "0", ip, "628", ours("qmail-qmqpd")], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: { file: logf },
      env: { PATH: "/usr/bin:/bin", QMAILHOME: h.dir, QMAILQUEUE: h.qq },
      extendEnv: false,
    });
    pid = p.pid;
    await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 10000);
  });
  afterAll(() => kill(pid));

  test("a client that stalls in the middle holds up no one; when it goes, nothing is queued", async () => {
    const before = accepted(h).length;
    const stalled = connect(628, ip);
    stalled.on("error", () => {});
    await new Promise<void>((ok) => stalled.on("connect", () => ok()));
    stalled.write(qmqp("never finished\n", "a@b", ["c@d"]).subarray(0, 12));
    const client = home();
    expect((await qmqpc(client, [ip], "meanwhile\n", "Fx@y\0Tz@w\0\0")).code).toBe(0);
    expect(accepted(h).length).toBe(before + 1);
    stalled.destroy();
    await Bun.sleep(500);
    expect(accepted(h).length).toBe(before + 1);
    expect(accepted(h).some((q) => q.msg.includes("never finished"))).toBe(false);
  });

  test("the message arrives with a QMQP Received line, the envelope unchanged", async () => {
    const client = home();
    const before = accepted(h).length;
    const body = Buffer.from("Subject: \xe9\n\nbody\n.\n", "latin1");
    expect((await qmqpc(client, [ip], body, "Fme@sat\0Tyou@central\0Tu2@x\0\0")).code).toBe(0);
    const q = accepted(h).slice(before);
    expect(q).toHaveLength(1);
    // tcpserver -l 0 -H: local name "0", remote host unknown
    expect(q[0]?.msg).toMatch(/^Received: from unknown \(127\.0\.0\.1\)\n {2}by 0 with QMQP; /);
    expect(q[0]?.msg.slice(q[0]?.msg.indexOf("\n", q[0]?.msg.indexOf("with QMQP")) + 1)).toBe(body.toString("latin1"));
    expect(q[0]?.env).toBe("Fme@sat\0Tyou@central\0Tu2@x\0\0");
  });
});
