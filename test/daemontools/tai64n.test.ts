// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { run } from "../lib/harness.ts";
import { impls } from "./chain.ts";

const TAI = (1n << 62n) + 10n;

describe.each(impls("tai64n"))("tai64n (%s)", (_w, bin) => {
  test("stamps every line, a partial last line without a newline", async () => {
    const before = BigInt(Math.floor(Date.now() / 1000));
    const r = await run(bin, [], { input: "hello\n\nworld" });
    const after = BigInt(Math.ceil(Date.now() / 1000));
    expect(r.code).toBe(0);
    const m = /^@([0-9a-f]{16})([0-9a-f]{8}) hello\n@[0-9a-f]{24} \n@[0-9a-f]{24} world$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const sec = BigInt(`0x${m?.[1]}`) - TAI;
    expect(sec >= before && sec <= after).toBe(true);
    // taia_now: microseconds * 1000 + 500.
    expect(Number.parseInt(m?.[2] as string, 16) % 1000).toBe(500);
  });

  test("empty input: nothing, 0", async () => {
    expect(await run(bin, [], { input: "" })).toMatchObject({ code: 0, stdout: "" });
  });

  test("binary and long lines pass unchanged after the stamp", async () => {
    const line = `${"x".repeat(70000)}\u0001\n`;
    const r = await run(bin, [], { input: line + line });
    expect(r.stdout.replace(/@[0-9a-f]{24} /g, "")).toBe(line + line);
    expect(r.stdout.match(/@[0-9a-f]{24} /g)?.length).toBe(2);
  });

  test("write error: 111", async () => {
    const r = await run("sh", ["-c", `echo hi | "$0" >/dev/full`, bin]);
    expect(r.code).toBe(111);
  });
});
