// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { ours } from "../lib/harness.ts";
import { injections, qqHome, runFile } from "./fixtures/qq.ts";

const cr = ours("condredirect");
const DT = "Delivered-To: joe@example.com\n";
const usage = "condredirect: usage: condredirect newaddress program [ arg ... ]\n";

test("usage: fewer than two arguments", async () => {
  const q = qqHome();
  expect(await runFile(cr, [], q.env, "")).toEqual({ code: 100, stdout: "", stderr: usage });
  expect(await runFile(cr, ["a@x"], q.env, "")).toEqual({ code: 100, stdout: "", stderr: usage });
});

test("program exits 0: the message (rewound after the program read it) goes to newaddress, sender $SENDER; 99", async () => {
  const q = qqHome();
  const r = await runFile(
    cr,
    ["new@x.org", "grep", "-q", "^X-Go: yes"],
    { ...q.env, SENDER: "s@y", DTLINE: DT },
    "X-Go: yes\n\nbody\n",
  );
  const inj = injections(q.qq);
  expect(r).toEqual({ code: 99, stdout: "", stderr: `condredirect: qp ${inj[0]?.pid}\n` });
  expect(inj[0]).toMatchObject({ msg: `${DT}X-Go: yes\n\nbody\n`, env: "Fs@y\0Tnew@x.org\0\0" });
});

test.each([1, 100, 99])("program exits %d: no redirect, 0", async (code) => {
  const q = qqHome();
  const r = await runFile(cr, ["new@x", "sh", "-c", `exit ${code}`], { ...q.env, SENDER: "s", DTLINE: DT }, "m\n");
  expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  expect(injections(q.qq)).toEqual([]);
});

test("program exits 111 or crashes: 111", async () => {
  const q = qqHome();
  const e = { ...q.env, SENDER: "s", DTLINE: DT };
  expect(await runFile(cr, ["n@x", "sh", "-c", "exit 111"], e, "")).toMatchObject({
    code: 111,
    stderr: "condredirect: fatal: temporary child error\n",
  });
  expect(await runFile(cr, ["n@x", "sh", "-c", "kill -9 $$"], e, "")).toMatchObject({
    code: 111,
    stderr: "condredirect: fatal: child crashed\n",
  });
});

test("SENDER unset: 100 (only once the program said yes)", async () => {
  const q = qqHome();
  expect(await runFile(cr, ["n@x", "true"], { ...q.env, DTLINE: DT }, "")).toEqual({
    code: 100,
    stdout: "",
    stderr: "condredirect: fatal: SENDER not set\n",
  });
  expect(await runFile(cr, ["n@x", "false"], { ...q.env, DTLINE: DT }, "")).toMatchObject({ code: 0 });
});

test("qq failure: 100 for D, 111 for Z", async () => {
  const q = qqHome();
  const e = { ...q.env, SENDER: "s", DTLINE: DT };
  expect(await runFile(cr, ["n@x", "true"], { ...e, QQEXIT: "31" }, "m\n")).toMatchObject({
    code: 100,
    stderr: "condredirect: fatal: mail server permanently rejected message (#5.3.0)\n",
  });
  expect(await runFile(cr, ["n@x", "true"], { ...e, QQEXIT: "52" }, "m\n")).toMatchObject({
    code: 111,
    stderr: "condredirect: fatal: qq timeout (#4.3.0)\n",
  });
});
