// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { ours, run } from "../lib/harness.ts";

const bs = ours("bouncesaying");

test("usage: 100", async () => {
  expect(await run(bs, [])).toMatchObject({
    code: 100,
    stderr: "bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]\n",
  });
});

test("no program: bounce with the text", async () => {
  expect(await run(bs, ["Sorry, gone. (#5.1.1)"])).toMatchObject({
    code: 100,
    stdout: "",
    stderr: "Sorry, gone. (#5.1.1)\n",
  });
});

test.each([
  [0, 100, "go away\n"],
  [1, 0, ""],
  [100, 0, ""],
  [99, 0, ""],
])("program exits %d -> %d", async (code, want, err) => {
  expect(await run(bs, ["go away", "sh", "-c", `exit ${code}`])).toMatchObject({ code: want, stderr: err });
});

test("program exits 111 or crashes: 111", async () => {
  expect(await run(bs, ["x", "sh", "-c", "exit 111"])).toMatchObject({
    code: 111,
    stderr: "bouncesaying: fatal: temporary child error\n",
  });
  expect(await run(bs, ["x", "sh", "-c", "kill -9 $$"])).toMatchObject({
    code: 111,
    stderr: "bouncesaying: fatal: child crashed\n",
  });
});

test("the program reads the message: a header filter", async () => {
  const args = ["spam", "grep", "-q", "^X-Spam: yes"];
  expect(await run(bs, args, { input: "X-Spam: yes\n\nbody\n" })).toMatchObject({ code: 100, stderr: "spam\n" });
  expect(await run(bs, args, { input: "X-Spam: no\n\nbody\n" })).toMatchObject({ code: 0, stderr: "" });
});
