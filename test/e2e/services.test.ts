// SPDX-License-Identifier: MIT
// scripts/services.ts renders the fast paths into the run scripts by default, and --classic leaves
// them out (service/README.md): the classic path is one setting away.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ours, ROOT, run, tmp } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");

async function render(extra: string[]): Promise<{ qmail: string; smtpd: string; S: string; H: string }> {
  const t = tmp("qts-services-");
  const H = join(t, "qmail");
  mkdirSync(join(H, "bin"), { recursive: true });
  mkdirSync(join(H, "control"));
  symlinkSync(ours("tcprules"), join(H, "bin/tcprules"));
  const S = join(t, "service");
  const r = await run(BUN, [join(ROOT, "scripts/services.ts"), "--home", H, "--service", S, ...extra]);
  expect(r.code).toBe(0);
  return { qmail: readFileSync(join(S, "qmail/run"), "utf8"), smtpd: readFileSync(join(S, "smtpd/run"), "utf8"), S, H };
}

describe("scripts/services.ts", () => {
  test("by default: QTS_LOCALWORKERS in qmail/run, QTS_PRESTART and QTS_PRESTARTIDLE in smtpd/run, in the env - list", async () => {
    const { qmail, smtpd } = await render([]);
    expect(qmail).toMatch(/^exec env - PATH="[^"]*".* \\\nQTS_LOCALWORKERS=5 \\\nqmail-start /m);
    expect(smtpd).toMatch(
      /^exec env - PATH="[^"]*".* \\\nQTS_PRESTART=1 \\\nQTS_PRESTARTIDLE=30 \\\nenvuidgid qmaild \\\n/m,
    );
  });

  test("--classic: neither, and otherwise the same scripts", async () => {
    const fast = await render([]);
    const classic = await render(["--classic"]);
    expect(classic.qmail).not.toMatch(/^QTS_/m);
    expect(classic.smtpd).not.toMatch(/^QTS_/m);
    const strip = (s: string) => s.replace(/^QTS_\w+=\d+ \\\n/gm, "").replace(/\/tmp\/qts-services-[^/]+/g, "T");
    expect(strip(fast.qmail)).toBe(strip(classic.qmail));
    expect(strip(fast.smtpd)).toBe(strip(classic.smtpd));
  });

  test("--submission: authd beside submission and smtps, as root serving qmaild, with readiness and a down file", async () => {
    const { S, H } = await render(["--submission", "--down", "--qmaild", "qmaild"]);
    const run = readFileSync(join(S, "authd/run"), "utf8");
    expect(run).toContain(`exec env - PATH="${H}/bin:$PATH" NOTIFICATION_FD=3 \\\nqmail-authd qmaild 2>&1\n`);
    expect(run).not.toContain("setuidgid");
    expect(readFileSync(join(S, "authd/log/run"), "utf8")).toContain("setuidgid qmaill \\\nsplogger authd 2\n");
    expect(readFileSync(join(S, "authd/notification-fd"), "utf8")).toBe("3\n");
    for (const d of ["authd", "authd/log", "submission", "smtps"]) expect(existsSync(join(S, d, "down"))).toBe(true);
    // without --submission, no authd
    const plain = await render([]);
    expect(existsSync(join(plain.S, "authd"))).toBe(false);
  });
});
