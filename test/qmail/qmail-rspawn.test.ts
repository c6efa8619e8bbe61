// SPDX-License-Identifier: MIT
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { rspawnReport } from "../../packages/qmail/src/lib/spawn/spawn-report.ts";
import { kill, ours, waitFor } from "../lib/harness.ts";
import { deliveries, type Home, inject, makeHome, messid, SpawnerProc } from "./qmail-send.helpers.ts";

const ok = { crashed: false, code: 0 };
const rep = (s: string, o = ok) => rspawnReport(o, Buffer.from(s, "latin1")).toString("latin1");

describe("qmail-rspawn report conversion (qmail-rspawn.c's report())", () => {
  test.each([
    [
      "r\0K1.2.3.4 accepted message.\nRemote host said: 250 ok\n\0",
      "K1.2.3.4 accepted message.\nRemote host said: 250 ok\n",
    ],
    [
      "h1.2.3.4 does not like recipient.\nRemote host said: 550 no\n\0DGiving up on 1.2.3.4.\n\0",
      "D1.2.3.4 does not like recipient.\nRemote host said: 550 no\nGiving up on 1.2.3.4.\n",
    ],
    [
      "s1.2.3.4 does not like recipient.\nRemote host said: 450 later\n\0DGiving up on 1.2.3.4.\n\0",
      "Z1.2.3.4 does not like recipient.\nRemote host said: 450 later\nGiving up on 1.2.3.4.\n",
    ],
    [
      "r\0ZConnected to 1.2.3.4 but connection died. (#4.4.2)\n\0",
      "ZConnected to 1.2.3.4 but connection died. (#4.4.2)\n",
    ],
    [
      "r\0D1.2.3.4 failed after I sent the message.\nRemote host said: 554 no\n\0",
      "D1.2.3.4 failed after I sent the message.\nRemote host said: 554 no\n",
    ],
    [
      "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0",
      "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n",
    ],
    ["DSorry, I couldn't find any host named x. (#5.1.2)\n\0", "DSorry, I couldn't find any host named x. (#5.1.2)\n"],
    // a recipient accepted but the message deferred: the more optimistic r does not hide the Z
    ["r\0h2\0K3\0", "K"],
    ["Kno terminating nul", "D"],
    ["", "Zqmail-remote produced no output.\n"],
  ])("%j -> %j", (input, want) => {
    expect(rep(input)).toBe(want);
  });

  test("exit codes and crashes", () => {
    expect(rep("x", { crashed: false, code: 111 })).toBe("ZUnable to run qmail-remote.\n");
    expect(rep("x", { crashed: false, code: 100 })).toBe("DUnable to run qmail-remote.\n");
    expect(rep("x", { crashed: false, code: 1 })).toBe("DUnable to run qmail-remote.\n");
    expect(rep("x", { crashed: true, code: 0 })).toBe("Zqmail-remote crashed.\n");
  });
});

let h: Home;
let id: number;
let sp: SpawnerProc;

beforeAll(() => {
  h = makeHome();
  id = inject(h, "me@domain", ["x@remote.org"], "Subject: r\n\nremote body\n", { trigger: false });
  sp = new SpawnerProc(ours("qmail-rspawn"), [], h);
});
afterAll(() => kill(sp.child.pid));

async function one(slot: number, recip: string, sender = "me@domain"): Promise<string> {
  const before = sp.reports().length;
  sp.send(slot, messid(id), sender, recip);
  const r = await sp.waitReports(before + 1);
  expect(r[before]?.[0]).toBe(slot);
  return r[before]?.[1] ?? "";
}

describe("qmail-rspawn", () => {
  test("announces 120 and zeroes lock/tcpto at start", async () => {
    await waitFor(() => sp.first >= 0);
    expect(sp.first).toBe(120);
    await waitFor(() => readFileSync(join(h.dir, "queue/lock/tcpto")).equals(Buffer.alloc(1024)));
    expect(readFileSync(join(h.dir, "queue/lock/tcpto")).equals(Buffer.alloc(1024))).toBe(true);
  });

  test("runs qmail-remote host sender recip from $PATH, cwd queue/mess, message on fd 0", async () => {
    const n = deliveries(h).length;
    expect(await one(0, "u@remote.org", "joe@domain")).toBe(
      "K127.0.0.1 accepted message.\nRemote host said: 250 ok 1234 qp 99\n",
    );
    expect(deliveries(h)[n]).toBe(
      `remote.org\njoe@domain\nu@remote.org\n0\n${h.dir}/queue/mess\nReceived: (qmail 4242 invoked by uid 0); 1 Jan 2026 00:00:00 -0000\nSubject: r\n\nremote body\n`,
    );
  });

  test.each([
    [
      "hard@x.org",
      "D127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\nGiving up on 127.0.0.1.\n",
    ],
    ["soft@x.org", "Z127.0.0.1 does not like recipient.\nRemote host said: 450 try later\nGiving up on 127.0.0.1.\n"],
    ["conn@x.org", "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"],
    ["empty@x.org", "Zqmail-remote produced no output.\n"],
    ["exit@x.org", "ZUnable to run qmail-remote.\n"],
    ["nohost", "DSorry, address must include host name. (#5.1.3)\n"],
  ])("%s -> %j", async (recip, want) => {
    expect(await one(1, recip)).toBe(want);
  });

  test("$QMAILREMOTE replaces qmail-remote; an exec failure is D unless temporary", async () => {
    const alt = join(h.dir, "alt-remote");
    writeFileSync(alt, "#!/bin/sh\nprintf 'r\\0Kalt %s\\0' \"$1\"\n", { mode: 0o755 });
    const p = new SpawnerProc(ours("qmail-rspawn"), [], h, { QMAILREMOTE: alt });
    p.send(0, messid(id), "me@domain", "a@b.org");
    const q = new SpawnerProc(ours("qmail-rspawn"), [], h, { QMAILREMOTE: "/nonexistent/qr" });
    q.send(0, messid(id), "me@domain", "a@b.org");
    expect(await p.waitReports(1)).toEqual([[0, "Kalt b.org"]]);
    expect(await q.waitReports(1)).toEqual([[0, "DUnable to run qmail-remote.\n"]]);
    p.end();
    q.end();
    expect(await p.exit).toBe(0);
    expect(await q.exit).toBe(0);
  });
});

/** A line l (with its LF) to a server that offers SMTPUTF8: its reply; whether DATA's body is read next. */
function utf8SinkLine(s: Socket, l: string, inData: boolean): boolean {
  if (inData) {
    if (l !== ".\r\n") return true;
    s.write("250 ok\r\n");
    return false;
  }
  if (l.startsWith("DATA")) {
    s.write("354 go\r\n");
    return true;
  }
  if (l.startsWith("QUIT")) s.end("221 bye\r\n");
  else if (l.startsWith("EHLO")) s.write("250-sink\r\n250 SMTPUTF8\r\n");
  else s.write("250 ok\r\n");
  return false;
}

describe("qmail-rspawn -> qmail-remote: addresses byte for byte", () => {
  // SMTPUTF8 (RFC 6531, qmail-remote(8)): UTF-8 addresses go out as the same bytes to a server that
  // offers it; bytes past ASCII that are not UTF-8 cannot go out at all (5.6.7), where netqmail sent
  // them quoted.
  test("UTF-8 sender and recipient reach MAIL FROM and RCPT TO unchanged; other 8-bit bytes bounce", async () => {
    let wire = Buffer.alloc(0);
    const srv = createServer((s) => {
      s.on("error", () => {});
      s.write("220 sink\r\n");
      let line = Buffer.alloc(0);
      let inData = false;
      s.on("data", (d: Buffer) => {
        wire = Buffer.concat([wire, d]);
        line = Buffer.concat([line, d]);
        for (let i = line.indexOf(10); i >= 0; i = line.indexOf(10)) {
          inData = utf8SinkLine(s, line.subarray(0, i + 1).toString("latin1"), inData);
          line = line.subarray(i + 1);
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    writeFileSync(join(h.dir, "control/smtproutes"), `b\xc3\xa9.org:127.0.0.1:${port}\n`, "latin1");
    const p = new SpawnerProc(ours("qmail-rspawn"), [], h, { QMAILREMOTE: ours("qmail-remote") });
    try {
      p.send(0, messid(id), "s\xe9nder\xff@domain", "r\xe9cip\xff@b\xc3\xa9.org");
      const r = await p.waitReports(1);
      expect(r[0]?.[1]).toBe(
        "DSorry, an address is neither ASCII nor valid UTF-8, so SMTPUTF8 cannot carry it. (#5.6.7)\n",
      );
      expect(wire.length).toBe(0);
      // UTF-8 addresses go out as the same UTF-8 bytes, unquoted, with SMTPUTF8.
      p.send(0, messid(id), "s\xc3\xa9@domain", "r\xc3\xa9@b\xc3\xa9.org");
      const r2 = await p.waitReports(2);
      expect(r2[1]?.[1]).toBe("K127.0.0.1 accepted message.\nRemote host said: 250 ok\n");
      expect(wire.toString("latin1")).toContain(
        "MAIL FROM:<s\xc3\xa9@domain> SMTPUTF8\r\nRCPT TO:<r\xc3\xa9@b\xc3\xa9.org>\r\n",
      );
    } finally {
      p.end();
      await p.exit;
      srv.close();
    }
  });
});
