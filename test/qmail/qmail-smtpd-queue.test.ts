// SPDX-License-Identifier: MIT
// qmail-smtpd without QMAILQUEUE, into a real queue made by setup: as root
// (the queue written in-process) and as qmaild under Debian's tcpserver -u/-g
// (through qmail-queued), the way the article's smtpd/run starts it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { freePort, run, start, waitFor } from "../lib/harness.ts";
import { added, makeHome, startQueued, todo } from "./qmail-queue.helpers.ts";

setDefaultTimeout(60_000);

let home: string;
beforeAll(async () => {
  home = await makeHome();
  writeFileSync(join(home, "control/me"), "test.example\n");
  writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
}, 120_000);

const session =
  "HELO client.example\r\nMAIL FROM:<s@client.example>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nSubject: q\r\n\r\n..body\r\n.\r\nQUIT\r\n";

describe("qmail-smtpd into the real queue", () => {
  test("as root: in-process queue, 250 only once todo/ holds the message", async () => {
    const before = todo(home);
    const p = await run(join(home, "bin/qmail-smtpd"), [], {
      input: Buffer.from(session),
      env: { PATH: process.env.PATH ?? "", TCPREMOTEIP: "10.9.8.7", TCPLOCALHOST: "mx.test.example" },
      extendEnv: false,
    });
    const out = p.stdout;
    expect(p.code).toBe(0);
    expect(out).toMatch(/354 go ahead\r\n250 ok \d+ qp \d+\r\n221 test\.example\r\n$/);
    const m = added(home, before);
    expect(m.length).toBe(1);
    const t = m[0]?.todo.toString("latin1") ?? "";
    expect(t).toMatch(/^u0\0p\d+\0Fs@client\.example\0Tu@test\.example\0$/);
    const mess = m[0]?.mess.toString("latin1") ?? "";
    expect(mess).toMatch(
      /^Received: \(qmail \d+ invoked by uid 0\); .*\nReceived: from unknown \(HELO client\.example\) \(10\.9\.8\.7\)\n {2}by mx\.test\.example with SMTP; .*\nSubject: q\n\n\.body\n$/,
    );
  });

  let queued: { pid: number; stop: () => Promise<void> } | undefined;
  afterAll(async () => {
    await queued?.stop();
  });

  test("as qmaild under tcpserver -u -g: through qmail-queued, 'from network'", async () => {
    const qd = getpwnam("qmaild");
    if (!qd) return;
    queued = await startQueued(home);
    const before = todo(home);
    const port = await freePort();
    const logf = join(home, "..", "ts.log");
    const ts = start(
      "/usr/bin/tcpserver",
      [
        "-v",
        "-R",
        "-H",
        "-l0",
        "-u",
        String(qd.uid),
        "-g",
        String(qd.gid),
        "127.0.0.1",
        String(port),
        join(home, "bin/qmail-smtpd"),
      ],
      {
        stdin: "ignore",
        stdout: "ignore",
        stderr: { file: logf },
        env: { PATH: process.env.PATH ?? "" },
        extendEnv: false,
      },
    );
    try {
      await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 5000);
      const out = await new Promise<string>((ok) => {
        const s = connect(port, "127.0.0.1");
        let got = "";
        s.on("connect", () => s.write(session));
        s.on("data", (d) => {
          got += d.toString("latin1");
        });
        s.on("error", () => {});
        s.on("close", () => ok(got));
        setTimeout(() => s.destroy(), 20000);
      });
      expect(out).toMatch(/354 go ahead\r\n250 ok \d+ qp \d+\r\n221 test\.example\r\n$/);
      const m = added(home, before);
      expect(m.length).toBe(1);
      expect(m[0]?.todo.toString("latin1")).toMatch(
        new RegExp(`^u${qd.uid}\\0p\\d+\\0Fs@client\\.example\\0Tu@test\\.example\\0$`),
      );
      expect(m[0]?.mess.toString("latin1")).toMatch(/^Received: \(qmail \d+ invoked from network\); /);
    } finally {
      ts.kill();
    }
  });
});
