// SPDX-License-Identifier: MIT
// control_readint (control.c): leading digits into a C int; the default when missing or not a number.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Control } from "@qts/qmail/lib/control";
import { tmp } from "../lib/harness.ts";

test("Control.int: digits, wrap to 32 bits signed, default otherwise", () => {
  const h = tmp("qts-control-");
  mkdirSync(join(h, "control"));
  const cases: [string, number][] = [
    ["20\n", 20],
    ["12abc\n", 12],
    ["2147483647\n", 2147483647],
    ["2147483648\n", -2147483648],
    ["4294967295\n", -1],
    ["4294967296\n", 0],
    ["abc\n", 7],
    [" 12\n", 7],
    ["\n", 7],
  ];
  for (const [text, want] of cases) {
    writeFileSync(join(h, "control/n"), text);
    expect([text, new Control(h).int("n", 7)]).toEqual([text, want]);
  }
  expect(new Control(h).int("missing", 7)).toBe(7);
});
