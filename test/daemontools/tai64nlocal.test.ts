// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { run } from "../lib/harness.ts";
import { impls } from "./chain.ts";

const INPUT =
  "@400000006b05d9cf255c1834 x\nno stamp\n@400000006b05d9cf255c1834\n@4000000000000001000000ff y\nmid @400000006b05d9cf255c1834\n@400000006b05d9cf255c1834Z\n@40000000386d438a00000001\n";

describe.each(impls("tai64nlocal"))("tai64nlocal (%s)", (_w, bin) => {
  test("UTC", async () => {
    const r = await run(bin, [], { input: INPUT, env: { TZ: "UTC" } });
    expect(r).toMatchObject({
      code: 0,
      stdout:
        "2026-11-24 18:39:01.626792500 x\nno stamp\n2026-11-24 18:39:01.626792500\n1969-12-31 23:59:51.000000255 y\nmid @400000006b05d9cf255c1834\n2026-11-24 18:39:01.626792500Z\n2000-01-01 00:00:00.000000001\n",
    });
  });

  test("America/New_York", async () => {
    const r = await run(bin, [], { input: "@400000006b05d9cf255c1834 x\n", env: { TZ: "America/New_York" } });
    expect(r.stdout).toBe("2026-11-24 13:39:01.626792500 x\n");
  });

  test("a last line without newline passes; a label cut by the end is dropped", async () => {
    const r = await run(bin, [], { input: "a\nb c", env: { TZ: "UTC" } });
    expect(r).toMatchObject({ code: 0, stdout: "a\nb c" });
    const s = await run(bin, [], { input: "a\n@400000006b05d9cf255c", env: { TZ: "UTC" } });
    expect(s).toMatchObject({ code: 0, stdout: "a\n" });
  });
});

test("ours and the original agree on many labels", async () => {
  const all = impls("tai64nlocal");
  if (all.length < 2) return;
  let input = "";
  for (let i = 0; i < 300; i++) {
    const sec = (1n << 62n) + 10n + BigInt(Math.floor(Math.random() * 4e9));
    input += `@${sec.toString(16)}${Math.floor(Math.random() * 1e9)
      .toString(16)
      .padStart(8, "0")} line ${i}\n`;
  }
  for (const tz of ["UTC", "Europe/Berlin", "Australia/Lord_Howe"]) {
    const outs = await Promise.all(all.map(([, b]) => run(b, [], { input, env: { TZ: tz } })));
    expect(outs[0]).toEqual(outs[1] as (typeof outs)[number]);
  }
});
