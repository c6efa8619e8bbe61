// SPDX-License-Identifier: MIT
// qmail-smtpd: replies byte for byte (qmail-smtpd.c, the SIZE patch), the envelope and
// message handed to $QMAILQUEUE, smuggling-safe DATA, bounded memory, timeouts;
// with real peers (python3 smtplib, swaks) under Debian's tcpserver.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { cdbBuild } from "@qts/cdb/cdb";
import fc from "fast-check";
import { freePort, kill, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

// real processes on a shared 2-core machine: generous per-test bounds
setDefaultTimeout(30_000);

const SMTPD = ours("qmail-smtpd");
const TCPSERVER = "/usr/bin/tcpserver";
// Debian's tcpserver always; ours too once it is built
const TCPSERVERS: [string, string][] = [["debian tcpserver", TCPSERVER]];
if (existsSync(ours("tcpserver"))) TCPSERVERS.push(["our tcpserver", ours("tcpserver")]);

interface Home {
  dir: string;
  out: string;
  qq: string;
}

function makeHome(controls: Record<string, string> = { me: "test.example", rcpthosts: "test.example\n" }): Home {
  const dir = tmp("qts-smtpd-");
  mkdirSync(join(dir, "control"));
  for (const [k, v] of Object.entries(controls)) writeFileSync(join(dir, "control", k), v);
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "fakeqq");
  // saves fd 0 and fd 1 as QMAILQUEUE programs see them; exits $QQEXIT
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg.$$"\ncat <&1 > "${out}/env.$$"\nexit \${QQEXIT:-0}\n`, {
    mode: 0o755,
  });
  return { dir, out, qq };
}

function queued(h: Home): { msg: string; env: string }[] {
  const r: { msg: string; env: string }[] = [];
  for (const f of readdirSync(h.out).sort())
    if (f.startsWith("env."))
      r.push({
        env: readFileSync(join(h.out, f), "latin1"),
        msg: readFileSync(join(h.out, `msg.${f.slice(4)}`), "latin1"),
      });
  return r;
}

/** Runs qmail-smtpd on pipes: input, then EOF. */
async function session(h: Home, input: string | Buffer, env: Record<string, string> = {}) {
  const r = await run(SMTPD, [], {
    input: typeof input === "string" ? Buffer.from(input, "latin1") : input,
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: h.qq, TCPREMOTEIP: "10.1.2.3", ...env },
    extendEnv: false,
    encoding: "latin1",
    timeout: 15000,
  });
  return { out: r.stdout, code: r.code };
}

const GREET = "220 test.example ESMTP\r\n";
const OK = "250 ok\r\n";

describe("qmail-smtpd replies", () => {
  test("a whole session, every reply byte for byte", async () => {
    const h = makeHome();
    const r = await session(
      h,
      "HELO client.example\r\nEHLO client.example\r\nNOOP\r\nVRFY x\r\nHELP\r\nEXPN x\r\nTURN\r\nETRN\r\n" +
        "RSET\r\nRCPT TO:<a@test.example>\r\nDATA\r\nMAIL FROM:<s@x>\r\nDATA\r\nQUIT\r\nNOOP\r\n",
    );
    expect(r.out).toBe(
      GREET +
        "250 test.example\r\n" +
        "250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        OK +
        "252 send some mail, i'll try my best\r\n" +
        "214 netqmail home page: http://qmail.org/netqmail\r\n" +
        "502 unimplemented (#5.5.1)\r\n".repeat(3) +
        "250 flushed\r\n" +
        "503 MAIL first (#5.5.1)\r\n" +
        "503 MAIL first (#5.5.1)\r\n" +
        OK +
        "503 RCPT first (#5.5.1)\r\n" +
        "221 test.example\r\n",
    );
    expect(r.code).toBe(0);
  });

  test("commands are case-insensitive, a bare LF ends a command, one CR is dropped", async () => {
    const h = makeHome();
    // "NoOp\r\r\n" keeps one CR in the verb: unimplemented, as in C
    const r = await session(h, "noop\nNoOp\r\r\nnOoP \r\nhElP\r\nquit\n");
    expect(r.out).toBe(
      `${GREET}${OK}502 unimplemented (#5.5.1)\r\n${OK}214 netqmail home page: http://qmail.org/netqmail\r\n221 test.example\r\n`,
    );
  });

  test("EOF before QUIT: exit 1, nothing more", async () => {
    const h = makeHome();
    const r = await session(h, "NOOP\r\n");
    expect(r).toEqual({ out: GREET + OK, code: 1 });
  });

  test("smtpgreeting replaces me in 220/250/221", async () => {
    const h = makeHome({ me: "test.example", smtpgreeting: "mx.example hello there" });
    const r = await session(h, "HELO x\r\nQUIT\r\n");
    expect(r.out).toBe(
      "220 mx.example hello there ESMTP\r\n250 mx.example hello there\r\n221 mx.example hello there\r\n",
    );
  });

  test("no me and no smtpgreeting: 421 unable to read controls", async () => {
    const h = makeHome({});
    const r = await session(h, "QUIT\r\n");
    expect(r).toEqual({ out: "421 unable to read controls (#4.3.0)\r\n", code: 1 });
  });

  test("home missing: 421", async () => {
    const h = makeHome();
    const r = await session(h, "QUIT\r\n", { QMAILHOME: join(h.dir, "nonexistent") });
    expect(r.out).toBe("421 unable to read controls (#4.3.0)\r\n");
  });
});

async function deliver(h: Home, env: Record<string, string>, from: string, rcpts: string[], body = "x\r\n") {
  let input = `MAIL FROM:${from}\r\n`;
  for (const r of rcpts) input += `RCPT TO:${r}\r\n`;
  input += `DATA\r\n${body}.\r\nQUIT\r\n`;
  return await session(h, input, env);
}

describe("addresses and the envelope", () => {
  const cases: [string, string, string][] = [
    ["<a@b.example>", "<u@test.example>", "Fa@b.example\0Tu@test.example\0\0"],
    ["<>", "<u@test.example>", "F\0Tu@test.example\0\0"],
    ["a@b.example", "u@test.example", "Fa@b.example\0Tu@test.example\0\0"],
    ["  a@b.example junk", "u@test.example  x", "Fa@b.example\0Tu@test.example\0\0"],
    [":  a@b.example", "u@test.example", "F:\0Tu@test.example\0\0"],
    ["<@r1,@r2:a@b.example>", "<@relay.example:u@test.example>", "Fa@b.example\0Tu@test.example\0\0"],
    ['<"a b"@x.example>', '<"u>v"@test.example>', "Fa b@x.example\0Tu>v@test.example\0\0"],
    ["<a\\>b@x.example>", "<u\\\\@test.example>", "Fa>b@x.example\0Tu\\@test.example\0\0"],
    ["<unterminated@x.example", "<U@TEST.EXAMPLE>", "Funterminated@x.example\0TU@TEST.EXAMPLE\0\0"],
    ["<\xe9t\xe9@x.example>", "<postmaster>", "F\xe9t\xe9@x.example\0Tpostmaster\0\0"],
  ];
  test.each(cases)("MAIL FROM:%s RCPT TO:%s", async (from, rcpt, env) => {
    const h = makeHome();
    const r = await deliver(h, {}, from, [rcpt]);
    expect(r.out.split("\r\n").slice(1, 4)).toEqual(["250 ok", "250 ok", "354 go ahead"]);
    expect(queued(h).map((q) => q.env)).toEqual([env]);
  });

  test("address of 899 bytes ok, 900 bytes 555", async () => {
    const h = makeHome();
    const a899 = `${"a".repeat(899 - 13)}@test.example`;
    const a900 = `a${a899}`;
    const r = await session(h, `MAIL FROM:<${a899}>\r\nMAIL FROM:<${a900}>\r\nRCPT TO:<${a900}>\r\nQUIT\r\n`);
    expect(r.out).toBe(`${GREET}${OK}555 syntax error (#5.5.4)\r\n555 syntax error (#5.5.4)\r\n221 test.example\r\n`);
  });

  test("a NUL cuts the command: no second envelope recipient", async () => {
    const h = makeHome();
    const r = await deliver(h, {}, "<a@b>", ["<postmaster@test.example\0Tvictim@remote.example>"]);
    expect(r.out).toContain("354 go ahead");
    expect(queued(h)[0]?.env).toBe("Fa@b\0Tpostmaster@test.example\0\0");
  });

  test("rcpthosts: exact, .suffix, case, no @; others 553", async () => {
    const h = makeHome({ me: "test.example", rcpthosts: "test.example\n.sub.example\n# c\n\nExact.Example  \n" });
    const r = await session(
      h,
      "MAIL FROM:<a@b>\r\n" +
        [
          "u@TEST.example",
          "u@a.b.sub.example",
          "u@sub.example",
          "u@exact.example",
          "postmaster",
          "u@test.example.evil",
          "u%evil@test.example",
          "u@evil@test.example",
        ]
          .map((a) => `RCPT TO:<${a}>\r\n`)
          .join("") +
        "QUIT\r\n",
    );
    const nog = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";
    expect(r.out).toBe(`${GREET}${OK}${OK}${OK}${nog}${OK}${OK}${nog}${OK}${OK}221 test.example\r\n`);
  });

  test("no rcpthosts: every recipient accepted (open relay, as qmail)", async () => {
    const h = makeHome({ me: "test.example" });
    const r = await session(h, "MAIL FROM:<a@b>\r\nRCPT TO:<u@anywhere.example>\r\nQUIT\r\n");
    expect(r.out).toBe(`${GREET}${OK}${OK}221 test.example\r\n`);
  });

  test("morercpthosts.cdb, with .suffix keys", async () => {
    const h = makeHome({ me: "test.example", rcpthosts: "test.example\n" });
    writeFileSync(
      join(h.dir, "control/morercpthosts.cdb"),
      cdbBuild([
        ["more.example", ""],
        [".wild.example", ""],
      ]),
    );
    const r = await session(
      h,
      "MAIL FROM:<a@b>\r\nRCPT TO:<u@MORE.example>\r\nRCPT TO:<u@x.wild.example>\r\nRCPT TO:<u@wild.example>\r\nQUIT\r\n",
    );
    expect(r.out).toBe(
      `${GREET}${OK}${OK}${OK}553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n221 test.example\r\n`,
    );
  });

  test("RELAYCLIENT: anything accepted, value appended", async () => {
    const h = makeHome();
    const r = await deliver(h, { RELAYCLIENT: "@relay" }, "<a@b>", ["<u@far.example>", "<v>"]);
    expect(r.out).toContain("250 ok\r\n250 ok\r\n250 ok\r\n354");
    expect(queued(h)[0]?.env).toBe("Fa@b\0Tu@far.example@relay\0Tv@relay\0\0");
  });

  test("badmailfrom: exact and @domain, refused at RCPT not MAIL", async () => {
    const h = makeHome({
      me: "test.example",
      rcpthosts: "test.example\n",
      badmailfrom: "spam@x.example\n@bad.example\n",
    });
    const r = await session(
      h,
      "MAIL FROM:<SPAM@x.example>\r\nRCPT TO:<u@test.example>\r\nMAIL FROM:<any@Bad.example>\r\nRCPT TO:<u@test.example>\r\n" +
        "MAIL FROM:<ok@x.example>\r\nRCPT TO:<u@test.example>\r\nQUIT\r\n",
    );
    const bmf = "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n";
    expect(r.out).toBe(`${GREET}${OK}${bmf}${OK}${bmf}${OK}${OK}221 test.example\r\n`);
  });

  test("localiphost: our own [ip] literal is rewritten", async () => {
    const h = makeHome({ me: "test.example", localiphost: "lip.example" });
    const r = await deliver(h, {}, "<a@[127.0.0.1]>", ["<u@[127.0.0.1]>", "<v@[192.0.2.222]>"]);
    expect(r.out).toContain("354");
    expect(queued(h)[0]?.env).toBe("Fa@lip.example\0Tu@lip.example\0Tv@[192.0.2.222]\0\0");
  });

  test("a second MAIL clears the recipients; HELO and RSET end the transaction", async () => {
    const h = makeHome();
    const r = await session(
      h,
      "MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nMAIL FROM:<c@d>\r\nDATA\r\n" +
        "RCPT TO:<u@test.example>\r\nRSET\r\nDATA\r\nMAIL FROM:<c@d>\r\nHELO x\r\nRCPT TO:<u@test.example>\r\nQUIT\r\n",
    );
    expect(r.out).toBe(
      `${GREET}${OK}${OK}${OK}503 RCPT first (#5.5.1)\r\n${OK}250 flushed\r\n503 MAIL first (#5.5.1)\r\n${OK}250 test.example\r\n503 MAIL first (#5.5.1)\r\n221 test.example\r\n`,
    );
  });
});

/**
 * One character through the state machine of C's blast() (qmail-smtpd.c): the next state and the
 * bytes stored, "stray" for a bare LF, "end" at the dot line's LF. States: 0 in a line, 1 at a line's
 * start, 2 after a leading dot, 3 after a leading dot and CR, 4 after a CR.
 */
function blastStep(state: number, ch: string): [number, string] | "stray" | "end" {
  if (ch === "\n") return state === 3 ? "end" : state === 4 ? [1, ch] : "stray";
  if (state === 3) return ch === "\r" ? [4, ".\r"] : [0, `.\r${ch}`];
  if (state === 4) return ch === "\r" ? [4, ch] : [0, `\r${ch}`];
  if (ch === "\r") return [state === 2 ? 3 : 4, ""];
  if (state === 1 && ch === ".") return [2, ""];
  return [0, ch];
}

/** C's blast() as an oracle: the stored bytes and where the data ended (-1: not), or "stray" for a bare LF. */
function cblast(s: string): { out: string; end: number } | "stray" {
  let state = 1;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const r = blastStep(state, s[i] as string);
    if (r === "stray" || r === "end") return r === "end" ? { out, end: i + 1 } : r;
    state = r[0];
    out += r[1];
  }
  return { out, end: -1 };
}

describe("DATA", () => {
  test("Received line, dot-unstuffing, CRLF to LF, lone CR kept, 250 ok <time> qp <pid>", async () => {
    const h = makeHome();
    const t0 = Math.floor(Date.now() / 1000);
    const r = await deliver(
      h,
      { TCPREMOTEHOST: "client.example", TCPREMOTEINFO: "joe", TCPLOCALHOST: "mx.test.example" },
      "<a@b>",
      ["<u@test.example>"],
      "Subject: t\r\n\r\n..leading\r\n.\rx\r\na\rb\r\n.\r\r\n\r\n",
    );
    const lines = r.out.split("\r\n");
    expect(lines[4]).toMatch(/^250 ok \d+ qp \d+$/);
    const [, when, , qp] = (lines[4] as string).split(" ").slice(1);
    expect(Number(when)).toBeGreaterThanOrEqual(t0);
    const q = queued(h);
    expect(q.length).toBe(1);
    expect(existsSync(join(h.out, `env.${qp}`))).toBe(true);
    const msg = q[0]?.msg ?? "";
    expect(msg).toMatch(
      /^Received: from client\.example \(joe@10\.1\.2\.3\)\n {2}by mx\.test\.example with SMTP; \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n/,
    );
    expect(msg.slice(msg.indexOf("\n", msg.indexOf("\n") + 1) + 1)).toBe("Subject: t\n\n.leading\n.\rx\na\rb\n.\r\n\n");
  });

  test("Received: HELO shown when it differs from the host; unsafe characters become ?", async () => {
    const h = makeHome();
    const r = await session(
      h,
      "HELO Evil\tname\xff(x)\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n.\r\n",
      {
        TCPREMOTEHOST: "host\nX-Injected: yes",
        TCPLOCALIP: "127.0.0.1",
      },
    );
    expect(r.out).toContain("354 go ahead\r\n250 ok");
    expect(queued(h)[0]?.msg).toMatch(
      /^Received: from host\?X-Injected:\?yes \(HELO Evil\?name\?\?x\?\) \(10\.1\.2\.3\)\n {2}by 127\.0\.0\.1 with SMTP; /,
    );
  });

  test("Received: HELO equal to the host (any case) is left out; defaults are unknown", async () => {
    const h = makeHome();
    await session(h, "HELO CLIENT.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n.\r\n", {
      TCPREMOTEHOST: "client.example",
    });
    expect(queued(h)[0]?.msg).toMatch(/^Received: from client\.example \(10\.1\.2\.3\)\n {2}by unknown with SMTP; /);
    const h2 = makeHome();
    await session(h2, "MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n.\r\n", { TCPREMOTEIP: "" });
    expect(queued(h2)[0]?.msg).toMatch(/^Received: from unknown \(\)\n {2}by unknown with SMTP; /);
  });

  const stray: string[] = ["\n.\n", "\n.\r", "\r.\n", "\n.\r\n", "\r\n.\n", "x\ny", "\n"];
  test.each(stray)("bare LF in %j: 451 and disconnect, nothing queued", async (seq) => {
    const h = makeHome();
    const r = await session(
      h,
      `MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nhi${seq}MAIL FROM:<spoof@x>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nspoofed\r\n.\r\nQUIT\r\n`,
    );
    expect(r.out).toBe(`${GREET}${OK}${OK}354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n`);
    expect(r.code).toBe(1);
    for (const q of queued(h)) expect(q.env).toBe("");
  });

  const notEnd: [string, string][] = [
    ["\r.\r", "\r.\r"],
    ["\r.\r\n", "\r.\n"],
    ["\r\n.\r", "\n.\r"],
    ["\r\n\0.\r\n", "\n\0.\n"],
    ["\r\n.\0\r\n", "\n\0\n"],
    ["\r\r\n.\r\r\n", "\r\n.\r\n"],
  ];
  test.each(notEnd)("%j is not an end of data: one message", async (seq, stored) => {
    const h = makeHome();
    const r = await session(
      h,
      `MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nhi${seq}MAIL FROM:<spoof@x>\r\n.\r\nQUIT\r\n`,
    );
    expect(r.out).toMatch(/354 go ahead\r\n250 ok \d+ qp \d+\r\n221 test.example\r\n$/);
    const q = queued(h);
    expect(q.length).toBe(1);
    expect(q[0]?.msg.endsWith(`\nhi${stored}MAIL FROM:<spoof@x>\n`)).toBe(true);
  });

  test("random DATA bodies: what is queued matches a transliteration of C's blast()", async () => {
    const tok = fc.constantFrom("a", ".", "\r", "\r\n", "\0", "\xff", "..");
    const bodies = fc
      .sample(fc.array(tok, { maxLength: 30 }), { numRuns: 120, seed: 42 })
      .map((t) => `${t.join("")}\r\n.\r\n`);
    const cases = bodies.filter((b) => {
      const m = cblast(b);
      return m !== "stray" && m.end === b.length;
    });
    expect(cases.length).toBeGreaterThan(60);
    const h = makeHome({ me: "test.example" });
    const r = await session(
      h,
      `${cases.map((b) => `MAIL FROM:<a@b>\r\nRCPT TO:<u@x>\r\nDATA\r\n${b}`).join("")}QUIT\r\n`,
    );
    expect(r.out.match(/250 ok \d+ qp \d+\r\n/g)?.length).toBe(cases.length);
    const got = queued(h).map((q) => q.msg.slice(q.msg.indexOf("\n", q.msg.indexOf("\n") + 1) + 1));
    // file names sort by pid, not by order: compare as multisets
    const want = cases.map((b) => (cblast(b) as { out: string }).out);
    expect([...got].sort()).toEqual([...want].sort());
  }, 60000);

  test("hop count: 99 Received/Delivered lines pass, 100 give 554; body lines do not count", async () => {
    const h = makeHome();
    const hdr = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        i % 3 === 0 ? "Delivered-To: x\r\n" : i % 3 === 1 ? "RECEIVED: y\r\n" : "received-spf: z\r\n",
      ).join("");
    const r = await session(
      h,
      `MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n${hdr(99)}\r\n${hdr(50)}.\r\n` +
        `MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n${hdr(100)}\r\nbody\r\n.\r\nQUIT\r\n`,
    );
    expect(r.out).toMatch(
      /354 go ahead\r\n250 ok \d+ qp \d+\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n554 too many hops, this message is looping \(#5\.4\.6\)\r\n221/,
    );
    const q = queued(h);
    expect(q.length).toBe(2);
    expect(q[0]?.env).toBe("Fa@b\0Tu@test.example\0\0");
    // qmail_fail(): qmail.c's flagerr stops every later qmail_put, so not even the end mark is
    // written: qmail-queue reads an empty envelope (54) and removes the message
    expect(q[1]?.env).toBe("");
  });

  test("databytes: exactly databytes passes, one more byte gives 552 and nothing queued", async () => {
    const h = makeHome({ me: "test.example", rcpthosts: "test.example\n", databytes: "10\n" });
    // 10 bytes after CRLF -> LF: "123456789\n"
    const r = await session(
      h,
      "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n123456789\r\n.\r\n" +
        "MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n1234567890\r\n.\r\nQUIT\r\n",
    );
    expect(r.out).toContain("250-SIZE 10\r\n");
    expect(r.out).toMatch(
      /354 go ahead\r\n250 ok \d+ qp \d+\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n552 sorry, that message size exceeds my databytes limit \(#5\.3\.4\)\r\n221/,
    );
    const q = queued(h);
    expect(q.map((x) => x.env)).toEqual(["Fa@b\0Tu@test.example\0\0", ""]);
  });

  test("DATABYTES overrides control/databytes; SIZE= over the limit is refused at MAIL", async () => {
    const h = makeHome({ me: "test.example", rcpthosts: "test.example\n", databytes: "10\n" });
    const r = await session(
      h,
      "EHLO x\r\nMAIL FROM:<a@b> SIZE=1001\r\nRCPT TO:<u@test.example>\r\nMAIL FROM:<a@b> size=1000 BODY=8BITMIME\r\nMAIL FROM:<a@b> SIZE=99999999999999999999999\r\nQUIT\r\n",
      { DATABYTES: "1000" },
    );
    const size = "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n";
    expect(r.out).toBe(
      `${GREET}250-test.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n${size}503 MAIL first (#5.5.1)\r\n${OK}${size}221 test.example\r\n`,
    );
  });

  test("DATABYTES=0: unlimited, SIZE 0 advertised, SIZE= ignored", async () => {
    const h = makeHome({ me: "test.example", databytes: "10\n" });
    const r = await session(h, "EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999\r\nQUIT\r\n", { DATABYTES: "0" });
    expect(r.out).toContain("250-SIZE 0\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n250 ok\r\n");
  });

  test("qmail-queue failures map to 451/554 texts", async () => {
    for (const [code, reply] of [
      ["53", "451 qq write error or disk full (#4.3.0)"],
      ["31", "554 mail server permanently rejected message (#5.3.0)"],
      ["11", "554 envelope address too long for qq (#5.1.3)"],
      ["81", "451 qq internal bug (#4.3.0)"],
      ["99", "451 qq temporary problem (#4.3.0)"],
    ]) {
      const h = makeHome();
      const r = await deliver(h, { QQEXIT: code as string }, "<a@b>", ["<u@test.example>"]);
      expect(r.out).toBe(`${GREET}${OK}${OK}354 go ahead\r\n${reply}\r\n221 test.example\r\n`);
    }
    const h = makeHome();
    const r = await deliver(h, { QMAILQUEUE: join(h.dir, "missing") }, "<a@b>", ["<u@test.example>"]);
    expect(r.out).toContain("354 go ahead\r\n451 unable to exec qq (#4.3.0)\r\n");
  });

  test("a qmail-queue that exits without reading a big message: 451, the session goes on", async () => {
    const h = makeHome({ me: "test.example", timeoutsmtpd: "1\n" });
    const big = `${"x".repeat(998)}\r\n`.repeat(3000);
    const r = await session(h, `MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n${big}.\r\nNOOP\r\nQUIT\r\n`, {
      QMAILQUEUE: "/bin/true",
    });
    expect(r.out).toMatch(
      /^220 [^\n]*\n250 ok\r\n250 ok\r\n354 go ahead\r\n451 qq [^\r\n]+\r\n250 ok\r\n221 test.example\r\n$/,
    );
  }, 20000);

  test("pipelined: everything in one write, replies in order, commands after the dot run", async () => {
    const h = makeHome();
    const one = "MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nRCPT TO:<bad@else.example>\r\nDATA\r\nm\r\n.\r\n";
    const r = await session(h, `EHLO x\r\n${one.repeat(20)}QUIT\r\n`);
    const re = /250 ok\r\n250 ok\r\n553 [^\r]*\r\n354 go ahead\r\n250 ok \d+ qp \d+\r\n/g;
    expect(r.out.match(re)?.length).toBe(20);
    expect(r.out.endsWith("221 test.example\r\n")).toBe(true);
    expect(queued(h).length).toBe(20);
  });
});

// ---------------------------------------------------------------- under tcpserver

interface Server {
  port: number;
  pid: number;
  log: () => string;
}

async function tcpserver(
  h: Home,
  env: Record<string, string> = {},
  opts: string[] = [],
  prog = TCPSERVER,
): Promise<Server> {
  const port = await freePort();
  const logf = join(h.dir, "tcpserver.log");
  const p = start(prog, ["-v", "-R", "-H", "-l", "0", ...opts, "127.0.0.1", String(port), SMTPD], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: { file: logf },
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: h.qq, ...env },
    extendEnv: false,
  });
  servers.push(p.pid);
  await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 5000);
  return { port, pid: p.pid, log: () => readFileSync(logf, "latin1") };
}
const servers: number[] = [];
afterAll(() => {
  for (const p of servers) kill(p);
});

/** A raw client: send bytes, collect until the server closes (or timeoutMs). */
async function raw(port: number, chunks: (string | Buffer)[], timeoutMs = 10000): Promise<string> {
  return await new Promise((ok) => {
    const s: Socket = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on("connect", () => {
      for (const c of chunks) s.write(typeof c === "string" ? Buffer.from(c, "latin1") : c);
    });
    s.on("data", (d) => got.push(d as Buffer));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      ok(Buffer.concat(got).toString("latin1"));
    });
  });
}

/** The pid of the newest connection's child, once there are more than `seen` connections in the log. */
function childPid(log: string, seen = 0): number | undefined {
  const pids = [...log.matchAll(/tcpserver: pid (\d+) from/g)].map((x) => Number(x[1]));
  return pids.length > seen ? pids[pids.length - 1] : undefined;
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Connection n to srv: prefix, then 300 MiB of "a" with no end; the session's child pid and the
 * peak RSS seen of it.
 */
async function endless(srv: Server, n: number, prefix: string): Promise<{ pid: number | undefined; peak: number }> {
  let peak = 0;
  const s = connect(srv.port, "127.0.0.1");
  s.on("error", () => {});
  s.on("data", () => {});
  await new Promise((ok) => s.on("connect", ok));
  s.write(prefix);
  const block = Buffer.alloc(1 << 20, "a");
  let pid: number | undefined;
  for (let i = 0; i < 300; i++) {
    if (!s.write(block)) await new Promise((ok) => s.once("drain", ok));
    if (i % 20 === 0) {
      // This connection's child, not the previous one's (the log may not show it yet).
      pid ??= childPid(srv.log(), n);
      if (pid) peak = Math.max(peak, rssKb(pid));
    }
  }
  pid ??= childPid(srv.log(), n);
  if (pid) peak = Math.max(peak, rssKb(pid));
  s.destroy();
  return { pid, peak };
}

describe.each(TCPSERVERS)("qmail-smtpd under %s with real clients", (_name, prog) => {
  let h: Home;
  let srv: Server;
  beforeAll(async () => {
    h = makeHome();
    srv = await tcpserver(h, {}, [], prog);
  });

  test("python3 smtplib: ehlo features, sendmail, rcpt refusal", async () => {
    const py = `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", ${srv.port}, local_hostname="py.example", timeout=10)
code, msg = s.ehlo()
print(code, sorted(s.esmtp_features.items()))
r = s.sendmail("py@client.example", ["u@test.example", "x@other.example"], "Subject: py\\r\\n\\r\\n.dot line\\r\\nbye\\r\\n")
print("refused", r)
try:
    s.sendmail("py@client.example", ["x@other.example"], "x")
except smtplib.SMTPRecipientsRefused as e:
    print("all refused", e.recipients["x@other.example"][0])
print(s.docmd("VRFY", "u"))
s.quit()
`;
    const r = await run("python3", ["-c", py]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      "250 [('8bitmime', ''), ('pipelining', ''), ('size', '0'), ('smtputf8', '')]\n" +
        "refused {'x@other.example': (553, b\"sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\")}\n" +
        "all refused 553\n" +
        '(252, b"send some mail, i\'ll try my best")\n',
    );
    const q = queued(h).filter((x) => x.env.startsWith("Fpy@"));
    expect(q.length).toBe(1);
    expect(q[0]?.msg).toMatch(
      /^Received: from unknown \(HELO py\.example\) \(127\.0\.0\.1\)\n {2}by 0 with SMTP; .*\nSubject: py\n\n\.dot line\nbye\n$/,
    );
  });

  test("swaks, plain and --pipeline", async () => {
    for (const extra of [[], ["--pipeline"]]) {
      const r = await run("swaks", [
        "--server",
        `127.0.0.1:${srv.port}`,
        "--from",
        "sw@client.example",
        "--to",
        "u@test.example",
        "--helo",
        "swaks.example",
        "--header",
        "Subject: swaks",
        "--body",
        "hello",
        ...extra,
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/<- {2}250 ok \d+ qp \d+/);
      expect(r.stdout).toContain("<-  250-PIPELINING\n<-  250-SIZE 0\n<-  250-SMTPUTF8\n<-  250 8BITMIME\n");
    }
    const r = await run("swaks", [
      "--server",
      `127.0.0.1:${srv.port}`,
      "--from",
      "sw@client.example",
      "--to",
      "u@relay.example",
      "--quit-after",
      "RCPT",
    ]);
    expect(r.code).toBe(24);
    expect(r.stdout).toContain("<** 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)");
  });

  test("pipelined in many small writes and one big write", async () => {
    const one = "MAIL FROM:<p@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nline\r\n.\r\n";
    const chunks = `EHLO x\r\n${one.repeat(10)}QUIT\r\n`.split("").reduce<string[]>((a, c, i) => {
      if (i % 7 === 0) a.push("");
      a[a.length - 1] += c;
      return a;
    }, []);
    const out = await raw(srv.port, chunks);
    expect(out.match(/250 ok \d+ qp \d+\r\n/g)?.length).toBe(10);
    const out2 = await raw(srv.port, [`EHLO x\r\n${one.repeat(10)}QUIT\r\n`]);
    expect(out2.match(/250 ok \d+ qp \d+\r\n/g)?.length).toBe(10);
    expect(out2.endsWith("221 test.example\r\n")).toBe(true);
  });

  test("bare LF over TCP: 451, connection closed at once", async () => {
    const out = await raw(srv.port, [
      "MAIL FROM:<a@b>\r\nRCPT TO:<u@test.example>\r\nDATA\r\n",
      "x\n.\nMAIL FROM:<spoof@x>\r\nRCPT TO:<u@test.example>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
    ]);
    expect(out).toBe(`${GREET}${OK}${OK}354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n`);
  });
});

describe("limits", () => {
  test("timeoutsmtpd: 451 timeout and exit after the idle time", async () => {
    const h = makeHome({ me: "test.example", timeoutsmtpd: "1\n" });
    const srv = await tcpserver(h);
    const t0 = Date.now();
    const out = await raw(srv.port, ["NOOP\r\n"], 8000);
    const dt = Date.now() - t0;
    expect(out).toBe(`${GREET}${OK}451 timeout (#4.4.2)\r\n`);
    expect(dt).toBeGreaterThan(900);
    expect(dt).toBeLessThan(8000);
    await waitFor(() => /end \d+ status 256/.test(srv.log()), 3000);
    expect(srv.log()).toMatch(/end \d+ status 256/);
  });

  test("a client that never reads its replies: the write times out, exit 1", async () => {
    const h = makeHome({ me: "test.example", timeoutsmtpd: "1\n" });
    const srv = await tcpserver(h);
    const s = connect(srv.port, "127.0.0.1");
    s.on("error", () => {});
    await new Promise((ok) => s.on("connect", ok));
    s.pause();
    s.setMaxListeners(0);
    const block = Buffer.from("NOOP\r\n".repeat(10000));
    for (let i = 0; i < 600 && !/end \d+ status/.test(srv.log()); i++) {
      if (!s.write(block)) await Promise.race([new Promise((ok) => s.once("drain", ok)), Bun.sleep(200)]);
    }
    await waitFor(() => /end \d+ status 256/.test(srv.log()), 15000);
    s.destroy();
    expect(srv.log()).toMatch(/end \d+ status 256/);
  }, 30000);

  test("endless command line and endless message: RSS stays bounded", async () => {
    const h = makeHome({ me: "test.example" });
    writeFileSync(h.qq, "#!/bin/sh\ncat >/dev/null\ncat <&1 >/dev/null\nexit 0\n", { mode: 0o755 });
    const srv = await tcpserver(h);
    for (const [n, prefix] of ["HELO ", "MAIL FROM:<a@b>\r\nRCPT TO:<u@x>\r\nDATA\r\nSubject: "].entries()) {
      const { pid, peak } = await endless(srv, n, prefix);
      expect(pid).toBeGreaterThan(0);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(150 * 1024);
    }
  }, 60000);

  test("5000 recipients of varied lengths: the envelope is exact", async () => {
    const h = makeHome({ me: "test.example" });
    const rcpts = Array.from({ length: 5000 }, (_, i) => `${"r".repeat(i % 300)}${i}@test.example`);
    const r = await session(
      h,
      `MAIL FROM:<a@b>\r\n${rcpts.map((x) => `RCPT TO:<${x}>\r\n`).join("")}DATA\r\nbody\r\n.\r\nQUIT\r\n`,
    );
    expect(r.out).toMatch(/354 go ahead\r\n250 ok \d+ qp \d+\r\n221 test.example\r\n$/);
    expect(queued(h)[0]?.env).toBe(`Fa@b\0${rcpts.map((x) => `T${x}\0`).join("")}\0`);
  });

  test("an overlong MAIL line is a syntax error, the session goes on", async () => {
    const h = makeHome();
    const r = await session(h, `MAIL FROM:<a@b> ${"x".repeat(200000)}\r\nNOOP\r\nQUIT\r\n`);
    expect(r.out).toBe(`${GREET}555 syntax error (#5.5.4)\r\n${OK}221 test.example\r\n`);
  });
});
