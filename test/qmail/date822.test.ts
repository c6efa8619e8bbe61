// SPDX-License-Identifier: MIT
// date822 with the date-localtime patch, through libc localtime_r and TZ.
import { expect, test } from "bun:test";
import { ROOT, run } from "../lib/harness.ts";

const BUN = `${ROOT}/node_modules/.bin/bun`;
const ms = Date.UTC(2026, 0, 5, 3, 4, 5);

test.each([
  ["UTC", "5 Jan 2026 03:04:05 +0000"],
  ["America/New_York", "4 Jan 2026 22:04:05 -0500"],
  ["Asia/Kolkata", "5 Jan 2026 08:34:05 +0530"],
  ["Australia/Adelaide", "5 Jan 2026 13:34:05 +1030"],
  ["Europe/Berlin", "5 Jan 2026 04:04:05 +0100"],
])("TZ=%s", async (tz, want) => {
  const r = await run(
    BUN,
    [
      "-e",
      `import {date822, date822utc, dateFromLine} from "@qts/qmail/lib/date822"; console.log(date822(${ms})); console.log(date822utc(${ms})); console.log(dateFromLine(${ms}))`,
    ],
    { cwd: ROOT, env: { TZ: tz } },
  );
  expect(r.stdout).toBe(`${want}\n5 Jan 2026 03:04:05 -0000\nMon Jan 05 03:04:05 2026\n`);
});
