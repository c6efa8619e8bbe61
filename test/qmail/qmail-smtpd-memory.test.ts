// SPDX-License-Identifier: MIT
// Memory per session is bounded and running out of it gets an answer: under
// the shipped service's limit (softlimit -m 500000000, service/smtpd/run), a
// session with very many RCPTs gets a reply to every command, ending in 250
// or in C's "421 out of memory (#4.3.0)", never in a crash or a signal death,
// and leaves nothing behind.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SOFTLIMIT_MEM } from "../../scripts/services.ts";
import { start } from "../lib/harness.ts";
import { added, files, makeHome, todo } from "./qmail-queue.helpers.ts";

setDefaultTimeout(120_000);

let home: string;
beforeAll(async () => {
  home = await makeHome();
  writeFileSync(join(home, "control/me"), "test.example\n");
  writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
}, 120_000);

/** An exit as node reports it: the code, or null and the signal that ended it. */
function codeSignal(r: { code: number; signal?: string }): { code: number | null; signal: string | null } {
  return { code: r.signal ? null : r.code, signal: r.signal ?? null };
}

/** One session of n RCPTs of about len bytes each, under the service's softlimit and JIT reservation. */
async function many(n: number, len: number) {
  const p = start("softlimit", ["-m", String(SOFTLIMIT_MEM), join(home, "bin/qmail-smtpd")], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", BUN_JSC_jitMemoryReservationSize: "67108864", TCPREMOTEIP: "10.0.0.1" },
    extendEnv: false,
  });
  const exited = p.exited.then(codeSignal);
  const write = (s: string) => p.write(s);
  const pad = "x".repeat(Math.max(0, len - 20));
  await write("HELO c.example\r\nMAIL FROM:<s@c.example>\r\n");
  let done = false;
  exited.then(() => {
    done = true;
  });
  for (let i = 0; i < n && !done; i += 1000) {
    let chunk = "";
    for (let j = i; j < Math.min(n, i + 1000); j++) chunk += `RCPT TO:<r${j}.${pad}@test.example>\r\n`;
    await Promise.race([write(chunk), exited]);
  }
  if (!done) {
    void p.write("DATA\r\nSubject: many\r\n\r\nbody\r\n.\r\nQUIT\r\n");
    p.end();
  }
  const r = await exited;
  return { ...r, out: p.stdout("latin1"), err: p.stderr("latin1") };
}

describe("many recipients under softlimit -m 500000000", () => {
  for (const [n, len] of [
    [400_000, 22],
    [50_000, 800],
  ] as const)
    test(`${n} RCPTs of ${len} bytes: a reply to every command, 250 or 421 out of memory, nothing left behind`, async () => {
      const before = files(home);
      const q0 = todo(home);
      const r = await many(n, len);
      expect(r.signal).toBeNull();
      expect(r.err).toBe("");
      const replies = r.out.split("\r\n").slice(0, -1);
      const accepted = replies.filter((l) => l === "250 ok").length;
      // greeting, HELO, then 250 ok for MAIL and each accepted RCPT
      expect(replies.slice(0, 2)).toEqual(["220 test.example ESMTP", "250 test.example"]);
      expect(replies.slice(2, 2 + accepted).every((l) => l === "250 ok")).toBe(true);
      const rest = replies.slice(2 + accepted);
      if (rest[0] === "421 out of memory (#4.3.0)") {
        expect(rest).toHaveLength(1);
        expect(r.code).toBe(1);
        expect(files(home)).toEqual(before);
      } else {
        expect(accepted).toBe(n + 1);
        expect(rest[0]).toBe("354 go ahead");
        expect(rest[1]).toMatch(/^250 ok \d+ qp \d+$/);
        expect(r.code).toBe(0);
        const m = added(home, q0);
        expect(m).toHaveLength(1);
        expect((m[0]?.todo.toString("latin1").split("\0T").length ?? 0) - 1).toBe(n);
      }
      console.log(`${n} x ${len}: ${accepted - 1} RCPTs accepted, then ${rest[0]}`);
    });

  test("200,000 RCPTs of 800 bytes (160 MB of envelope) cannot fit: 421 out of memory, nothing left", async () => {
    const before = files(home);
    const r = await many(200_000, 800);
    expect(r.out).toEndWith("250 ok\r\n421 out of memory (#4.3.0)\r\n");
    expect(r.code).toBe(1);
    expect(files(home)).toEqual(before);
  });
});

describe("qmail-inject with a huge recipient list under softlimit -m 500000000", () => {
  for (const n of [5_000, 100_000])
    test(`a To: of ${n} addresses: queued, or "out of memory" and 111; never a crash; nothing left behind`, async () => {
      const before = files(home);
      const q0 = todo(home);
      const text = `To: ${Array.from({ length: n }, (_, i) => `r${i}@test.example`).join(",\n  ")}\nSubject: x\n\nbody\n`;
      const p = start("softlimit", ["-m", String(SOFTLIMIT_MEM), join(home, "bin/qmail-inject")], {
        stdio: ["pipe", "ignore", "pipe"],
        env: { PATH: process.env.PATH ?? "", BUN_JSC_jitMemoryReservationSize: "67108864" },
        extendEnv: false,
      });
      void p.write(text);
      p.end();
      const r = codeSignal(await p.exited);
      const err = p.stderr("latin1");
      expect(r.signal).toBeNull();
      if (r.code === 0) {
        expect(err).toBe("");
        const m = added(home, q0);
        expect(m).toHaveLength(1);
        expect((m[0]?.todo.toString("latin1").split("\0T").length ?? 0) - 1).toBe(n);
      } else {
        expect({ code: r.code, err }).toEqual({ code: 111, err: "qmail-inject: fatal: out of memory\n" });
        expect(files(home)).toEqual(before);
      }
      console.log(`qmail-inject, ${n} recipients: exit ${r.code}`);
    });
});
