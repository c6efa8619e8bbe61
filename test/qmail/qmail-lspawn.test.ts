// SPDX-License-Identifier: MIT
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { kill, ours, run } from "../lib/harness.ts";
import { deliveries, type Home, inject, makeHome, messid, NOBODY, SpawnerProc } from "./qmail-send.helpers.ts";

// qmail-getpw's fallback is the alias user's passwd home, whatever it is on this machine
// (/var/qmail/alias after qmail's INSTALL, elsewhere where the users existed before).
const ALIAS_HOME = () => getpwnam("alias")?.dir ?? "";

let h: Home;
let id: number;
let sp: SpawnerProc;

beforeAll(() => {
  h = makeHome();
  id = inject(h, "me@domain", ["x@domain"], "Subject: t\n\nbody\n", { trigger: false });
  sp = new SpawnerProc(ours("qmail-lspawn"), ["./Mailbox"], h);
});
afterAll(() => kill(sp.child.pid));

async function one(slot: number, recip: string, sender = "me@domain", mid = messid(id)): Promise<string> {
  const before = sp.reports().length;
  sp.send(slot, mid, sender, recip);
  const r = await sp.waitReports(before + 1);
  const got = r[before];
  expect(got?.[0]).toBe(slot);
  return got?.[1] ?? "";
}

describe("qmail-lspawn", () => {
  test("announces its concurrency limit: one byte, 120", async () => {
    await sp.waitReports(0);
    const { waitFor } = await import("../lib/harness.ts");
    await waitFor(() => sp.first >= 0);
    expect(sp.first).toBe(120);
  });

  test("K: qmail-local's exit 0 and its output", async () => {
    expect(await one(0, "ok@domain")).toBe("Kdid 1+0+0\n");
  });

  test("runs bin/qmail-local as the user, with the argv of qmail-local(8), cwd QMAILHOME, message on fd 0", async () => {
    const n = deliveries(h).length;
    await one(1, "ok-ext@domain", "joe@x.org");
    const d = deliveries(h)[n] as string;
    expect(d).toBe(
      [
        "nobody",
        h.userHome,
        "ok-ext",
        "-",
        "ok-ext",
        "domain",
        "joe@x.org",
        "./Mailbox",
        String(NOBODY),
        String(NOBODY),
        String(NOBODY),
        h.dir,
        "Received: (qmail 4242 invoked by uid 0); 1 Jan 2026 00:00:00 -0000\nSubject: t\n\nbody\n",
      ].join("\n"),
    );
  });

  test.each([
    ["defer@domain", "ZTemporary failure.\n"],
    ["fail@domain", "DSorry, no mailbox here by that name. (#5.1.1)\n"],
    ["code71@domain", "Zcode 71\n"],
    ["code74@domain", "Zcode 74\n"],
    ["code75@domain", "Zcode 75\n"],
    ["code1@domain", "Dcode 1\n"],
    ["code99@domain", "Dcode 99\n"],
    ["code112@domain", "ZInternal qmail-lspawn bug.\n"],
    ["code115@domain", "ZNFS failure in qmail-local.\n"],
    ["code116@domain", "ZUnable to find alias user!\n"],
    ["code117@domain", "ZTrouble reading users/cdb in qmail-lspawn.\n"],
    ["code118@domain", "ZTemporary failure in qmail-lspawn.\n"],
    ["code119@domain", "ZOut of memory in qmail-lspawn.\n"],
    ["code120@domain", "ZUnable to run qmail-local.\n"],
    ["code121@domain", "ZUnable to run qmail-getpw.\n"],
    ["code126@domain", "DUnable to run qmail-local.\n"],
    ["crash@domain", "Zqmail-local crashed.\n"],
    ["nul@domain", "Kbefore"],
  ])("%s -> %j", async (recip, want) => {
    expect(await one(2, recip)).toBe(want);
  });

  test("output over 3000 bytes is cut with the error-report-too-long line", async () => {
    // 5000 bytes read 128 at a time: cut back to 2966 bytes plus the notice after every read past 3000
    expect(await one(3, "big@domain")).toBe(`D${"x".repeat(2966)}\nError report too long, sorry.\n`);
  });

  test("uid 0 from users/cdb: never root, report 113", async () => {
    expect(await one(4, "root@domain")).toBe("ZNot allowed to perform deliveries as root.\n");
  });

  test("<> (empty local part): success without running qmail-local", async () => {
    const n = deliveries(h).length;
    expect(await one(5, "@domain")).toBe("K");
    expect(deliveries(h).length).toBe(n);
  });

  test("checks before forking: exact texts", async () => {
    expect(await one(6, "nohost")).toBe("DSorry, address must include host name. (#5.1.3)\n");
    expect(await one(6, "ok@domain", "s", "1a/2")).toBe("DInternal error: messid has nonnumerics. (#5.3.5)\n");
    expect(await one(6, "ok@domain", "s", "/1")).toBe("DInternal error: messid has nonnumerics. (#5.3.5)\n");
    expect(await one(6, "ok@domain", "s", "1".repeat(100))).toBe("DInternal error: messid too long. (#5.3.5)\n");
    expect(await one(6, "ok@domain", "s", "")).toBe("DInternal error: messid too short. (#5.3.5)\n");
    expect(await one(6, "ok@domain", "s", "1/999999999")).toBe("Zqmail-spawn unable to open message. (#4.3.0)\n");
    expect(await one(200, "ok@domain")).toBe("ZInternal error: delnum too big. (#4.3.5)\n");
    const m = join(h.dir, "queue/mess", messid(id));
    chownSync(m, 0, 0);
    expect(await one(6, "ok@domain")).toBe("ZSorry, message has wrong owner. (#4.3.5)\n");
    chownSync(m, h.ids.qmailq, h.ids.qmail);
    mkdirSync(join(h.dir, "queue/mess/0/23"));
    chownSync(join(h.dir, "queue/mess/0/23"), h.ids.qmailq, h.ids.qmail);
    expect(await one(6, "ok@domain", "s", "0/23")).toBe("ZSorry, message has wrong type. (#4.3.5)\n");
  });

  test("a slot in use is refused", async () => {
    const before = sp.reports().length;
    sp.send(7, messid(id), "me@domain", "slow@domain");
    sp.send(7, messid(id), "me@domain", "ok@domain");
    const r = await sp.waitReports(before + 2);
    expect(r.slice(before)).toEqual([
      [7, "ZInternal error: delnum in use. (#4.3.5)\n"],
      [7, "Kdid 1+0+0\n"],
    ]);
  });

  test("without users/cdb: qmail-getpw, run as qmailp, picks the user (here the alias user)", async () => {
    const cdb = readFileSync(join(h.dir, "users/cdb"));
    rmSync(join(h.dir, "users/cdb"));
    try {
      const n = deliveries(h).length;
      expect(await one(8, "nosuchuser@domain")).toBe("Kdid 1+0+0\n");
      const d = (deliveries(h)[n] as string).split("\n");
      expect(d.slice(0, 9)).toEqual([
        "alias",
        ALIAS_HOME(),
        "nosuchuser",
        "-",
        "nosuchuser",
        "domain",
        "me@domain",
        "./Mailbox",
        String(h.ids.alias),
      ]);
    } finally {
      writeFileSync(join(h.dir, "users/cdb"), cdb);
    }
  });

  test("EOF on fd 0: exits 0 once the deliveries in progress are reported", async () => {
    const p = new SpawnerProc(ours("qmail-lspawn"), ["./Mailbox"], h);
    p.send(0, messid(id), "me@domain", "slow@domain");
    p.end();
    expect(await p.exit).toBe(0);
    expect(p.reports()).toEqual([[0, "Kdid 1+0+0\n"]]);
  });

  test("no defaultdelivery argument: exit 100", async () => {
    expect((await run(ours("qmail-lspawn"), [], { env: { QMAILHOME: h.dir } })).code).toBe(100);
  });

  test("unusable queue: exit 111", async () => {
    expect((await run(ours("qmail-lspawn"), ["./Mailbox"], { env: { QMAILHOME: "/nonexistent" } })).code).toBe(111);
  });
});

describe("qmail-lspawn: addresses that are not UTF-8 reach qmail-getpw and qmail-local byte for byte", () => {
  const B = (s: string) => Buffer.from(s, "latin1");

  test("users/cdb: qmail-local's local, ext and sender arguments", async () => {
    const n = deliveries(h).length;
    expect(await one(9, "b\xe9\xff-x@domain", "s\xe9\xff@x.org")).toBe("Kdid 1+0+0\n");
    const d = (deliveries(h)[n] as string).split("\n");
    expect(d.slice(0, 8)).toEqual([
      "nobody",
      h.userHome,
      "b\xe9\xff-x",
      "-",
      "b\xe9\xff-x",
      "domain",
      "s\xe9\xff@x.org",
      "./Mailbox",
    ]);
  });

  test("qmail-getpw (no users/cdb) gets the local part's bytes and gives them back in ext", async () => {
    const cdb = readFileSync(join(h.dir, "users/cdb"));
    rmSync(join(h.dir, "users/cdb"));
    try {
      const n = deliveries(h).length;
      expect(await one(10, "n\xe9\xff@domain")).toBe("Kdid 1+0+0\n");
      const d = (deliveries(h)[n] as string).split("\n");
      expect(d.slice(0, 9)).toEqual([
        "alias",
        ALIAS_HOME(),
        "n\xe9\xff",
        "-",
        "n\xe9\xff",
        "domain",
        "me@domain",
        "./Mailbox",
        String(h.ids.alias),
      ]);
    } finally {
      writeFileSync(join(h.dir, "users/cdb"), cdb);
    }
  });

  test("the real qmail-local: .qmail name, Delivered-To, Return-Path and a program's environment", async () => {
    const h2 = makeHome();
    rmSync(join(h2.dir, "bin/qmail-local"));
    symlinkSync(ours("qmail-local"), join(h2.dir, "bin/qmail-local"));
    const id2 = inject(h2, "me@domain", ["x@domain"], "Subject: t\n\nbody\n", { trigger: false });
    const home = h2.userHome;
    for (const d of ["Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"]) {
      mkdirSync(join(home, d));
      chownSync(join(home, d), NOBODY, NOBODY);
    }
    // ext "R\xe9\xff-x.y": the file name is lowercased (ASCII only) with "." made ":", bytes kept.
    writeFileSync(
      B(join(home, ".qmail-r\xe9\xff-x:y")),
      './Maildir/\n|printf \'%s|%s|%s|%s|%s|%s\\n\' "$RECIPIENT" "$SENDER" "$LOCAL" "$EXT" "$EXT2" "$DTLINE" > env.out\n',
    );
    const p = new SpawnerProc(ours("qmail-lspawn"), ["./Mailbox"], h2);
    try {
      p.send(0, messid(id2), "s\xe9\xff@x.org", "R\xe9\xff-x.y@domain");
      expect(await p.waitReports(1)).toEqual([[0, "Kdid 1+0+1\n"]]);
    } finally {
      p.end();
      await p.exit;
    }
    const files = readdirSync(join(home, "Maildir/new"));
    expect(files.length).toBe(1);
    const m = readFileSync(join(home, "Maildir/new", files[0] as string), "latin1");
    expect(m.startsWith('Return-Path: <"s\xe9\xff"@x.org>\nDelivered-To: R\xe9\xff-x.y@domain\n')).toBe(true);
    expect(readFileSync(join(home, "env.out"), "latin1")).toBe(
      "R\xe9\xff-x.y@domain|s\xe9\xff@x.org|R\xe9\xff-x.y|R\xe9\xff-x.y|x.y|Delivered-To: R\xe9\xff-x.y@domain\n\n",
    );
  });
});
