// SPDX-License-Identifier: MIT
// maildirmake and maildir2mbox.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, tmp } from "../lib/harness.ts";

const mk = ours("maildirmake");
const m2m = ours("maildir2mbox");

describe("maildirmake", () => {
  test("creates dir, tmp, new, cur with mode 700", async () => {
    const d = join(tmp(), "Maildir");
    expect(await run(mk, [d])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    for (const s of ["", "/tmp", "/new", "/cur"]) expect(statSync(d + s).mode & 0o7777).toBe(0o700);
    expect(readdirSync(d).sort()).toEqual(["cur", "new", "tmp"]);
  });

  test("existing name: 111", async () => {
    const d = tmp();
    expect(await run(mk, [d])).toMatchObject({
      code: 111,
      stderr: `maildirmake: fatal: unable to mkdir ${d}: file already exists\n`,
    });
  });

  test("usage: 100", async () => {
    expect(await run(mk, [])).toMatchObject({ code: 100, stderr: "maildirmake: usage: maildirmake name\n" });
  });
});

function md(): string {
  const d = join(tmp(), "Maildir");
  for (const s of ["", "/tmp", "/new", "/cur"]) mkdirSync(d + s);
  return d;
}

function put(d: string, name: string, text: string, mtime: number): void {
  writeFileSync(join(d, name), text);
  utimesSync(join(d, name), mtime, mtime);
}

describe("maildir2mbox", () => {
  test("appends new/ and cur/ messages oldest first, From_ from Return-Path, >From quoting; removes them", async () => {
    const d = md();
    const dir = join(d, "..");
    const mbox = join(dir, "mbox");
    writeFileSync(mbox, "From old Thu Jan  1 00:00:00 1970\n\nold\n\n");
    const t = 1_700_000_000;
    put(d, "new/2.msg", "Return-Path: <bob@x.org>\nDelivered-To: joe@ex\n\nFrom here\n", t + 10);
    put(d, "cur/1.msg:2,S", "Return-Path: <>\nSubject: bounce\n\nno final newline", t);
    put(d, "new/3.msg", "Subject: no return path\n\nbody\n", t + 20);
    put(d, "new/4.msg", "Return-Path: <a b@x>\n\n", t + 30);
    put(d, "new/.hidden", "ignored\n", t);
    const r = await run(m2m, [], { env: { MAILDIR: d, MAIL: mbox, MAILTMP: join(dir, "mbox.tmp") } });
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(mbox, "utf8")).toBe(
      "From old Thu Jan  1 00:00:00 1970\n\nold\n\n" +
        "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\nReturn-Path: <>\nSubject: bounce\n\nno final newline\n\n" +
        "From bob@x.org Tue Nov 14 22:13:30 2023\nReturn-Path: <bob@x.org>\nDelivered-To: joe@ex\n\n>From here\n\n" +
        "From XXX Tue Nov 14 22:13:40 2023\nSubject: no return path\n\nbody\n\n" +
        "From a-b@x Tue Nov 14 22:13:50 2023\nReturn-Path: <a b@x>\n\n\n",
    );
    expect(readdirSync(join(d, "new"))).toEqual([".hidden"]);
    expect(readdirSync(join(d, "cur"))).toEqual([]);
    expect(existsSync(join(dir, "mbox.tmp"))).toBe(false);
  });

  test("nothing new: 0, mbox untouched", async () => {
    const d = md();
    const mbox = join(d, "../mbox");
    expect(await run(m2m, [], { env: { MAILDIR: d, MAIL: mbox, MAILTMP: `${mbox}.tmp` } })).toMatchObject({ code: 0 });
    expect(existsSync(mbox)).toBe(false);
  });

  test("messages stamped now or later are left for the next run", async () => {
    const d = md();
    const mbox = join(d, "../mbox");
    put(d, "new/future", "x\n", Math.floor(Date.now() / 1000) + 100);
    expect(await run(m2m, [], { env: { MAILDIR: d, MAIL: mbox, MAILTMP: `${mbox}.tmp` } })).toMatchObject({ code: 0 });
    expect(readdirSync(join(d, "new"))).toEqual(["future"]);
  });

  test("old tmp/ files (atime over 36 hours) are cleaned", async () => {
    const d = md();
    const old = Math.floor(Date.now() / 1000) - 200_000;
    put(d, "tmp/stale", "x", old);
    put(d, "tmp/fresh", "x", Math.floor(Date.now() / 1000));
    const mbox = join(d, "../mbox");
    await run(m2m, [], { env: { MAILDIR: d, MAIL: mbox, MAILTMP: `${mbox}.tmp` } });
    expect(readdirSync(join(d, "tmp"))).toEqual(["fresh"]);
  });

  test("missing variables and a bad MAILDIR: 111", async () => {
    const d = md();
    expect(await run(m2m, [], { env: { MAILDIR: d, MAILTMP: "x" }, extendEnv: false })).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: MAIL not set\n",
    });
    expect(await run(m2m, [], { env: { MAILDIR: d, MAIL: "x" }, extendEnv: false })).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: MAILTMP not set\n",
    });
    expect(await run(m2m, [], { env: { MAIL: "x", MAILTMP: "y" }, extendEnv: false })).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: MAILDIR not set\n",
    });
    expect(
      await run(m2m, [], { env: { MAILDIR: "/nonexistent", MAIL: "x", MAILTMP: "y" }, extendEnv: false }),
    ).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: unable to chdir to /nonexistent: file does not exist\n",
    });
    const noNew = join(tmp(), "M");
    mkdirSync(noNew);
    expect(await run(m2m, [], { env: { MAILDIR: noNew, MAIL: "x", MAILTMP: "y" }, extendEnv: false })).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: unable to scan $MAILDIR/new: file does not exist\n",
    });
  });

  test("MAILTMP cannot be created: 111, messages kept", async () => {
    const d = md();
    put(d, "new/1", "x\n", 1_700_000_000);
    const mbox = join(d, "../mbox");
    const r = await run(m2m, [], { env: { MAILDIR: d, MAIL: mbox, MAILTMP: "/nonexistent/tmp" } });
    expect(r).toMatchObject({
      code: 111,
      stderr: "maildir2mbox: fatal: unable to create /nonexistent/tmp: file does not exist\n",
    });
    expect(readdirSync(join(d, "new"))).toEqual(["1"]);
  });
});
