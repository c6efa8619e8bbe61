// SPDX-License-Identifier: MIT
// scripts/services.ts renders the fast paths into the run scripts by default, and --classic leaves
// them out (service/README.md): the classic path is one setting away.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ours, ROOT, run, tmp } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");

async function render(extra: string[]): Promise<{ qmail: string; smtpd: string }> {
  const t = tmp("qts-services-");
  const H = join(t, "qmail");
  mkdirSync(join(H, "bin"), { recursive: true });
  mkdirSync(join(H, "control"));
  symlinkSync(ours("tcprules"), join(H, "bin/tcprules"));
  const S = join(t, "service");
  const r = await run(BUN, [join(ROOT, "scripts/services.ts"), "--home", H, "--service", S, ...extra]);
  expect(r.code).toBe(0);
  return { qmail: readFileSync(join(S, "qmail/run"), "utf8"), smtpd: readFileSync(join(S, "smtpd/run"), "utf8") };
}

describe("scripts/services.ts", () => {
  test("by default: QTS_LOCALWORKERS in qmail/run, QTS_PRESTART in smtpd/run, in the env - list", async () => {
    const { qmail, smtpd } = await render([]);
    expect(qmail).toMatch(/^exec env - PATH="[^"]*".* \\\nQTS_LOCALWORKERS=5 \\\nqmail-start /m);
    expect(smtpd).toMatch(/^exec env - PATH="[^"]*".* \\\nQTS_PRESTART=1 \\\nenvuidgid qmaild \\\n/m);
  });

  test("--classic: neither, and otherwise the same scripts", async () => {
    const fast = await render([]);
    const classic = await render(["--classic"]);
    expect(classic.qmail).not.toMatch(/^QTS_/m);
    expect(classic.smtpd).not.toMatch(/^QTS_/m);
    const strip = (s: string) => s.replace(/^QTS_\w+=\d+ \\\n/m, "").replace(/\/tmp\/qts-services-[^/]+/g, "T");
    expect(strip(fast.qmail)).toBe(strip(classic.qmail));
    expect(strip(fast.smtpd)).toBe(strip(classic.smtpd));
  });
});
