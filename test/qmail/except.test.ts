// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { ours, run } from "../lib/harness.ts";

const except = ours("except");

test("usage: 100", async () => {
  expect(await run(except, [])).toMatchObject({
    code: 100,
    stdout: "",
    stderr: "except: usage: except program [ arg ... ]\n",
  });
});

test.each([
  [0, 100],
  [100, 0],
  [1, 0],
  [99, 0],
])("program exits %d -> %d", async (code, want) => {
  expect(await run(except, ["sh", "-c", `echo out; exit ${code}`])).toMatchObject({
    code: want,
    stdout: "out\n",
    stderr: "",
  });
});

test("111 stays 111 with a message", async () => {
  expect(await run(except, ["sh", "-c", "exit 111"])).toMatchObject({
    code: 111,
    stderr: "except: fatal: temporary child error\n",
  });
});

test("crash: 111", async () => {
  expect(await run(except, ["sh", "-c", "kill -9 $$"])).toMatchObject({
    code: 111,
    stderr: "except: fatal: child crashed\n",
  });
});

test("program not found: the child's exit 100, reversed to 0", async () => {
  expect(await run(except, ["/nonexistent/prog"])).toMatchObject({ code: 0, stderr: "" });
});

test("stdin reaches the program", async () => {
  expect(await run(except, ["grep", "-q", "needle"], { input: "hay\nneedle\n" })).toMatchObject({ code: 100 });
});
