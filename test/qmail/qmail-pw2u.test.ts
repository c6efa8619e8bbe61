// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, tmp } from "../lib/harness.ts";

const pw2u = ours("qmail-pw2u");

function setup(files: Record<string, string> = {}) {
  const q = tmp("qts-pw2u-");
  mkdirSync(join(q, "users"));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(q, "users", k), v);
  const home = (name: string, uid: number) => {
    const d = join(q, "h", name);
    mkdirSync(d, { recursive: true });
    chownSync(d, uid, uid);
    return d;
  };
  return { q, home };
}

describe("qmail-pw2u", () => {
  test("passwd -> assign: alias wildcard, = and + entries per user, closing dot", async () => {
    const { q, home } = setup();
    const a = home("alias", 7790);
    const j = home("joe", 1001);
    const passwd = [
      "root:x:0:0:root:/root:/bin/bash",
      `alias:*:7790:2108::${a}:/bin/true`,
      `joe:x:1001:1002:Joe:${j}:/bin/sh`,
      `Upper:x:1003:1003::${j}:/bin/sh`,
      `gone:x:1004:1004::${q}/nonexistent:/bin/sh`,
      `notown:x:1005:1005::${j}:/bin/sh`,
      "short:x:1006:1006::/nohomefield",
      "",
    ].join("\n");
    const r = await run(pw2u, [], { input: passwd, env: { QMAILHOME: q } });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      [
        `+:alias:7790:2108:${a}:-::`,
        `=alias:alias:7790:2108:${a}:::`,
        `+alias-:alias:7790:2108:${a}:-::`,
        `=joe:joe:1001:1002:${j}:::`,
        `+joe-:joe:1001:1002:${j}:-::`,
        ".",
        "",
      ].join("\n"),
    );
  });

  test("options: -u keeps uppercase names, -H skips home checks, -/ -c -C", async () => {
    const { q, home } = setup();
    const a = home("alias", 7790);
    const passwd = `alias:*:7790:2108::${a}:/bin/true\nUpper:x:1003:1003::/nonexistent:/bin/sh\n`;
    const r = await run(pw2u, ["-u", "-H", "-/", "-c", "+"], { input: passwd, env: { QMAILHOME: q } });
    expect(r.stdout).toBe(
      [
        `+:alias:7790:2108:${a}:-/::`,
        `=alias:alias:7790:2108:${a}:::`,
        `+alias+:alias:7790:2108:${a}:-/::`,
        "=Upper:Upper:1003:1003:/nonexistent:::",
        "+Upper+:Upper:1003:1003:/nonexistent:-/::",
        ".",
        "",
      ].join("\n"),
    );
    const r2 = await run(pw2u, ["-C"], { input: passwd, env: { QMAILHOME: q } });
    expect(r2.stdout).toBe(`+:alias:7790:2108:${a}:-::\n=alias:alias:7790:2108:${a}:::\n.\n`);
  });

  test("-h: a missing home is fatal", async () => {
    const { q, home } = setup();
    const a = home("alias", 7790);
    const r = await run(pw2u, ["-h"], {
      input: `alias:*:7790:2108::${a}:/bin/true\ngone:x:1004:1004::/nonexistent/x:/bin/sh\n`,
      env: { QMAILHOME: q },
    });
    expect(r).toMatchObject({ code: 111, stdout: "", stderr: "qmail-pw2u: fatal: unable to stat /nonexistent/x\n" });
  });

  test("no alias user: 111", async () => {
    const { q } = setup();
    const r = await run(pw2u, ["-H"], { input: "joe:x:1:1::/h:/bin/sh\n", env: { QMAILHOME: q } });
    expect(r).toMatchObject({ code: 111, stdout: "", stderr: "qmail-pw2u: fatal: unable to find alias user\n" });
  });

  test("include, exclude, mailnames, subusers, append", async () => {
    const { q } = setup({
      include: "alias\njoe\nbob\n# comment\n",
      exclude: "BOB\n",
      mailnames: "joe:joe.bloggs:jb\n",
      subusers: "sales:JOE:s-:\nbad:line\n",
      append: "=extra:x:1:1:/x:::\n",
    });
    const passwd =
      "alias:*:7790:2108::/a:/bin/true\njoe:x:1001:1002::/j:/bin/sh\nbob:x:1002:1002::/b:/bin/sh\nsue:x:1003:1003::/s:/bin/sh\n";
    const r = await run(pw2u, ["-H"], { input: passwd, env: { QMAILHOME: q } });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      [
        "+:alias:7790:2108:/a:-::",
        "=alias:alias:7790:2108:/a:::",
        "+alias-:alias:7790:2108:/a:-::",
        "=joe.bloggs:joe:1001:1002:/j:::",
        "+joe.bloggs-:joe:1001:1002:/j:-::",
        "=jb:joe:1001:1002:/j:::",
        "+jb-:joe:1001:1002:/j:-::",
        "=sales:joe:1001:1002:/j:-:s-:",
        "+sales-:joe:1001:1002:/j:-:s--:",
        "=extra:x:1:1:/x:::",
        ".",
        "",
      ].join("\n"),
    );
  });

  test("a subuser of an unknown user: 111", async () => {
    const { q } = setup({ subusers: "sales:nobody:s-:\n" });
    const r = await run(pw2u, ["-H"], { input: "alias:*:7790:2108::/a:/bin/true\n", env: { QMAILHOME: q } });
    expect(r).toMatchObject({
      code: 111,
      stdout: "",
      stderr: "qmail-pw2u: fatal: unable to find nobody user for subuser\n",
    });
  });

  test("bad option: 100", async () => {
    const { q } = setup();
    expect(await run(pw2u, ["-z"], { input: "", env: { QMAILHOME: q } })).toMatchObject({
      code: 100,
      stdout: "",
      stderr: "qmail-pw2u: illegal option -- z\n",
    });
  });

  test("its output feeds qmail-newu", async () => {
    const { q } = setup();
    const r = await run(pw2u, ["-H"], {
      input: "alias:*:7790:2108::/a:/bin/true\njoe:x:1:1::/j:/bin/sh\n",
      env: { QMAILHOME: q },
    });
    writeFileSync(join(q, "users/assign"), r.stdout);
    expect(await run(ours("qmail-newu"), [], { env: { QMAILHOME: q } })).toMatchObject({ code: 0, stderr: "" });
  });
});
