// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run } from "../lib/harness.ts";
import { inject, makeHome } from "./qmail-send.helpers.ts";

const clean = ours("qmail-clean");

describe("qmail-clean", () => {
  test("todo/N and foop/N requests: + and the files are gone; ENOENT counts as done", async () => {
    const h = makeHome();
    const a = inject(h, "me@domain", ["x@domain"], "m\n", { trigger: false });
    const b = inject(h, "me@domain", ["x@domain"], "m\n", { trigger: false });
    const q = (p: string) => join(h.dir, "queue", p);
    const r = await run(clean, [], {
      env: { QMAILHOME: h.dir },
      input: `todo/${a}\0foop/${a}\0foop/${b}\0todo/${b}\0`,
    });
    expect(r).toMatchObject({ code: 0, stdout: "++++", stderr: "" });
    for (const id of [a, b]) {
      expect(existsSync(q(`todo/${id}`))).toBe(false);
      expect(existsSync(q(`intd/${id}`))).toBe(false);
      expect(existsSync(q(`mess/${id % 23}/${id}`))).toBe(false);
    }
  });

  test("malformed requests: x; an unlink error other than ENOENT: !", async () => {
    const h = makeHome();
    mkdirSync(join(h.dir, "queue/intd/77"));
    const r = await run(clean, [], {
      env: { QMAILHOME: h.dir },
      input: `todo/\0bogus/12\0todo/1a\0foop/${"1".repeat(100)}\0foop/77\0todo/77\0`,
    });
    expect(r).toMatchObject({ code: 0, stdout: "xxxx!!" });
  });

  test("a request cut short by EOF is dropped; EOF ends the program with 0", async () => {
    const h = makeHome();
    const r = await run(clean, [], { env: { QMAILHOME: h.dir }, input: "todo/1" });
    expect(r).toMatchObject({ code: 0, stdout: "" });
  });

  test("removes pid/ files whose atime is over 36 hours old, keeps the others", async () => {
    const h = makeHome();
    const old = join(h.dir, "queue/pid/123.456.1");
    const fresh = join(h.dir, "queue/pid/123.456.2");
    writeFileSync(old, "");
    writeFileSync(fresh, "");
    const t = Date.now() / 1000 - 129600 - 10;
    utimesSync(old, t, t);
    const r = await run(clean, [], { env: { QMAILHOME: h.dir }, input: "" });
    expect(r.code).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });

  test("no queue: 111", async () => {
    const r = await run(clean, [], { env: { QMAILHOME: "/nonexistent" }, input: "" });
    expect(r.code).toBe(111);
  });
});
