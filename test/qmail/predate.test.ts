// SPDX-License-Identifier: MIT
// predate: a local-time Date line in front of the child's stdin (netqmail's predate.c).
import { describe, expect, test } from "bun:test";
import { ours, run } from "../lib/harness.ts";

const predate = ours("predate");
const env = (tz: string) => ({ env: { PATH: "/usr/bin:/bin", TZ: tz }, extendEnv: false, input: "" });

describe("predate", () => {
  test("no child: usage, 100", async () => {
    expect(await run(predate, [], env("UTC"))).toMatchObject({
      code: 100,
      stdout: "",
      stderr: "predate: usage: predate child\n",
    });
  });

  test("prepends Date: in local time with the numeric offset", async () => {
    for (const [tz, off] of [
      ["UTC", "+0000"],
      ["Asia/Kolkata", "+0530"],
      ["America/St_Johns", /-0[23]30/],
    ] as const) {
      const r = await run(predate, ["cat"], { ...env(tz), input: "Subject: x\n\nbody" });
      expect(r.code).toBe(0);
      const m = /^Date: (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d{4})\nSubject: x\n\nbody$/.exec(
        r.stdout,
      );
      expect(m).not.toBeNull();
      expect((m as RegExpExecArray)[7]).toMatch(off);
      // the printed local time minus the offset is now
      const [, d, mon, y, hh, mi, ss, o] = m as RegExpExecArray;
      const sign = (o as string)[0] === "-" ? -1 : 1;
      const offMin = sign * (Number((o as string).slice(1, 3)) * 60 + Number((o as string).slice(3)));
      const local = Date.parse(`${mon} ${d} ${y} ${hh}:${mi}:${ss} GMT`);
      expect(Math.abs(local - offMin * 60_000 - Date.now())).toBeLessThan(5000);
    }
  });

  test("the child's exit code is predate's; a crash or a missing child is 111", async () => {
    expect((await run(predate, ["sh", "-c", "cat >/dev/null; exit 7"], env("UTC"))).code).toBe(7);
    expect(await run(predate, ["sh", "-c", "kill -9 $$"], env("UTC"))).toMatchObject({
      code: 111,
      stderr: "predate: fatal: child crashed\n",
    });
    expect(await run(predate, ["/nonexistent/prog"], env("UTC"))).toMatchObject({
      code: 111,
      stderr: "predate: fatal: unable to run /nonexistent/prog: file does not exist\n",
    });
  });

  test("the whole input reaches the child unchanged", async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 255;
    const r = await run(predate, ["sh", "-c", "tail -c +2 | sed 1d | cksum"], { ...env("UTC"), input: big });
    const want = await run("sh", ["-c", "tail -c +2 | cksum"], { input: Buffer.concat([Buffer.from("D"), big]) });
    expect(r.stdout).toBe(want.stdout);
  }, 30_000);
});
