// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { ours, run } from "../lib/harness.ts";
import { injections, qqHome, runFile } from "./fixtures/qq.ts";

const forward = ours("forward");
const DT = "Delivered-To: joe@example.com\n";

describe("forward", () => {
  test("injects DTLINE + stdin, sender $NEWSENDER, every argument a recipient; prints qp", async () => {
    const q = qqHome();
    const r = await runFile(
      forward,
      ["a@x.org", "b@y.org"],
      { ...q.env, NEWSENDER: "owner@ex", DTLINE: DT },
      "S: 1\n\nb\n",
    );
    const inj = injections(q.qq);
    expect(inj.length).toBe(1);
    expect(r).toEqual({ code: 0, stdout: "", stderr: `forward: qp ${inj[0]?.pid}\n` });
    expect(inj[0]).toMatchObject({ msg: `${DT}S: 1\n\nb\n`, env: "Fowner@ex\0Ta@x.org\0Tb@y.org\0\0" });
  });

  test("reads a pipe too (no rewind needed)", async () => {
    const q = qqHome();
    const p = await run(forward, ["a@x.org"], {
      input: "hi\n",
      env: { ...q.env, NEWSENDER: "", DTLINE: DT },
      extendEnv: false,
    });
    expect(p.code).toBe(0);
    expect(injections(q.qq)[0]).toMatchObject({ msg: `${DT}hi\n`, env: "F\0Ta@x.org\0\0" });
  });

  test("NEWSENDER or DTLINE unset: 100", async () => {
    const q = qqHome();
    expect(await runFile(forward, ["a@x"], { ...q.env, DTLINE: DT }, "")).toEqual({
      code: 100,
      stdout: "",
      stderr: "forward: fatal: NEWSENDER not set\n",
    });
    expect(await runFile(forward, ["a@x"], { ...q.env, NEWSENDER: "s" }, "")).toEqual({
      code: 100,
      stdout: "",
      stderr: "forward: fatal: DTLINE not set\n",
    });
  });

  test.each([
    ["31", 100, "forward: fatal: mail server permanently rejected message (#5.3.0)\n"],
    ["53", 111, "forward: fatal: qq write error or disk full (#4.3.0)\n"],
  ])("qq exit %s -> %d", async (qqexit, code, err) => {
    const q = qqHome();
    const r = await runFile(forward, ["a@x"], { ...q.env, NEWSENDER: "s", DTLINE: DT, QQEXIT: qqexit }, "m\n");
    expect(r).toEqual({ code: code as number, stdout: "", stderr: err as string });
  });

  test("qmail-queue cannot run: 111", async () => {
    const q = qqHome();
    const r = await runFile(
      forward,
      ["a@x"],
      { ...q.env, NEWSENDER: "s", DTLINE: DT, QMAILQUEUE: "/nonexistent" },
      "m\n",
    );
    expect(r).toEqual({ code: 111, stdout: "", stderr: "forward: fatal: unable to exec qq (#4.3.0)\n" });
  });
});
