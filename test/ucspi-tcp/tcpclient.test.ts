// SPDX-License-Identifier: MIT
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { freePort, original, ours, run } from "../lib/harness.ts";

const impls: [string, string][] = [["ours", ours("tcpclient")]];
const orig = original("tcpclient");
if (orig) impls.push(["original", orig]);

// 0.88's usage; ours is ucspi-tcp-ipv6's, with its options -4, -6 and -I.
const USAGE88 =
  "tcpclient: usage: tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program\n";
const USAGE6 =
  "tcpclient: usage: tcpclient [ -46hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] host port program\n";

// A server that greets, then echoes one line back upper-cased and closes.
let srv: Server;
let port = 0;
beforeAll(async () => {
  srv = createServer((c) => {
    c.write("hello\n");
    c.on("data", (d) => c.end(d.toString().toUpperCase()));
  });
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", () => ok()));
  port = (srv.address() as { port: number }).port;
});
afterAll(() => srv.close());

const mask = (s: string) =>
  s.replace(/TCPLOCALPORT=\d+/, "TCPLOCALPORT=P").replace(/TCPREMOTEPORT=\d+/, "TCPREMOTEPORT=P");

describe.each(impls)("tcpclient (%s)", (w, bin) => {
  const USAGE = w === "ours" ? USAGE6 : USAGE88;
  test("usage: 100", async () => {
    expect(await run(bin, [])).toMatchObject({ code: 100, stderr: USAGE });
    expect(await run(bin, ["127.0.0.1", "25"])).toMatchObject({ code: 100, stderr: USAGE });
    expect(await run(bin, ["-i", "x", "127.0.0.1", "25", "true"])).toMatchObject({ code: 100, stderr: USAGE });
  });

  test("usage after -q: host or port missing exits 100 silently; a bad option still prints it", async () => {
    expect(await run(bin, ["-q"])).toMatchObject({ code: 100, stdout: "", stderr: "" });
    expect(await run(bin, ["-Q", "-q", "127.0.0.1"])).toMatchObject({ code: 100, stderr: "" });
    expect(await run(bin, ["-q", "-Q", "127.0.0.1"])).toMatchObject({ code: 100, stderr: USAGE });
    expect(await run(bin, ["-q", "-Z", "127.0.0.1"])).toMatchObject({
      code: 100,
      stderr: `tcpclient: illegal option -- Z\n${USAGE}`,
    });
  });

  test("unknown service: 111", async () => {
    expect(await run(bin, ["127.0.0.1", "nosuchservice", "true"])).toMatchObject({
      code: 111,
      stderr: "tcpclient: fatal: unable to figure out port number for nosuchservice\n",
    });
  });

  test("connection refused: warning, 111", async () => {
    const p = await freePort();
    expect(await run(bin, ["-RHl0", "127.0.0.1", String(p), "true"])).toMatchObject({
      code: 111,
      stdout: "",
      stderr: `tcpclient: unable to connect to 127.0.0.1 port ${p}: connection refused\n`,
    });
  });

  test("-i with an address not on this host: unable to bind socket, 111", async () => {
    expect(await run(bin, ["-RHl0", "-i", "10.255.254.253", "127.0.0.1", String(port), "true"])).toMatchObject({
      code: 111,
      stderr: "tcpclient: fatal: unable to bind socket: address not available\n",
    });
  });

  test("the socket is fd 6 (read) and fd 7 (write), blocking; -v says where it connected", async () => {
    const r = await run(bin, [
      "-v",
      "-RHl0",
      "127.0.0.1",
      String(port),
      "sh",
      "-c",
      "head -n 1 <&6; echo abc >&7; cat <&6; echo; grep flags /proc/self/fdinfo/6",
    ]);
    expect(r).toMatchObject({
      code: 0,
      stdout: "hello\nABC\n\nflags:\t02\n",
      stderr: `tcpclient: connected to 127.0.0.1 port ${port}\n`,
    });
  });

  test("the program's exit code is tcpclient's; an unrunnable program is 111", async () => {
    expect((await run(bin, ["-RHl0", "127.0.0.1", String(port), "sh", "-c", "exit 7"])).code).toBe(7);
    expect(await run(bin, ["-RHl0", "127.0.0.1", String(port), "/nonexistent/x"])).toMatchObject({
      code: 111,
      stderr: "tcpclient: fatal: unable to run /nonexistent/x: file does not exist\n",
    });
  });
});

describe.skipIf(!orig)("tcpclient: ours and Debian's give the program the same environment", () => {
  test("-RH -l name: same variables in the same order; stale ones removed", async () => {
    const out: string[] = [];
    for (const [, bin] of impls) {
      const r = await run(bin, ["-RH", "-l", "me", "127.0.0.1", String(port), "env"], {
        env: { PATH: "/usr/bin:/bin", A: "1", TCPREMOTEINFO: "stale", TCPREMOTEHOST: "stale", Z: "2" },
        extendEnv: false,
      });
      expect(r.code).toBe(0);
      out.push(mask(r.stdout));
    }
    expect(out[0]).toBe(out[1] as string);
    expect(out[0]).not.toContain("stale");
    expect(out[0]).toContain("TCPLOCALHOST=me\n");
  });
});
