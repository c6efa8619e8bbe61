// SPDX-License-Identifier: MIT
// lib/queue/qmail.ts with $QMAILQUEUE: qmail_open's exec rules and failure codes (qmail.c, qmail-queue(8)).
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { QmailQueue } from "@qts/qmail/lib/queue/qmail";
import { tmp } from "../lib/harness.ts";

function home(): string {
  const h = tmp("qts-qq-");
  mkdirSync(join(h, "bin"));
  // A stand-in qmail-queue that saves the message (fd 0) and the envelope (fd 1).
  writeFileSync(join(h, "bin/saveqq"), `#!/bin/sh\ncat > "${h}/msg"; cat <&1 > "${h}/env"; exit 0\n`, { mode: 0o755 });
  return h;
}

test("a relative $QMAILQUEUE is relative to the qmail home, as execv after chdir", async () => {
  const h = home();
  const q = new QmailQueue({ home: h, env: { QMAILQUEUE: "bin/saveqq", PATH: "/usr/bin:/bin" } });
  await q.put("Subject: x\n\nbody\n");
  q.from("a@b.example");
  q.to("c@d.example");
  const r = await q.close();
  expect(r.code).toBe(0);
  expect(r.pid).toBeGreaterThan(0);
  expect(readFileSync(join(h, "msg"), "latin1")).toBe("Subject: x\n\nbody\n");
  expect(readFileSync(join(h, "env"), "latin1")).toBe("Fa@b.example\0Tc@d.example\0\0");
});

test("a $QMAILQUEUE that cannot run is 120, 'Zunable to exec qq', at once", async () => {
  const h = home();
  for (const env of [{ QMAILQUEUE: "/nonexistent/qq" }, { QMAILQUEUE: "bin/missing" }]) {
    const q = new QmailQueue({ home: h, env });
    for (let i = 0; i < 64; i++) await q.put(Buffer.alloc(65536, 120));
    q.from("");
    q.to("x@y");
    expect(await q.close()).toEqual({ code: 120, text: "Zunable to exec qq (#4.3.0)", pid: 0 });
  }
});

test("a large message through a pipe leaves no listener behind (no MaxListeners warning)", async () => {
  const h = home();
  const warnings: unknown[] = [];
  const onWarn = (w: unknown) => warnings.push(w);
  process.on("warning", onWarn);
  const q = new QmailQueue({ home: h, env: { QMAILQUEUE: "bin/saveqq" } });
  for (let i = 0; i < 200; i++) await q.put(Buffer.alloc(65536, 97));
  q.from("a@b");
  q.to("c@d");
  expect((await q.close()).code).toBe(0);
  process.off("warning", onWarn);
  expect(warnings).toEqual([]);
  expect(readFileSync(join(h, "msg")).length).toBe(200 * 65536);
});

test("a queue program that exits without reading a long message: its code, no hang", async () => {
  const h = home();
  writeFileSync(join(h, "bin/quitqq"), "#!/bin/sh\nexit 53\n", { mode: 0o755 });
  const q = new QmailQueue({ home: h, env: { QMAILQUEUE: "bin/quitqq" } });
  for (let i = 0; i < 200; i++) await q.put(Buffer.alloc(65536, 97));
  q.from("a@b");
  q.to("c@d");
  const r = await q.close();
  expect(r.code).toBe(53);
  expect(r.text).toBe("Zqq write error or disk full (#4.3.0)");
});
