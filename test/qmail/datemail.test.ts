// SPDX-License-Identifier: MIT
// datemail: predate <home>/bin/sendmail args (netqmail's datemail.sh).
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, tmp } from "../lib/harness.ts";

test("datemail runs <home>/bin/sendmail with its arguments and a Date line first", async () => {
  const h = tmp("qts-datemail-");
  mkdirSync(join(h, "bin"));
  writeFileSync(join(h, "bin", "sendmail"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${h}/args"\ncat > "${h}/in"\nexit 3\n`, {
    mode: 0o755,
  });
  const r = await run(ours("datemail"), ["-t", "-f", "a@b"], {
    input: "To: x\n\nhi\n",
    env: { PATH: "/usr/bin:/bin", TZ: "Asia/Tokyo", QMAILHOME: h },
    extendEnv: false,
  });
  expect(r.code).toBe(3);
  expect(readFileSync(join(h, "args"), "latin1")).toBe("-t\n-f\na@b\n");
  expect(readFileSync(join(h, "in"), "latin1")).toMatch(
    /^Date: \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0900\nTo: x\n\nhi\n$/,
  );
});

test("datemail without <home>/bin/sendmail: predate's error, 111", async () => {
  const h = tmp("qts-datemail-");
  const r = await run(ours("datemail"), [], {
    input: "",
    env: { PATH: "/usr/bin:/bin", QMAILHOME: h },
    extendEnv: false,
  });
  expect(r).toMatchObject({
    code: 111,
    stderr: `predate: fatal: unable to run ${h}/bin/sendmail: file does not exist\n`,
  });
});
