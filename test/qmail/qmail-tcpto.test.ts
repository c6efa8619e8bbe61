// SPDX-License-Identifier: MIT
// qmail-tcpto, qmail-tcpok and lib/remote/tcpto.ts on queue/lock/tcpto (1024 bytes, 16-byte records as in tcpto.c).
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { records, tcptoCheck, tcptoErr } from "../../packages/qmail/src/lib/remote/tcpto.ts";
import { ours, run, tmp } from "../lib/harness.ts";

function table(entries: [string, number, number][], size = 1024) {
  const b = Buffer.alloc(size);
  entries.forEach(([ip, count, when], i) => {
    ip.split(".").forEach((x, k) => {
      b[i * 16 + k] = Number(x);
    });
    b[i * 16 + 4] = count;
    b.writeUInt32LE(when >>> 0, i * 16 + 8);
  });
  return b;
}

function home(b?: Buffer) {
  const h = tmp("qts-tcpto-");
  mkdirSync(join(h, "queue", "lock"), { recursive: true });
  if (b) writeFileSync(join(h, "queue", "lock", "tcpto"), b);
  return h;
}

const env = (h: string) => ({ env: { PATH: "/usr/bin:/bin", QMAILHOME: h }, extendEnv: false });

describe("qmail-tcpto", () => {
  test("prints entries with a count of 1..127, how long ago, and the count", async () => {
    const now = Math.floor(Date.now() / 1000);
    const h = home(
      table([
        ["1.2.3.4", 3, now - 100],
        ["10.0.0.1", 0, now - 5],
        ["5.6.7.8", 200, now - 5],
        ["192.168.255.1", 1, now - 3600],
        ["9.9.9.9", 10, now + 50],
      ]),
    );
    const r = await run(ours("qmail-tcpto"), [], env(h));
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/^1\.2\.3\.4 timed out 10[01] seconds ago; # recent timeouts: 3$/);
    expect(lines[1]).toMatch(/^192\.168\.255\.1 timed out 360[01] seconds ago; # recent timeouts: 1$/);
    // a time in the future wraps around as (unsigned long) (start - when): 2^64 - 50, or - 49 when the
    // second turned between the table and the program, as the 10[01] above allow
    expect(lines[2]).toMatch(/^9\.9\.9\.9 timed out 1844674407370955156[67] seconds ago; # recent timeouts: 10$/);
  });

  test("a zeroed table prints nothing; a missing table or queue is fatal (on stdout), 111", async () => {
    expect(await run(ours("qmail-tcpto"), [], env(home(Buffer.alloc(1024))))).toMatchObject({ code: 0, stdout: "" });
    expect(await run(ours("qmail-tcpto"), [], env(home()))).toMatchObject({
      code: 111,
      stdout: "fatal: unable to open tcpto: file does not exist\n",
    });
    expect(await run(ours("qmail-tcpto"), [], env(tmp()))).toMatchObject({
      code: 111,
      stdout: "fatal: unable to chdir: file does not exist\n",
    });
  });
});

describe("qmail-tcpok", () => {
  test("zeroes the first 1024 bytes in place", async () => {
    const h = home(Buffer.concat([table([["1.2.3.4", 3, 5]]), Buffer.from("tail")]));
    const r = await run(ours("qmail-tcpok"), [], env(h));
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const b = readFileSync(join(h, "queue", "lock", "tcpto"));
    expect(b.length).toBe(1028);
    expect(b.subarray(0, 1024).every((x) => x === 0)).toBe(true);
    expect(b.subarray(1024).toString()).toBe("tail");
    expect((await run(ours("qmail-tcpto"), [], env(h))).stdout).toBe("");
  });

  test("errors name the file, 111", async () => {
    const h = home();
    expect(await run(ours("qmail-tcpok"), [], env(h))).toMatchObject({
      code: 111,
      stderr: `qmail-tcpok: fatal: unable to write ${h}/queue/lock/tcpto: file does not exist\n`,
    });
    const e = tmp();
    expect(await run(ours("qmail-tcpok"), [], env(e))).toMatchObject({
      code: 111,
      stderr: `qmail-tcpok: fatal: unable to chdir to ${e}/queue/lock: file does not exist\n`,
    });
    expect(statSync(h).isDirectory()).toBe(true);
  });
});

describe("lib/tcpto (tcpto.c's tcpto and tcpto_err)", () => {
  test("two timeouts 120 s apart make an IP skipped for an hour or so; a success clears it", () => {
    const h = home(Buffer.alloc(1024));
    tcptoErr(h, "1.2.3.4", true, true, 1000);
    expect(tcptoCheck(h, "1.2.3.4", 1001)).toEqual({ skip: false, there: true });
    tcptoErr(h, "1.2.3.4", true, true, 1100); // within 120 s of the last: not counted
    tcptoErr(h, "1.2.3.4", true, true, 1200);
    const t = records(readFileSync(join(h, "queue", "lock", "tcpto")));
    expect(t[0]).toEqual({ index: 0, ip: "1.2.3.4", count: 2, when: 1200 });
    expect(tcptoCheck(h, "1.2.3.4", 1300).skip).toBe(true);
    expect(tcptoCheck(h, "1.2.3.4", 1200 + 6000).skip).toBe(false);
    expect(tcptoCheck(h, "5.5.5.5", 1300)).toEqual({ skip: false, there: false });
    tcptoErr(h, "1.2.3.4", false, true, 1400);
    expect(records(readFileSync(join(h, "queue", "lock", "tcpto")))[0]?.count).toBe(0);
  });

  test("a full table gives up the record with the smallest when + count*1024", () => {
    const entries: [string, number, number][] = [];
    for (let i = 0; i < 64; i++) entries.push([`10.0.0.${i}`, 1, 100000 + i]);
    entries[17] = ["10.0.0.17", 1, 50000];
    const h = home(table(entries));
    tcptoErr(h, "7.7.7.7", true, false, 200000);
    const t = records(readFileSync(join(h, "queue", "lock", "tcpto")));
    expect(t[17]).toEqual({ index: 17, ip: "7.7.7.7", count: 1, when: 200000 });
    expect(t[16]?.ip).toBe("10.0.0.16");
  });
});
