// SPDX-License-Identifier: MIT
// qmail-remote: the r/h/s + K/Z/D report byte for byte (qmail-remote(8),
// the DNS and accept-5xx patches), the bytes on the wire, MX/A lookups against a local DNS server
// (UDP + TCP for big answers), smtproutes, tcpto, and end to end into our
// qmail-smtpd under Debian's tcpserver.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { DataEncoder } from "@qts/qmail/lib/remote/smtpremote";
import fc from "fast-check";
import { freePort, ours, runBytes, start, tmp, waitFor } from "../lib/harness.ts";
import { startDns, type Zone } from "./fixtures/dnsserver.ts";

// real processes on a shared 2-core machine: generous per-test bounds
setDefaultTimeout(30_000);

const REMOTE = ours("qmail-remote");

function makeHome(controls: Record<string, string> = { me: "me.test" }): string {
  const dir = tmp("qts-remote-");
  mkdirSync(join(dir, "control"));
  for (const [k, v] of Object.entries(controls)) writeFileSync(join(dir, "control", k), v);
  return dir;
}

async function remote(home: string, args: string[], message: string | Buffer, env: Record<string, string> = {}) {
  const r = await runBytes(REMOTE, args, {
    input: typeof message === "string" ? Buffer.from(message, "latin1") : message,
    env: { PATH: process.env.PATH ?? "", QMAILHOME: home, ...env },
    extendEnv: false,
    timeout: 20000,
  });
  return { out: r.stdout.toString("latin1"), err: r.stderr.toString(), code: r.code };
}

type Replies = {
  greeting?: string;
  helo?: string;
  mail?: string;
  rcpt?: (addr: string) => string;
  data?: string;
  end?: string;
  /** Close the connection instead of answering this stage. */
  drop?: "greeting" | "end";
  /** Never answer this stage. */
  silent?: "helo";
};

interface Sink {
  port: number;
  host: string;
  /** Raw bytes received, one string per connection. */
  sessions: string[];
  /** Connections closed so far. */
  closed(): number;
  close(): Promise<void>;
}

/** One line of the dialogue outside DATA's body: says r's reply; true when the body follows. */
function reply(r: Replies, line: string, say: (x: string) => void, end: () => void): boolean {
  const v = line.slice(0, 4).toUpperCase();
  if (v === "HELO") {
    if (r.silent !== "helo") say(r.helo ?? "250 sink.example\r\n");
  } else if (v === "MAIL") say(r.mail ?? "250 ok\r\n");
  else if (v === "RCPT") say(r.rcpt ? r.rcpt(line.slice(9, -1)) : "250 ok\r\n");
  else if (v === "DATA") {
    const rep = r.data ?? "354 go ahead\r\n";
    say(rep);
    return rep.startsWith("354");
  } else if (v === "QUIT") {
    say("221 bye\r\n");
    end();
  } else say("502 no\r\n");
  return false;
}

/** What follows the body's end ("\r\n.\r\n") in buf, or undefined while the end has not come. */
function afterBody(buf: string): string | undefined {
  const e = buf.indexOf("\r\n.\r\n");
  if (e < 0 && !buf.startsWith(".\r\n")) return undefined;
  return buf.startsWith(".\r\n") ? buf.slice(3) : buf.slice(e + 5);
}

/** One connection of the sink: r's replies, every byte received passed to record. */
function session(s: Socket, r: Replies, record: (t: string) => void): void {
  let buf = "";
  let inData = false;
  const say = (x: string) => s.write(x);
  if (r.drop === "greeting") {
    s.destroy();
    return;
  }
  say(r.greeting ?? "220 sink.example ESMTP\r\n");
  s.on("data", (d: Buffer) => {
    const t = d.toString("latin1");
    record(t);
    buf += t;
    for (;;) {
      if (inData) {
        const rest = afterBody(buf);
        if (rest === undefined) return;
        buf = rest;
        inData = false;
        if (r.drop === "end") {
          s.destroy();
          return;
        }
        say(r.end ?? "250 ok 12345 qp 678\r\n");
        continue;
      }
      const nl = buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (reply(r, line, say, () => s.end())) {
        inData = true;
        buf = `\r\n${buf}`;
      }
    }
  });
}

/** A scriptable SMTP server recording every byte it gets. */
async function sink(r: Replies = {}, host = "127.0.0.1", port = 0): Promise<Sink> {
  const sessions: string[] = [];
  const conns = new Set<Socket>();
  let closed = 0;
  const srv: Server = createServer((s) => {
    conns.add(s);
    const idx = sessions.push("") - 1;
    s.on("error", () => {});
    s.on("close", () => {
      conns.delete(s);
      closed++;
    });
    session(s, r, (t) => {
      sessions[idx] += t;
    });
  });
  const p = await new Promise<number>((ok, fail) => {
    srv.once("error", fail);
    srv.listen(port, host, () => ok((srv.address() as { port: number }).port));
  });
  sinks.push(srv);
  return {
    port: p,
    host,
    sessions,
    closed: () => closed,
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise<void>((ok) => srv.close(() => ok()));
    },
  };
}
const sinks: Server[] = [];
afterAll(() => {
  for (const s of sinks) s.close();
});

async function routed(r: Replies, args: string[], message: string | Buffer, controls: Record<string, string> = {}) {
  const s = await sink(r);
  const home = makeHome({ me: "me.test", smtproutes: `remote.example:127.0.0.1:${s.port}\n`, ...controls });
  const res = await remote(home, args, message);
  // qmail-remote has exited: wait until the sink has seen every connection close
  await waitFor(() => s.closed() === s.sessions.length, 5000);
  await s.close();
  return { ...res, wire: s.sessions };
}

const A = ["remote.example", "a@x.example", "u@remote.example"];

describe("qmail-remote reports", () => {
  test("usage: D, exit 0", async () => {
    const r = await remote(makeHome(), ["host", "sender"], "");
    expect(r).toEqual({ out: "DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0", err: "", code: 0 });
  });

  test("no helohost and no me: Z control files", async () => {
    const r = await remote(makeHome({}), A, "x\n");
    expect(r.out).toBe("ZUnable to read control files. (#4.3.0)\n\0");
  });

  test("home missing: Z home directory", async () => {
    const r = await remote("/nonexistent/qmail", A, "x\n");
    expect(r.out).toBe("ZUnable to switch to home directory. (#4.3.0)\n\0");
  });

  test("accepted: r per recipient, K with the remote text; the bytes on the wire", async () => {
    const r = await routed(
      {},
      ["remote.example", "a@x.example", "u@remote.example", "v@remote.example"],
      "Subject: t\n\nhi\n",
    );
    expect(r.out).toBe("r\0r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 qp 678\n\0");
    expect(r.code).toBe(0);
    // EHLO first for STARTTLS (qmail-remote(8)); this server refuses it, so HELO as in netqmail
    expect(r.wire).toEqual([
      "EHLO me.test\r\nHELO me.test\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<u@remote.example>\r\nRCPT TO:<v@remote.example>\r\nDATA\r\n" +
        "Subject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    ]);
  });

  test("helohost, quoted local parts, null sender", async () => {
    const r = await routed({}, ["remote.example", "", 'a b"c@remote.example', "..x@remote.example", "plain"], "x\n", {
      helohost: "helo.test",
    });
    expect(r.out).toStartWith("r\0r\0r\0K");
    expect(r.wire[0]).toStartWith(
      'EHLO helo.test\r\nHELO helo.test\r\nMAIL FROM:<>\r\nRCPT TO:<"a b\\"c"@remote.example>\r\nRCPT TO:<"..x"@remote.example>\r\nRCPT TO:<plain>\r\n',
    );
  });

  test("greeting 554 is permanent (accept-5xx), 421 temporary", async () => {
    let r = await routed({ greeting: "554 no SMTP service here\r\n" }, A, "x\n");
    expect(r.out).toBe("DConnected to 127.0.0.1 but greeting failed.\nRemote host said: 554 no SMTP service here\n\0");
    expect(r.wire).toEqual(["QUIT\r\n"]);
    r = await routed({ greeting: "421 busy\r\n" }, A, "x\n");
    expect(r.out).toBe("ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 421 busy\n\0");
  });

  test("a 554 greeting followed by an immediate close is still a permanent greeting failure", async () => {
    const srv = createServer((c) => {
      c.on("error", () => {});
      c.end("554 no SMTP service here\r\n");
    });
    const port = await new Promise<number>((ok) =>
      srv.listen(0, "127.0.0.1", () => ok((srv.address() as { port: number }).port)),
    );
    const home = makeHome({ me: "me.test", smtproutes: `:127.0.0.1:${port}\n` });
    const r = await remote(home, A, "x\n");
    srv.close();
    expect(r.out).toBe("DConnected to 127.0.0.1 but greeting failed.\nRemote host said: 554 no SMTP service here\n\0");
  });

  test("HELO 5xx permanent, other non-250 temporary", async () => {
    let r = await routed({ helo: "550 go away\r\n" }, A, "x\n");
    expect(r.out).toBe("DConnected to 127.0.0.1 but my name was rejected.\nRemote host said: 550 go away\n\0");
    r = await routed({ helo: "220 odd\r\n" }, A, "x\n");
    expect(r.out).toBe("ZConnected to 127.0.0.1 but my name was rejected.\nRemote host said: 220 odd\n\0");
  });

  test("sender rejected: 5xx D, 4xx Z", async () => {
    let r = await routed({ mail: "553 bad sender\r\n" }, A, "x\n");
    expect(r.out).toBe("DConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 553 bad sender\n\0");
    r = await routed({ mail: "451 later\r\n" }, A, "x\n");
    expect(r.out).toBe("ZConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 451 later\n\0");
  });

  test("recipients: r, h, s in argv order; multi-line text kept", async () => {
    const r = await routed(
      {
        rcpt: (a) =>
          a.startsWith("bad")
            ? "550-no such\r\n550 user here\r\n"
            : a.startsWith("later")
              ? "451 try later\r\n"
              : "250 ok\r\n",
      },
      ["remote.example", "a@x", "bad@remote.example", "good@remote.example", "later@remote.example"],
      "x\n",
    );
    expect(r.out).toBe(
      "h127.0.0.1 does not like recipient.\nRemote host said: 550-no such\n550 user here\n\0" +
        "r\0" +
        "s127.0.0.1 does not like recipient.\nRemote host said: 451 try later\n\0" +
        "K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 qp 678\n\0",
    );
  });

  test("no recipient accepted: D Giving up", async () => {
    const r = await routed({ rcpt: () => "550 no\r\n" }, A, "x\n");
    expect(r.out).toBe("h127.0.0.1 does not like recipient.\nRemote host said: 550 no\n\0DGiving up on 127.0.0.1.\n\0");
    expect(r.wire[0]).toEndWith("RCPT TO:<u@remote.example>\r\nQUIT\r\n");
  });

  test("DATA refused, and refusal after the message", async () => {
    let r = await routed({ data: "554 no data\r\n" }, A, "x\n");
    expect(r.out).toBe("r\0D127.0.0.1 failed on DATA command.\nRemote host said: 554 no data\n\0");
    r = await routed({ data: "451 later\r\n" }, A, "x\n");
    expect(r.out).toBe("r\0Z127.0.0.1 failed on DATA command.\nRemote host said: 451 later\n\0");
    r = await routed({ end: "552 too big\r\n" }, A, "x\n");
    expect(r.out).toBe("r\0D127.0.0.1 failed after I sent the message.\nRemote host said: 552 too big\n\0");
    r = await routed({ end: "451 disk full\r\n" }, A, "x\n");
    expect(r.out).toBe("r\0Z127.0.0.1 failed after I sent the message.\nRemote host said: 451 disk full\n\0");
  });

  test("partial final line: D after the recipients, no end of data sent", async () => {
    const r = await routed({}, A, "line\nno newline");
    expect(r.out).toBe("r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0");
  });

  test("connection lost: before and after the dot (possible duplicate)", async () => {
    const r = await routed({ drop: "end" }, A, "x\n");
    expect(r.out).toBe("r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0");
    const s = await sink({ drop: "greeting" });
    const home = makeHome({ me: "me.test", smtproutes: `remote.example:127.0.0.1:${s.port}\n` });
    const r2 = await remote(home, A, "x\n");
    expect(r2.out).toBe("ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0");
  });

  test("an endless greeting: memory stays bounded, then the read times out", async () => {
    const block = Buffer.alloc(1 << 20, "x");
    const srv = createServer((c) => {
      c.on("error", () => {});
      c.write("220-");
      let n = 0;
      const more = () => {
        while (n < 200) {
          n++;
          if (!c.write(block)) return void c.once("drain", more);
        }
      };
      more();
    });
    const port = await new Promise<number>((ok) =>
      srv.listen(0, "127.0.0.1", () => ok((srv.address() as { port: number }).port)),
    );
    const home = makeHome({ me: "me.test", smtproutes: `:127.0.0.1:${port}\n`, timeoutremote: "1\n" });
    const p = start(REMOTE, A, {
      input: Buffer.from("x\n"),
      stdout: "pipe",
      env: { PATH: process.env.PATH ?? "", QMAILHOME: home },
      extendEnv: false,
    });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "latin1"));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {}
    }, 50);
    await p.wait(60_000);
    const out = p.stdout("latin1");
    clearInterval(poll);
    srv.close();
    expect(out).toBe("ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0");
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(150 * 1024);
  }, 60000);

  test("timeoutremote: a silent server gives connection died after the timeout", async () => {
    const t0 = Date.now();
    const r = await routed({ silent: "helo" }, A, "x\n", { timeoutremote: "1\n" });
    expect(r.out).toBe("ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0");
    expect(Date.now() - t0).toBeLessThan(10000);
  });

  test("timeoutconnect: a connect that hangs is abandoned and recorded in tcpto", async () => {
    // a listener whose backlog is full drops SYNs: connect() hangs, on 127.0.0.1 only
    const py = start(
      "python3",
      [
        "-c",
        `import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
cs = []
for i in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    cs.append(c)
time.sleep(0.3)
print(s.getsockname()[1], flush=True)
time.sleep(30)`,
      ],
      { stdout: "pipe" },
    );
    try {
      const port = Number((await py.until("\n", 20_000)).trim());
      const home = makeHome({ me: "me.test", smtproutes: `:127.0.0.1:${port}\n`, timeoutconnect: "1\n" });
      mkdirSync(join(home, "queue/lock"), { recursive: true });
      writeFileSync(join(home, "queue/lock/tcpto"), Buffer.alloc(1024));
      const t0 = Date.now();
      const r = await remote(home, A, "x\n");
      expect(r.out).toBe("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      const t = readFileSync(join(home, "queue/lock/tcpto"));
      expect([...t.subarray(0, 5)]).toEqual([127, 0, 0, 1, 1]);
      expect(Math.abs(t.readUInt32LE(8) - Date.now() / 1000)).toBeLessThan(10);
    } finally {
      py.kill("SIGTERM");
    }
  });

  test("a relay given by name is looked up (A), its port used", async () => {
    const s = await sink({ end: "250 relayed\r\n" });
    const dns = await startDns({ "relay.example": { A: ["127.0.0.1"] } });
    const home = makeHome({ me: "me.test", smtproutes: `remote.example:relay.example:${s.port}\n` });
    const r = await remote(home, A, "x\n", { QMAILREMOTE_DNS: `127.0.0.1:${dns.port}` });
    expect(r.out).toBe("r\0K127.0.0.1 accepted message.\nRemote host said: 250 relayed\n\0");
    await dns.close();
    await s.close();
  });

  test("nobody listening: Z no SMTP connection", async () => {
    const port = await freePort();
    const home = makeHome({ me: "me.test", smtproutes: `:127.0.0.1:${port}\n` });
    const r = await remote(home, A, "x\n");
    expect(r.out).toBe("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0");
  });
});

describe("the DATA encoder never ends the data early", () => {
  const enc = (s: string) => {
    const e = new DataEncoder();
    const out = e.encode(Buffer.from(s, "latin1")).toString("latin1");
    return { out, partial: e.partial };
  };

  test("dot-stuffing, CRLF, lone CR (netqmail sends it bare; we send CRLF and stuff the dot after it)", () => {
    expect(enc(".a\n..b\nc.\n.\n")).toEqual({ out: "..a\r\n...b\r\nc.\r\n..\r\n", partial: false });
    expect(enc("a\r\nb\n")).toEqual({ out: "a\r\nb\r\n", partial: false });
    expect(enc("a\r.\nMAIL\n")).toEqual({ out: "a\r\n..\r\nMAIL\r\n", partial: false });
    expect(enc("x\r.\r\n")).toEqual({ out: "x\r\n..\r\n", partial: false });
    expect(enc("x\n\r")).toEqual({ out: "x\r\n", partial: true });
    expect(enc("x\ny")).toEqual({ out: "x\r\ny", partial: true });
    expect(enc("")).toEqual({ out: "", partial: false });
  });

  test("property: for any stored bytes, no CRLF.CRLF inside, no lone CR or LF, across any chunking", () => {
    const byte = fc.constantFrom(13, 10, 46, 65, 0, 32);
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 60 }), fc.nat(60), (bytes, cut) => {
        const e = new DataEncoder();
        const b = Buffer.from(bytes);
        const c = Math.min(cut, b.length);
        const wire = Buffer.concat([e.encode(b.subarray(0, c)), e.encode(b.subarray(c))]).toString("latin1");
        if (e.partial) return true;
        const full = `\r\n${wire}.\r\n`;
        expect(full.indexOf("\r\n.\r\n")).toBe(full.length - 5);
        expect(/\r(?!\n)|(?<!\r)\n/.test(wire)).toBe(false);
        return true;
      }),
      { numRuns: 3000 },
    );
  });
});

describe("smtproutes", () => {
  test("exact, .suffix, then the empty domain; first match wins; an empty relay means MX", async () => {
    const s1 = await sink({ end: "250 one\r\n" });
    const s2 = await sink({ end: "250 two\r\n" });
    const s3 = await sink({ end: "250 three\r\n" });
    const home = makeHome({
      me: "me.test",
      smtproutes: `.example:127.0.0.1:${s2.port}\nremote.example:127.0.0.1:${s1.port}\n:[127.0.0.1]:${s3.port}\nlocal.example:\n`,
    });
    expect((await remote(home, ["remote.example", "a@x", "u@remote.example"], "x\n")).out).toContain("250 one");
    expect((await remote(home, ["Sub.Other.EXAMPLE", "a@x", "u@sub.other.example"], "x\n")).out).toContain("250 two");
    expect((await remote(home, ["else.test", "a@x", "u@else.test"], "x\n")).out).toContain("250 three");
    // routed: recipients are not canonicalised, the relay's A record is not needed
    const dns = await startDns({});
    const r = await remote(home, ["local.example", "a@x", "u@local.example"], "x\n", {
      QMAILREMOTE_DNS: `127.0.0.1:${dns.port}`,
    });
    expect(r.out).toBe("DSorry, I couldn't find any host named local.example. (#5.1.2)\n\0");
    await dns.close();
    for (const s of [s1, s2, s3]) await s.close();
  });
});

// ---------------------------------------------------------------- DNS

/** A random loopback address other than 127.0.0.1 (not ipme), for sinks on port 25. */
function loop(): string {
  return `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
}

describe("MX and A lookups", () => {
  async function withDns(
    zone: Zone,
    args: string[],
    msg = "x\n",
    controls: Record<string, string> = { me: "me.test" },
  ) {
    const dns = await startDns(zone);
    const home = makeHome(controls);
    const r = await remote(home, args, msg, { QMAILREMOTE_DNS: `127.0.0.1:${dns.port}` });
    await dns.close();
    return { ...r, log: dns.log };
  }

  test("MX in preference order: the lower preference refuses, the next one takes it", async () => {
    const [ip1, ip2] = [loop(), loop()];
    const s2 = await sink({ end: "250 from mx2\r\n" }, ip2, 25);
    const r = await withDns(
      {
        "dest.example": {
          MX: [
            [20, "mx2.dest.example"],
            [10, "mx1.dest.example"],
          ],
        },
        "mx1.dest.example": { A: [ip1] },
        "mx2.dest.example": { A: [ip2] },
      },
      ["dest.example", "a@x", "u@dest.example"],
    );
    expect(r.out).toBe(`r\0K${ip2} accepted message.\nRemote host said: 250 from mx2\n\0`);
    await s2.close();
  });

  test("no MX: the A record; NXDOMAIN: D; SERVFAIL: Z; null MX: D no mail exchanger", async () => {
    const ip = loop();
    const s = await sink({}, ip, 25);
    let r = await withDns({ "a.example": { A: [ip] } }, ["a.example", "a@x", "u@a.example"]);
    expect(r.out).toStartWith(`r\0K${ip} accepted message.`);
    await s.close();
    r = await withDns({}, ["nx.example", "a@x", "u@nx.example"]);
    expect(r.out).toBe("DSorry, I couldn't find any host named nx.example. (#5.1.2)\n\0");
    r = await withDns({ "sf.example": { rcode: 2 } }, ["sf.example", "a@x", "u@other.test"]);
    expect(r.out).toBe("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0");
    r = await withDns({ "null.example": { MX: [[0, ""]] } }, ["null.example", "a@x", "u@null.example"]);
    expect(r.out).toBe("DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\0");
  });

  test("hostile answers (compression loop, rdlength past the end) are soft failures, never a bounce", async () => {
    // answer section starts at 12 + len(question); "loop.example" + type/class = 18 bytes
    const at = 12 + 18;
    const loopRr = Buffer.from([0xc0 | (at >> 8), at & 0xff, 0, 15, 0, 1, 0, 0, 0, 60, 0, 0]);
    const longRr = Buffer.from([0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0x7f, 0xff, 0, 10]);
    for (const bytes of [loopRr, longRr]) {
      const r = await withDns({ "loop.example": { raw: { ancount: 1, bytes } } }, [
        "loop.example",
        "a@x",
        "u@other.test",
      ]);
      expect(r.out).toBe("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0");
    }
  });

  test("into python's sink (shared/bench/qmail/sink.py)", async () => {
    const sinkPy = "/work/shared/bench/qmail/sink.py";
    if (!existsSync(sinkPy)) return;
    const port = await freePort();
    const p = start("python3", [sinkPy, "--port", String(port)], { stdout: "ignore", stderr: "ignore" });
    try {
      const home = makeHome({ me: "me.test", smtproutes: `:127.0.0.1:${port}\n` });
      let r = { out: "" };
      for (let i = 0; i < 50 && !r.out.startsWith("r\0K"); i++) {
        await Bun.sleep(100);
        r = await remote(home, A, "Subject: py\n\n.x\n");
      }
      expect(r.out).toBe("r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n\0");
    } finally {
      p.kill("SIGTERM");
    }
  });

  test("an answer over 512 bytes (40 MX records) is fetched over TCP", async () => {
    const ip = loop();
    const s = await sink({}, ip, 25);
    const mx: [number, string][] = [];
    for (let i = 0; i < 40; i++) mx.push([10 + i, `mx${i}.a-long-label-to-make-the-answer-big.big.example`]);
    const zone: Zone = { "big.example": { MX: mx } };
    zone["mx0.a-long-label-to-make-the-answer-big.big.example"] = { A: [ip] };
    const r = await withDns(zone, ["big.example", "a@x", "u@big.example"]);
    expect(r.out).toStartWith(`r\0K${ip} accepted message.`);
    expect(r.log).toContain("tcp 15 big.example");
    await s.close();
  });

  test("best-preference MX is one of our addresses: D, not local", async () => {
    const r = await withDns(
      { "self.example": { MX: [[10, "mx.self.example"]] }, "mx.self.example": { A: ["127.0.0.1"] } },
      ["self.example", "a@x", "u@self.example"],
    );
    expect(r.out).toBe(
      "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\0",
    );
  });

  test("a recipient domain that is a CNAME is canonicalised", async () => {
    const ip = loop();
    const s = await sink({}, ip, 25);
    const r = await withDns(
      {
        "alias.example": { CNAME: "real.example" },
        "real.example": { A: [ip] },
        "dest.example": { MX: [[5, "mx.dest.example"]] },
        "mx.dest.example": { A: [ip] },
      },
      ["dest.example", "a@alias.example", "u@alias.example", "v@dest.example"],
    );
    expect(r.out).toStartWith(`r\0r\0K${ip}`);
    expect(s.sessions[0]).toContain(
      "MAIL FROM:<a@alias.example>\r\nRCPT TO:<u@real.example>\r\nRCPT TO:<v@dest.example>\r\n",
    );
    await s.close();
  });

  test("tcpto: an address with recent timeouts is skipped, the next MX is used", async () => {
    const [ip1, ip2] = [loop(), loop()];
    const s1 = await sink({ end: "250 mx1\r\n" }, ip1, 25);
    const s2 = await sink({ end: "250 mx2\r\n" }, ip2, 25);
    const dns = await startDns({
      "t.example": {
        MX: [
          [10, "mx1.t.example"],
          [20, "mx2.t.example"],
        ],
      },
      "mx1.t.example": { A: [ip1] },
      "mx2.t.example": { A: [ip2] },
    });
    const home = makeHome();
    mkdirSync(join(home, "queue/lock"), { recursive: true });
    const table = Buffer.alloc(1024);
    table.set(ip1.split(".").map(Number), 0);
    table[4] = 2;
    table.writeUInt32LE(Math.floor(Date.now() / 1000) - 10, 8);
    writeFileSync(join(home, "queue/lock/tcpto"), table);
    const env = { QMAILREMOTE_DNS: `127.0.0.1:${dns.port}` };
    expect((await remote(home, ["t.example", "a@x", "u@t.example"], "x\n", env)).out).toContain("250 mx2");
    // a success clears the count of an address that was there
    table[4] = 1;
    writeFileSync(join(home, "queue/lock/tcpto"), table);
    expect((await remote(home, ["t.example", "a@x", "u@t.example"], "x\n", env)).out).toContain("250 mx1");
    expect(readFileSync(join(home, "queue/lock/tcpto"))[4]).toBe(0);
    await dns.close();
    await s1.close();
    await s2.close();
  });
});

// ---------------------------------------------------------------- end to end

describe("qmail-remote into our qmail-smtpd under tcpserver", () => {
  test("envelope and message survive the trip, lone CR and dots included", async () => {
    const dir = tmp("qts-r2s-");
    mkdirSync(join(dir, "control"));
    writeFileSync(join(dir, "control/me"), "me.test\n");
    writeFileSync(join(dir, "control/rcpthosts"), "remote.example\n");
    mkdirSync(join(dir, "out"));
    const qq = join(dir, "fakeqq");
    writeFileSync(qq, `#!/bin/sh\ncat > "${dir}/out/msg.$$"\ncat <&1 > "${dir}/out/env.$$"\nexit 0\n`, { mode: 0o755 });
    const port = await freePort();
    const logf = join(dir, "ts.log");
    const ts = start(
      "/usr/bin/tcpserver",
      ["-v", "-R", "-H", "-l", "0", "127.0.0.1", String(port), ours("qmail-smtpd")],
      {
        stdin: "ignore",
        stdout: "ignore",
        stderr: { file: logf },
        env: { PATH: process.env.PATH ?? "", QMAILHOME: dir, QMAILQUEUE: qq },
        extendEnv: false,
      },
    );
    try {
      await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 5000);
      writeFileSync(join(dir, "control/smtproutes"), `remote.example:127.0.0.1:${port}\n`);
      const msg = "Subject: trip\n\n.dot\n..two\nbare\rcr\r.\nMAIL FROM:<evil@x>\n.\nend\n";
      const r = await remote(dir, ["remote.example", "s@me.test", "u@remote.example", "x@elsewhere.example"], msg);
      expect(r.out).toMatch(
        /^r\0h127\.0\.0\.1 does not like recipient\.\nRemote host said: 553 sorry, that domain isn't in my list of allowed rcpthosts \(#5\.7\.1\)\n\0K127\.0\.0\.1 accepted message\.\nRemote host said: 250 ok \d+ qp \d+\n\0$/,
      );
      const envs = readdirSync(join(dir, "out")).filter((f) => f.startsWith("env."));
      expect(envs.length).toBe(1);
      const id = (envs[0] as string).slice(4);
      expect(readFileSync(join(dir, "out", `env.${id}`), "latin1")).toBe("Fs@me.test\0Tu@remote.example\0\0");
      const got = readFileSync(join(dir, "out", `msg.${id}`), "latin1");
      // our encoder turns the lone CRs into line breaks; nothing is smuggled
      expect(got.slice(got.indexOf("Subject:"))).toBe(
        "Subject: trip\n\n.dot\n..two\nbare\ncr\n.\nMAIL FROM:<evil@x>\n.\nend\n",
      );
    } finally {
      ts.kill();
    }
  });
});
