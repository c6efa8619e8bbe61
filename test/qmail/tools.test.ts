// SPDX-License-Identifier: MIT
// qmail's small tools with real processes: tcp-env on a real socket, qsmhook,
// qreceipt through a QMAILQUEUE stub, qbiff writing to a pty listed in a utmp
// file of the test's own (in a mount namespace), maildirwatch's screen, and
// the qail/elq/pinq wrappers.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, kill, ours, run, start, tmp, waitFor } from "../lib/harness.ts";
import { type DnsServer, startDns } from "./fixtures/dnsserver.ts";
import { injections, qqHome } from "./fixtures/qq.ts";

/** A PTR answer section for the fixture server (0xc00c: the question's name). */
function ptr(name: string): { ancount: number; bytes: Buffer } {
  const rd = Buffer.concat([
    ...name.split(".").flatMap((p) => [Buffer.from([p.length]), Buffer.from(p)]),
    Buffer.from([0]),
  ]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0xc00c, 0);
  h.writeUInt16BE(12, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt32BE(60, 6);
  h.writeUInt16BE(rd.length, 10);
  return { ancount: 1, bytes: Buffer.concat([h, rd]) };
}

describe("tcp-env", () => {
  let dns: DnsServer;
  const started: number[] = [];
  afterAll(async () => {
    for (const p of started) kill(p);
    await dns?.close();
  });

  /** Runs tcp-env ARGS under our tcpserver without PROTO, connects once, returns what the program printed. */
  async function through(
    args: string[],
    extraEnv: Record<string, string>,
  ): Promise<{ out: string; clientPort: number }> {
    const port = await freePort();
    const p = start(
      ours("tcpserver"),
      ["-RHl0", "127.0.0.1", String(port), "env", "-u", "PROTO", ours("tcp-env"), ...args],
      { env: { PATH: "/usr/bin:/bin", ...extraEnv }, extendEnv: false, stdout: "ignore", stderr: "pipe" },
    );
    started.push(p.pid);
    const sock = await waitFor(
      () =>
        new Promise<ReturnType<typeof connect> | undefined>((ok) => {
          const s = connect(port, "127.0.0.1");
          s.once("connect", () => ok(s));
          s.once("error", () => ok(undefined));
        }),
      10_000,
    );
    if (!sock) throw new Error("tcpserver did not start");
    const clientPort = sock.localPort ?? 0;
    const chunks: Buffer[] = [];
    sock.on("data", (d) => chunks.push(d as Buffer));
    await new Promise((ok) => sock.once("close", ok));
    p.kill();
    return { out: Buffer.concat(chunks).toString(), clientPort };
  }

  const SHOW = ["sh", "-c", 'env | grep -E "^(PROTO|TCP)" | sort; echo "args: $*"', "sh", "a b"];

  test("sets PROTO and TCP* from the socket on fd 0; host names from PTR, lower case; -R: no TCPREMOTEINFO", async () => {
    dns = await startDns({ "1.0.0.127.in-addr.arpa": { raw: ptr("Loop.Example.ORG") } });
    const port = dns.port;
    const r = await through(["-R", ...SHOW], { QMAILREMOTE_DNS: `127.0.0.1:${port}`, TCPREMOTEINFO: "stale" });
    const srvPort = /TCPLOCALPORT=(\d+)/.exec(r.out)?.[1];
    expect(r.out).toBe(
      [
        "PROTO=TCP",
        "TCPLOCALHOST=loop.example.org",
        "TCPLOCALIP=127.0.0.1",
        `TCPLOCALPORT=${srvPort}`,
        "TCPREMOTEHOST=loop.example.org",
        "TCPREMOTEIP=127.0.0.1",
        `TCPREMOTEPORT=${r.clientPort}`,
        "args: a b",
        "",
      ].join("\n"),
    );
  });

  test("no PTR: the host variables are removed; SERVFAIL: softdnserror", async () => {
    const empty = await startDns({});
    const r = await through(["-R", ...SHOW], { QMAILREMOTE_DNS: `127.0.0.1:${empty.port}`, TCPLOCALHOST: "old" });
    await empty.close();
    expect(r.out).not.toContain("HOST=");
    const failing = await startDns({ "1.0.0.127.in-addr.arpa": { rcode: 2 } });
    const s = await through(["-R", ...SHOW], { QMAILREMOTE_DNS: `127.0.0.1:${failing.port}` });
    await failing.close();
    expect(s.out).toContain("TCPLOCALHOST=softdnserror\n");
    expect(s.out).toContain("TCPREMOTEHOST=softdnserror\n");
  });

  test("PROTO=TCP: nothing changes; no program or no socket: exit 111, silently", async () => {
    const env = { PATH: "/usr/bin:/bin", PROTO: "TCP", TCPLOCALIP: "1.2.3.4" };
    expect(await run(ours("tcp-env"), ["-x", "-t", "5", "sh", "-c", "echo $PROTO $TCPLOCALIP"], { env })).toMatchObject(
      {
        code: 0,
        stdout: "TCP 1.2.3.4\n",
        stderr: "",
      },
    );
    expect(await run(ours("tcp-env"), [], { env })).toMatchObject({ code: 111, stdout: "", stderr: "" });
    expect(await run(ours("tcp-env"), ["true"], { env: { PATH: "/usr/bin:/bin" }, input: "" })).toMatchObject({
      code: 111,
      stderr: "",
    });
  });
});

describe("qsmhook", () => {
  const ENV = {
    PATH: "/usr/bin:/bin",
    DTLINE: "Delivered-To: joe-list@example.com\n",
    RPLINE: "Return-Path: <alice@x.org>\n",
    UFLINE: "From alice@x.org Mon Dec  7 05:00:00 2026\n",
    LOCAL: "Joe-List",
    HOST: "example.com",
    SENDER: "alice@x.org",
  };
  const MSG = "Subject: hi\n\nbody\n";
  // No % in the script: qsmhook expands every argument.
  const PROG = ["sh", "-c", 'for a; do echo "[$a]"; done; cat; exit 3', "sh"];

  test("%g %h %u %% in the arguments; the From_ line then the message; the program's exit code", async () => {
    const r = await run(ours("qsmhook"), [...PROG, "%u@%h", "-f%g", "100%%", "%x%"], { env: ENV, input: MSG });
    expect(r).toMatchObject({
      code: 3,
      stdout: `[Joe-List@example.com]\n[-falice@x.org]\n[100%]\n[]\n${ENV.UFLINE}${MSG}`,
      stderr: "",
    });
  });

  test("-n no From_ line, -P Return-Path, -l Delivered-To, -x strips a prefix in any case; -DFMms ignored", async () => {
    const r = await run(ours("qsmhook"), ["-nPl", "-x", "joe-", "-DFMms", ...PROG, "%u"], { env: ENV, input: MSG });
    expect(r).toMatchObject({ code: 3, stdout: `[List]\n${ENV.RPLINE}${ENV.DTLINE}${MSG}` });
  });

  test("usage, a missing variable, an unknown option, no such command, a crash", async () => {
    expect(await run(ours("qsmhook"), [], { env: ENV })).toMatchObject({
      code: 100,
      stderr: "qsmhook: fatal: incorrect usage\n",
    });
    expect(await run(ours("qsmhook"), ["cat"], { env: { ...ENV, HOST: undefined } as never })).toMatchObject({
      code: 100,
      stderr: "qsmhook: fatal: incorrect usage\n",
    });
    expect(await run(ours("qsmhook"), ["-z", "cat"], { env: ENV })).toMatchObject({
      code: 100,
      stderr: "qsmhook: illegal option -- z\n",
    });
    expect(await run(ours("qsmhook"), ["/nonexistent/prog"], { env: ENV, input: MSG })).toMatchObject({
      code: 100,
      stderr: "qsmhook: fatal: command not found\n",
    });
    expect(await run(ours("qsmhook"), ["sh", "-c", "kill -9 $$"], { env: ENV, input: MSG })).toMatchObject({
      code: 111,
      stderr: "qsmhook: fatal: temporary problem\n",
    });
  });

  test("a program that stops reading is not an error", async () => {
    const big = `Subject: x\n\n${"y".repeat(1_000_000)}\n`;
    expect(await run(ours("qsmhook"), ["sh", "-c", "exit 0"], { env: ENV, input: big })).toMatchObject({
      code: 0,
      stderr: "",
    });
  });
});

describe("qreceipt", () => {
  const MSG =
    "Received: by x\nMessage-ID: <123@x.org>\nNotice-Requested-Upon-Delivery-To: Joe <joe@example.com>,\n" +
    ' "bob"@example.com\nSubject: hi\n\nbody\n';

  test("a notice asked for this address: the success notice to the sender, from <>", async () => {
    const q = qqHome();
    const r = await run(ours("qreceipt"), ["bob@example.com"], {
      env: { ...q.env, SENDER: "a.b@x.org" },
      input: MSG,
    });
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const inj = injections(q.qq);
    expect(inj.length).toBe(1);
    expect(inj[0]?.env).toBe("F\0Ta.b@x.org\0\0");
    expect(inj[0]?.msg).toBe(
      "From: DELIVERY NOTICE SYSTEM <a.b@x.org>\nTo: <a.b@x.org>\nSubject: success notice\n\n" +
        "Hi! This is the qreceipt program. Your message was delivered to the\n" +
        "following address: bob@example.com. Thanks for asking.\nYour Message-ID: <123@x.org>\n",
    );
  });

  test("a sender that needs quoting; no Message-ID", async () => {
    const q = qqHome();
    const msg = "Notice-Requested-Upon-Delivery-To: joe@example.com\n\nbody\n";
    await run(ours("qreceipt"), ["joe@example.com"], { env: { ...q.env, SENDER: "a b@x.org" }, input: msg });
    const m = injections(q.qq)[0]?.msg ?? "";
    expect(m).toStartWith('From: DELIVERY NOTICE SYSTEM <"a b"@x.org>\nTo: <"a b"@x.org>\n');
    expect(m).toEndWith("Thanks for asking.\n");
  });

  test("no notice: another address, no field, the null sender, #@[]", async () => {
    const q = qqHome();
    for (const [target, sender, msg] of [
      ["other@example.com", "a@x.org", MSG],
      ["joe@example.com", "a@x.org", "Subject: x\n\nbody\n"],
      ["joe@example.com", "", MSG],
      ["joe@example.com", "#@[]", MSG],
    ] as const)
      expect(await run(ours("qreceipt"), [target], { env: { ...q.env, SENDER: sender }, input: msg })).toMatchObject({
        code: 0,
        stderr: "",
      });
    expect(injections(q.qq)).toEqual([]);
  });

  test("usage; a field it cannot parse; the queue's permanent and temporary refusals", async () => {
    const q = qqHome();
    expect(await run(ours("qreceipt"), [], { env: { ...q.env, SENDER: "a@x" } })).toMatchObject({
      code: 100,
      stderr: "qreceipt: usage: qreceipt deliveryaddress\n",
    });
    expect(await run(ours("qreceipt"), ["joe@example.com"], { env: q.env })).toMatchObject({ code: 100 });
    const bad = "Notice-Requested-Upon-Delivery-To: (unclosed\n\n";
    expect(
      await run(ours("qreceipt"), ["joe@example.com"], { env: { ...q.env, SENDER: "a@x" }, input: bad }),
    ).toMatchObject({
      code: 100,
      stderr: "qreceipt: fatal: unable to parse this: Notice-Requested-Upon-Delivery-To: (unclosed\n",
    });
    for (const [code, exit, text] of [
      ["31", 100, "permanent"],
      ["71", 111, "temporary"],
    ] as const)
      expect(
        await run(ours("qreceipt"), ["joe@example.com"], {
          env: { ...q.env, SENDER: "a@x", QQEXIT: code },
          input: MSG,
        }),
      ).toMatchObject({ code: exit, stderr: `qreceipt: fatal: ${text} qmail-queue error\n` });
  });
});

// qbiff in a mount namespace with a tmpfs on /run holding the test's utmp; a pty from python's openpty.
const QBIFF = `
import json, os, pty, struct, subprocess, sys, tty, fcntl
spec = json.load(open(sys.argv[1]))
def utmp(kind, line, user):
    rec = bytearray(384)
    struct.pack_into("<h", rec, 0, kind)
    rec[8:8 + len(line)] = line.encode()
    rec[44:44 + len(user)] = user.encode()
    return bytes(rec)
out = []
for case in spec["cases"]:
    m, s = pty.openpty()
    tty.setraw(s)
    name = os.ttyname(s)[len("/dev/"):]
    os.chmod(os.ttyname(s), 0o720 if case["biff"] else 0o620)
    recs = [utmp(7, "pts/9999", "someone"), utmp(8, name, "root"), utmp(7, "./" + name, "root")]
    if case["listed"]:
        recs.append(utmp(7, name, "root"))
    os.makedirs("/var/run", exist_ok=True)
    open("/var/run/utmp", "wb").write(b"".join(recs))
    p = subprocess.run([spec["qbiff"]], input=case["input"].encode("latin1"), env=case["env"], capture_output=True, timeout=20)
    fcntl.fcntl(m, fcntl.F_SETFL, os.O_NONBLOCK)
    got = b""
    try:
        got = os.read(m, 65536)
    except BlockingIOError:
        pass
    out.append({"code": p.returncode, "stdout": p.stdout.decode("latin1"), "tty": got.decode("latin1")})
    os.close(m); os.close(s)
print(json.dumps(out))
`;

describe("qbiff", () => {
  test("writes the notice to the user's terminals that have biff y; exit 0 always", async () => {
    const d = tmp("qts-qbiff-");
    const env = { PATH: "/usr/bin:/bin", USER: "root", SENDER: "alice@x.org", LOCAL: "joe-\x01list" };
    const input = "Subject: Hello\n there\nX: y\n\nbody line\n\tmore text that goes on and on and on and on and on\n";
    const cases = [
      { biff: true, listed: true, env, input },
      { biff: false, listed: true, env, input },
      { biff: true, listed: false, env, input },
      { biff: true, listed: true, env: { PATH: env.PATH, USER: "root", SENDER: "a@b" }, input },
    ];
    writeFileSync(join(d, "qbiff.py"), QBIFF);
    writeFileSync(join(d, "spec.json"), JSON.stringify({ qbiff: ours("qbiff"), cases }));
    const r = await run(
      "unshare",
      [
        "-m",
        "--",
        "sh",
        "-c",
        'mount -t tmpfs tmpfs /run && exec "$@"',
        "sh",
        "python3",
        join(d, "qbiff.py"),
        join(d, "spec.json"),
      ],
      { timeout: 60_000 },
    );
    expect(r.stderr).toBe("");
    const res = JSON.parse(r.stdout) as { code: number; stdout: string; tty: string }[];
    // The Subject's value and every body line with its newline, the blank line first.
    const text = "    Hello/ there//body line//more text that goes on and on and on and on and o";
    expect(res[0]).toEqual({
      code: 0,
      stdout: "",
      tty: `\r\n\x07*** TO <joe-_list> FROM <alice@x.org>\r\n${text}\r\n`,
    });
    expect(text.length).toBe(78);
    for (const x of res.slice(1)) expect(x).toEqual({ code: 0, stdout: "", tty: "" });
  });
});

// Runs argv[1] on a pty until its output holds argv[2] and a blank line, prints that output, kills exactly that child.
const PTY = `
import os, pty, subprocess, sys, time
m, s = pty.openpty()
p = subprocess.Popen([sys.argv[1]], stdin=s, stdout=s, stderr=s)
os.close(s)
want = sys.argv[2].encode() + b"\\r\\n\\r\\n"
got = b""
end = time.time() + 20
while want not in got and time.time() < end:
    got += os.read(m, 65536)
p.kill()
p.wait()
sys.stdout.write(got.decode("latin1"))
`;

describe("maildirwatch", () => {
  test("clears the screen and shows each new message: sender, recipient, From line, subject and body", async () => {
    const md = tmp("qts-mdw-");
    for (const s of ["new", "cur", "tmp"]) mkdirSync(join(md, s));
    const old = Date.now() / 1000 - 100;
    writeFileSync(
      join(md, "new/1.1.host"),
      "Return-Path: <alice@x.org>\nDelivered-To: joe@example.com\nFrom: Alice \xe9 <alice@x.org>\nSubject: first\n\nhello\n",
      "latin1",
    );
    writeFileSync(join(md, "new/2.2.host"), "Subject: second\n\tfolded\n\nbody\x01\n");
    writeFileSync(join(md, "cur/3.3.host:2,"), "Subject: seen\n\n");
    utimesSync(join(md, "new/1.1.host"), old - 10, old - 10);
    utimesSync(join(md, "new/2.2.host"), old, old);
    const want =
      "\x1b[;H\x1b[;J" +
      "FROM <alice@x.org> TO <joe@example.com>\n\x1b[1mFrom: Alice / <alice@x.org>\x1b[0m\nfirst//hello/\n\n" +
      "FROM ? TO <?>\nsecond//folded//body//\n\n";
    const p = start(ours("maildirwatch"), [], {
      env: { MAILDIR: md },
      extendEnv: false,
      stdout: "pipe",
      stderr: "pipe",
    });
    const got = await p.until("body//\n\n", 10_000);
    p.kill();
    await p.exited;
    expect(got).toBe(want);
    // The same on a terminal (a pty from python's openpty; the line discipline turns LF into CR LF).
    const d = tmp("qts-mdw-pty-");
    writeFileSync(join(d, "onpty.py"), PTY);
    const t = await run("python3", [join(d, "onpty.py"), ours("maildirwatch"), "body//"], {
      env: { MAILDIR: md, PATH: "/usr/bin:/bin" },
      timeout: 30_000,
    });
    expect(t.stdout).toBe(want.replaceAll("\n", "\r\n"));
  });

  test("MAILDIR not set, or not there: 111", async () => {
    expect(await run(ours("maildirwatch"), [], { env: {} })).toMatchObject({
      code: 111,
      stderr: "maildirwatch: fatal: MAILDIR not set\n",
    });
    expect(await run(ours("maildirwatch"), [], { env: { MAILDIR: "/nonexistent/md" } })).toMatchObject({
      code: 111,
      stderr: "maildirwatch: fatal: unable to chdir to /nonexistent/md: file does not exist\n",
    });
  });
});

describe.each([
  ["qail", "Mail"],
  ["elq", "elm"],
  ["pinq", "pine"],
])("%s", (name, reader) => {
  test(`maildir2mbox, then ${reader} with the arguments; a failing maildir2mbox stops it`, async () => {
    const d = tmp("qts-qail-");
    const md = join(d, "Maildir");
    for (const s of ["new", "cur", "tmp"]) mkdirSync(join(md, s), { recursive: true });
    writeFileSync(join(md, "new/1.1.host"), "Return-Path: <a@b>\nSubject: x\n\nhi\n");
    // maildir2mbox takes only messages from before the current second.
    utimesSync(join(md, "new/1.1.host"), Date.now() / 1000 - 10, Date.now() / 1000 - 10);
    mkdirSync(join(d, "bin"));
    writeFileSync(join(d, "bin", reader), '#!/bin/sh\necho "reader: $0 $*"; grep -c "^Subject: x" "$MAIL"\n', {
      mode: 0o755,
    });
    const env = {
      PATH: `${join(d, "bin")}:/usr/bin:/bin`,
      MAILDIR: md,
      MAIL: join(d, "mbox"),
      MAILTMP: join(d, "mbox.tmp"),
    };
    expect(await run(ours(name), ["-f", "x y"], { env })).toMatchObject({
      code: 0,
      stdout: `reader: ${join(d, "bin", reader)} -f x y\n1\n`,
      stderr: "",
    });
    expect(readFileSync(join(d, "mbox"), "latin1")).toContain("Subject: x\n");
    const { MAILDIR: _, ...noMaildir } = env;
    expect(await run(ours(name), [], { env: noMaildir })).toMatchObject({
      code: 111,
      stdout: "",
      stderr: "maildir2mbox: fatal: MAILDIR not set\n",
    });
    expect(await run(ours(name), [], { env: { ...env, PATH: "/usr/bin:/bin" } })).toMatchObject({ code: 127 });
  });
});
