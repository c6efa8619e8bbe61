// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { ours, run } from "../lib/harness.ts";

const preline = ours("preline");
const env = {
  PATH: "/usr/bin:/bin",
  UFLINE: "From a@b Fri Nov 27 07:18:06 2026\n",
  RPLINE: "Return-Path: <a@b>\n",
  DTLINE: "Delivered-To: joe@example.com\n",
};
const usage = "preline: usage: preline cmd [ arg ... ]\n";

test("prepends UFLINE, RPLINE, DTLINE", async () => {
  const r = await run(preline, ["cat"], { env, extendEnv: false, input: "Subject: x\n\nbody\n" });
  expect(r).toMatchObject({ code: 0, stderr: "" });
  expect(r.stdout).toBe(`${env.UFLINE}${env.RPLINE}${env.DTLINE}Subject: x\n\nbody\n`);
});

test.each([
  [["-f"], "RD"],
  [["-r"], "UD"],
  [["-d"], "UR"],
  [["-frd"], ""],
  [["-f", "-F"], "URD"],
  [["-dD", "-r"], "UD"],
])("options %p", async (opts, want) => {
  const r = await run(preline, [...opts, "cat"], { env, extendEnv: false, input: "m\n" });
  const pick: Record<string, string> = { U: env.UFLINE, R: env.RPLINE, D: env.DTLINE };
  expect(r.stdout).toBe(`${[...want].map((c) => pick[c]).join("")}m\n`);
});

test("the program's exit code is preline's", async () => {
  expect(
    await run(preline, ["sh", "-c", "cat >/dev/null; exit 99"], { env, extendEnv: false, input: "" }),
  ).toMatchObject({
    code: 99,
  });
});

test("usage: no command, a missing variable, a bad option", async () => {
  expect(await run(preline, [], { env, extendEnv: false })).toMatchObject({ code: 100, stderr: usage });
  expect(await run(preline, ["cat"], { env: { ...env, DTLINE: undefined }, extendEnv: false })).toMatchObject({
    code: 100,
    stderr: usage,
  });
  expect(await run(preline, ["-x", "cat"], { env, extendEnv: false })).toMatchObject({
    code: 100,
    stderr: `preline: illegal option -- x\n${usage}`,
  });
});

test("a program that cannot run: 100 with the exec error", async () => {
  expect(await run(preline, ["/nonexistent/prog"], { env, extendEnv: false, input: "" })).toMatchObject({
    code: 100,
    stderr: "preline: fatal: unable to run /nonexistent/prog: file does not exist\n",
  });
});

test("crash: 111", async () => {
  expect(
    await run(preline, ["sh", "-c", "cat >/dev/null; kill -9 $$"], { env, extendEnv: false, input: "" }),
  ).toMatchObject({
    code: 111,
    stderr: "preline: fatal: child crashed\n",
  });
});

test("a large message streams through", async () => {
  const big = `${"x".repeat(99)}\n`.repeat(20000);
  const r = await run(preline, ["-frd", "wc", "-c"], { env, extendEnv: false, input: big });
  expect(r).toMatchObject({ code: 0, stdout: `${big.length}\n` });
});
