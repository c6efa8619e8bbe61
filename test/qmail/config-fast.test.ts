// SPDX-License-Identifier: MIT
// config-fast, checked against qmail's config-fast.sh
// itself: the same two sed expressions run by the real sed.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, runSync, tmp } from "../lib/harness.ts";

function sed(expr: string, s: string): string {
  return runSync("sed", [expr], { input: `${s}\n` }).stdout.replace(/\n$/, "");
}
const DDOM = "s/^\\([^\\.]*\\)\\.\\([^\\.]*\\)\\./\\2\\./";
const PDOM = "s/^.*\\.\\([^\\.]*\\)\\.\\([^\\.]*\\)$/\\1.\\2/";

describe("config-fast", () => {
  test("writes me, defaultdomain, plusdomain; appends to locals and rcpthosts; mode 644; config-fast.sh's messages", async () => {
    const home = tmp();
    mkdirSync(join(home, "control"));
    writeFileSync(join(home, "control/locals"), "old.example\n");
    const r = await run(ours("config-fast"), ["mail.sub.example.org"], { env: { QMAILHOME: home } });
    expect(r).toMatchObject({
      code: 0,
      stderr: "",
      stdout:
        "Your fully qualified host name is mail.sub.example.org.\n" +
        "Putting mail.sub.example.org into control/me...\n" +
        "Putting sub.example.org into control/defaultdomain...\n" +
        "Putting example.org into control/plusdomain...\n" +
        "Putting mail.sub.example.org into control/locals...\n" +
        "Putting mail.sub.example.org into control/rcpthosts...\n" +
        "Now qmail will refuse to accept SMTP messages except to mail.sub.example.org.\n" +
        "Make sure to change rcpthosts if you add hosts to locals or virtualdomains!\n",
    });
    const c = (f: string) => readFileSync(join(home, "control", f), "utf8");
    expect(c("me")).toBe("mail.sub.example.org\n");
    expect(c("defaultdomain")).toBe("sub.example.org\n");
    expect(c("plusdomain")).toBe("example.org\n");
    expect(c("locals")).toBe("old.example\nmail.sub.example.org\n");
    expect(c("rcpthosts")).toBe("mail.sub.example.org\n");
    for (const f of ["me", "defaultdomain", "plusdomain", "locals", "rcpthosts"])
      expect((statSync(join(home, "control", f)).mode & 0o777).toString(8)).toBe("644");
  });

  test("defaultdomain and plusdomain are the script's sed results, name by name", async () => {
    for (const fqdn of ["a.b", "host", "a.b.c", "a.b.c.d.e", ".b.c", "a..c", "a.b.", "x.y.z."]) {
      const home = tmp();
      mkdirSync(join(home, "control"));
      const r = await run(ours("config-fast"), [fqdn], { env: { QMAILHOME: home } });
      expect(r.code).toBe(0);
      const c = (f: string) => readFileSync(join(home, "control", f), "utf8");
      expect({ fqdn, d: c("defaultdomain"), p: c("plusdomain") }).toEqual({
        fqdn,
        d: `${sed(DDOM, fqdn)}\n`,
        p: `${sed(PDOM, fqdn)}\n`,
      });
    }
  });

  test("no control directory: 111", async () => {
    const r = await run(ours("config-fast"), ["a.b.c"], { env: { QMAILHOME: join(tmp(), "none") } });
    expect(r.code).toBe(111);
    expect(r.stderr).toMatch(/^config-fast: fatal: unable to write .*\/control\/me: file does not exist\n$/);
  });
});
