// SPDX-License-Identifier: MIT
// ucspi-tcp's small tools against Debian's, byte for byte: addcr, delcr,
// fixcrio, argv0, recordio, mconnect-io (through mconnect), tcpcat, who@,
// date@, finger@ and http@, the last ones against servers on 127.0.0.1 (or
// on a 127.x.y.z address of their own for the fixed ports 11, 13 and 79).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { freePort, original, ours, runBytes, tmp } from "../lib/harness.ts";

interface Out {
  code: number | null;
  out: Buffer;
  err: Buffer;
}

/** Runs a program with input on fd 0 (bounded: killed after 20 s), all output as bytes. */
async function bytes(
  bin: string,
  args: string[],
  input: Uint8Array = new Uint8Array(0),
  env?: Record<string, string>,
): Promise<Out> {
  const r = await runBytes(bin, args, {
    input,
    env: env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    extendEnv: false,
    timeout: 20_000,
    killSignal: "SIGKILL",
  });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

const b = (s: string) => Buffer.from(s, "latin1");
const random = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919 + ((i * i) >> 3)) & 255));
const EDGES = ["", "a\nb", "a\r\nb\r\n", "\r", "x\r", "a\rb", "\r\r\n", "\r\n\r\n\n", "no final newline", "\n\n\r\r"];

function both(name: string): [string, string][] {
  const out: [string, string][] = [["ours", ours(name)]];
  const o = original(name);
  if (o) out.push(["original", o]);
  return out;
}

describe("addcr, delcr", () => {
  test("known answers", async () => {
    expect((await bytes(ours("addcr"), [], b("a\nb\r\nc"))).out).toEqual(b("a\r\nb\r\r\nc"));
    expect((await bytes(ours("delcr"), [], b("a\r\nb\rc\r\r\nd\r"))).out).toEqual(b("a\nb\rc\r\nd\r"));
  });

  for (const name of ["addcr", "delcr"]) {
    const orig = original(name);
    test.skipIf(!orig)(`${name}: the same bytes as Debian's on edge cases and binary data, exit 0`, async () => {
      for (const input of [...EDGES.map(b), random]) {
        const us = await bytes(ours(name), [], input);
        const them = await bytes(orig as string, [], input);
        expect(us).toEqual(them);
        expect(us.code).toBe(0);
      }
    });
  }
});

describe.each([...both("fixcrio")])("fixcrio (%s)", (_w, bin) => {
  test("a CR before each bare LF, both ways; the program's exit code; usage", async () => {
    const r = await bytes(bin, ["sh", "-c", 'od -c | head -2 >&2; printf "x\\ny\\r\\nz\\r"; exit 7'], b("a\nb\r\nc"));
    expect(r.out).toEqual(b("x\r\ny\r\nz\r"));
    expect(r.err.toString()).toBe("0000000   a  \\r  \\n   b  \\r  \\n   c\n0000007\n");
    expect(r.code).toBe(7);
    expect(await bytes(bin, [])).toEqual({
      code: 100,
      out: b(""),
      err: b("fixcrio: usage: fixcrio program [ arg ... ]\n"),
    });
    expect((await bytes(bin, ["/nonexistent/x"])).err.toString()).toBe(
      "fixcrio: fatal: unable to run /nonexistent/x: file does not exist\n",
    );
  });
  test("binary data through cat", async () => {
    const want = (await bytes(ours("addcr"), [], random)).out; // no CR before LF in the input ... mostly
    const r = await bytes(bin, ["cat"], random);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThanOrEqual(random.length);
    if (!random.includes(13)) expect(r.out).toEqual(want);
    const o = original("fixcrio");
    if (o) expect(r.out).toEqual((await bytes(o, ["cat"], random)).out);
  });
});

describe.each([...both("argv0")])("argv0 (%s)", (_w, bin) => {
  test("runs realname with argument 0 set; usage; unable to run", async () => {
    const r = await bytes(bin, ["cat", "mycat", "/proc/self/cmdline"]);
    expect(r).toEqual({ code: 0, out: b("mycat\0/proc/self/cmdline\0"), err: b("") });
    expect(await bytes(bin, ["sh"])).toEqual({
      code: 100,
      out: b(""),
      err: b("argv0: usage: argv0 realname program [ arg ... ]\n"),
    });
    expect(await bytes(bin, ["/nonexistent/x", "y"])).toEqual({
      code: 111,
      out: b(""),
      err: b("argv0: fatal: unable to run /nonexistent/x: file does not exist\n"),
    });
  });
});

/** recordio's transcript split by direction (the two directions interleave as data happens to arrive). */
function transcript(err: Buffer): { pid: string; left: string[]; right: string[] } {
  const lines = err.toString("latin1").split("\n").slice(0, -1);
  const pid = lines[0]?.split(" ")[0] ?? "";
  const strip = (l: string) => l.slice(pid.length);
  return {
    pid,
    left: lines.filter((l) => l.startsWith(`${pid} < `)).map(strip),
    right: lines.filter((l) => l.startsWith(`${pid} > `)).map(strip),
  };
}

describe.each([...both("recordio")])("recordio (%s)", (_w, bin) => {
  test("the transcript: pid of the program, < and >, ' ' after a whole line, '+' after a piece, [EOF]", async () => {
    const r = await bytes(bin, ["sh", "-c", 'cat; echo "pid $$" >&2'], b("hello\nworld"));
    expect(r.code).toBe(0);
    expect(r.out).toEqual(b("hello\nworld"));
    const t = transcript(r.err);
    expect(r.err.toString()).toContain(`pid ${t.pid}\n`);
    expect(t.left).toEqual([" < hello ", " < world+", " < [EOF]"]);
    expect(t.right).toEqual([" > hello ", " > world+", " > [EOF]"]);
    const r2 = await bytes(bin, ["printf", "reply line\\npartial"]);
    expect(r2.out).toEqual(b("reply line\npartial"));
    const t2 = transcript(r2.err);
    expect(t2.left).toEqual([" < [EOF]"]);
    expect(t2.right).toEqual([" > reply line ", " > partial+", " > [EOF]"]);
  });
  test("chunks of 256 bytes; bytes as they are; usage; unable to run", async () => {
    const input = Buffer.concat([b(`${"x".repeat(300)}\n\x01\xff\r\n`)]);
    const r = await bytes(bin, ["cat"], input);
    const t = transcript(r.err);
    expect(t.left).toEqual([` < ${"x".repeat(256)}+`, ` < ${"x".repeat(44)} `, " < \x01\xff\r ", " < [EOF]"]);
    expect(await bytes(bin, [])).toEqual({
      code: 100,
      out: b(""),
      err: b("recordio: usage: recordio program [ arg ... ]\n"),
    });
    // The copying half is already running: it records the end of both directions.
    const bad = await bytes(bin, ["/nonexistent/x"]);
    expect(bad.code).toBe(111);
    expect(bad.err.toString()).toContain("recordio: fatal: unable to run /nonexistent/x: file does not exist\n");
  });
});

// Servers for the client tools.
const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function serve(host: string, port: number, onConn: (c: Socket, got: Buffer[]) => void): Promise<Buffer[][]> {
  const seen: Buffer[][] = [];
  const s = createServer((c) => {
    const got: Buffer[] = [];
    seen.push(got);
    c.on("data", (d) => got.push(d as Buffer));
    c.on("error", () => {});
    onConn(c, got);
  });
  await new Promise<void>((ok, fail) => {
    s.once("error", fail);
    s.listen(port, host, () => ok());
  });
  servers.push(s);
  return seen;
}

// An address of this test's own on lo (all of 127/8 is local), for the tools with fixed ports.
const HOST = `127.${100 + (process.pid % 100)}.${(process.pid >> 7) % 250}.${1 + (Date.now() % 250)}`;
const SHOWN = b("line 1\r\ntab\there\r\nctl \x01\x7f\x80\x8a\xe9 end\r\nbare\rcr\r\nno newline\r");

describe("client tools against servers on 127.0.0.1", async () => {
  const smtpPort = await freePort();
  const smtpSeen = await serve("127.0.0.1", smtpPort, (c, got) => {
    c.write("220 hi\r\n");
    c.on("data", () => {
      if (Buffer.concat(got).includes("QUIT\r\n")) c.end("221 bye\r\n");
    });
  });
  const catPort = await freePort();
  await serve("127.0.0.1", catPort, (c) => c.end(Buffer.concat([SHOWN, random.subarray(0, 5000)])));
  const httpPort = await freePort();
  const httpSeen = await serve("127.0.0.1", httpPort, (c, got) => {
    c.on("data", () => {
      if (Buffer.concat(got).includes("\r\n\r\n"))
        c.end(b("HTTP/1.0 200 OK\r\nX: y\r\n\r\nfirst\r\n\r\nsecond \x01\r\nlast"));
    });
  });
  for (const [port, reply] of [
    [11, SHOWN],
    [13, b("Mon Dec  7 05:00:00 2026\r\n")],
  ] as [number, Buffer][])
    await serve(HOST, port, (c) => c.end(reply));
  const fingerSeen = await serve(HOST, 79, (c, got) => {
    c.on("data", () => {
      if (Buffer.concat(got).includes("\n")) c.end(Buffer.concat([b("Login: "), SHOWN]));
    });
  });

  // A tcpclient earlier in PATH that must not be used.
  const fake = tmp("qts-tools-");
  mkdirSync(join(fake, "bin"));
  writeFileSync(join(fake, "bin/tcpclient"), "#!/bin/sh\necho fake >&2\nexit 99\n");
  chmodSync(join(fake, "bin/tcpclient"), 0o755);
  const env = { PATH: `${join(fake, "bin")}:/usr/bin:/bin` };

  test("mconnect: stdin to the server with CR LF, the server to stdout; mconnect-io alone takes fds 6 and 7", async () => {
    for (const [, bin] of both("mconnect")) {
      const before = smtpSeen.length;
      const r = await bytes(bin, ["127.0.0.1", String(smtpPort)], b("HELO x\nQUIT\n"), env);
      expect(r).toEqual({ code: 0, out: b("220 hi\r\n221 bye\r\n"), err: b("") });
      expect(Buffer.concat(smtpSeen[before] ?? [])).toEqual(b("HELO x\r\nQUIT\r\n"));
    }
  });

  test("tcpcat: what the server sends, unchanged; tcpclient's message and 111 when refused", async () => {
    const dead = await freePort();
    for (const [, bin] of both("tcpcat")) {
      const r = await bytes(bin, ["127.0.0.1", String(catPort)], undefined, env);
      expect(r).toEqual({ code: 0, out: Buffer.concat([SHOWN, random.subarray(0, 5000)]), err: b("") });
      expect(await bytes(bin, ["127.0.0.1", String(dead)], undefined, env)).toEqual({
        code: 111,
        out: b(""),
        err: b(`tcpclient: unable to connect to 127.0.0.1 port ${dead}: connection refused\n`),
      });
    }
  });

  test("who@ and date@: the reply without CR before LF, through cat -v; same bytes as Debian's", async () => {
    const want11 = b("line 1\ntab\there\nctl ^A^?M-^@M-^JM-i end\nbare^Mcr\nno newline^M");
    for (const [name, want] of [
      ["who@", want11],
      ["date@", b("Mon Dec  7 05:00:00 2026\n")],
    ] as [string, Buffer][]) {
      const results = [];
      for (const [, bin] of both(name)) results.push(await bytes(bin, [HOST], undefined, env));
      expect(results[0]).toEqual({ code: 0, out: want, err: b("") });
      if (results[1]) expect(results[1]).toEqual(results[0] as Out);
    }
  });

  test("finger@: sends the user with CR LF, shows the reply through cat -v", async () => {
    const results = [];
    for (const [, bin] of both("finger@")) {
      const before = fingerSeen.length;
      results.push(await bytes(bin, [HOST, "alice"], undefined, env));
      expect(Buffer.concat(fingerSeen[before] ?? [])).toEqual(b("alice\r\n"));
    }
    expect(results[0]?.out.toString()).toStartWith("Login: line 1\ntab\there\nctl ^A^?");
    if (results[1]) expect(results[1]).toEqual(results[0] as Out);
  });

  test("http@: GET with Host, prints the body's non-empty lines", async () => {
    const results = [];
    for (const [, bin] of both("http@")) {
      const before = httpSeen.length;
      results.push(await bytes(bin, ["127.0.0.1", "some/page", String(httpPort)], undefined, env));
      expect(Buffer.concat(httpSeen[before] ?? [])).toEqual(
        b(`GET /some/page HTTP/1.0\r\nHost: 127.0.0.1:${httpPort}\r\n\r\n`),
      );
    }
    expect(results[0]).toEqual({ code: 0, out: b("first\nsecond \x01\nlast\n"), err: b("") });
    if (results[1]) expect(results[1]).toEqual(results[0] as Out);
  });
});
