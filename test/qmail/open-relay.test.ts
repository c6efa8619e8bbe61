// SPDX-License-Identifier: MIT
// Without control/rcpthosts qmail-smtpd accepts mail for any domain, as qmail
// does; it says so on stderr (its log), and qmail-showctl and setup warn too.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { original, ROOT, run, tmp } from "../lib/harness.ts";
import { BUN, makeHome } from "./qmail-queue.helpers.ts";

setDefaultTimeout(60_000);

const SMTPD_WARNING =
  "qmail-smtpd: warning: control/rcpthosts is missing: accepting mail for any domain (an open relay)\n";
const SHOWCTL_WARNING =
  "qmail-showctl: warning: control/rcpthosts is missing: qmail-smtpd accepts mail for any domain (an open relay)\n";

let home: string;
beforeAll(async () => {
  home = await makeHome();
  writeFileSync(join(home, "control/me"), "test.example\n");
}, 120_000);

const session = "HELO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@elsewhere.example>\r\nQUIT\r\n";

function smtpd(env: Record<string, string> = {}) {
  return run(join(home, "bin/qmail-smtpd"), [], { input: session, env: { PATH: process.env.PATH ?? "", ...env } });
}

describe("qmail-smtpd", () => {
  test("no rcpthosts: any domain is accepted, and stderr says it is an open relay", async () => {
    const r = await smtpd();
    expect(r.stdout).toBe("220 test.example ESMTP\r\n250 test.example\r\n250 ok\r\n250 ok\r\n221 test.example\r\n");
    expect(r.stderr).toBe(SMTPD_WARNING);
    expect(r.code).toBe(0);
  });

  test("RELAYCLIENT set (a trusted client): no warning", async () => {
    const r = await smtpd({ RELAYCLIENT: "" });
    expect(r.stdout).toContain("250 ok\r\n250 ok\r\n");
    expect(r.stderr).toBe("");
  });

  test("with rcpthosts: the other domain is refused, no warning", async () => {
    writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
    try {
      const r = await smtpd();
      expect(r.stdout).toContain(
        "250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n221 test.example\r\n",
      );
      expect(r.stderr).toBe("");
    } finally {
      rmSync(join(home, "control/rcpthosts"));
    }
  });
});

describe("qmail-showctl", () => {
  test("no rcpthosts: the original's report on stdout, the warning on stderr", async () => {
    const r = await run(join(home, "bin/qmail-showctl"), [], { env: { PATH: process.env.PATH ?? "" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\nrcpthosts: (Default.) SMTP clients may send messages to any recipient.\n");
    expect(r.stderr).toBe(SHOWCTL_WARNING);
    const orig = original("qmail-showctl");
    if (orig) {
      // Debian's qmail-showctl has its home compiled in; only its line for rcpthosts is compared
      const o = await run(orig, []);
      const line = (s: string) => /\nrcpthosts: [^\n]*\n/.exec(s)?.[0];
      if (line(o.stdout)?.includes("(Default.)")) expect(line(r.stdout)).toBe(line(o.stdout));
    }
  });

  test("with rcpthosts: no warning", async () => {
    writeFileSync(join(home, "control/rcpthosts"), "test.example\n");
    try {
      const r = await run(join(home, "bin/qmail-showctl"), [], { env: { PATH: process.env.PATH ?? "" } });
      expect(r.stdout).toContain("\nrcpthosts: \nSMTP clients may send messages to recipients at test.example.\n");
      expect(r.stderr).toBe("");
    } finally {
      rmSync(join(home, "control/rcpthosts"));
    }
  });
});

describe("make setup (scripts/setup.ts)", () => {
  test("warns while control/rcpthosts is missing, and not once it exists", async () => {
    const h = join(tmp("qts-relay-"), "qmail");
    const args = [join(ROOT, "scripts/setup.ts"), "--home", h, "--no-users", "--no-bin"];
    const first = await run(BUN, args, { timeout: 60_000 });
    expect(first.code).toBe(0);
    expect(first.stderr).toBe(
      `setup: warning: ${h}/control/rcpthosts is missing: qmail-smtpd will accept mail for any domain (an open relay) until config or config-fast writes it\n`,
    );
    writeFileSync(join(h, "control/rcpthosts"), "test.example\n");
    const again = await run(BUN, args, { timeout: 60_000 });
    expect(again.code).toBe(0);
    expect(again.stderr).toBe("");
  });
});
