// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { formatLocal, fromUnix, label, now, pack, parseHex, TAI_OFFSET, toUnix, unpack } from "@qts/tai64/tai64";
import fc from "fast-check";

test("label = 2^62 + 10 + unix seconds (spec: status at 1795545431 has 4000 0000 6b05 d961)", () => {
  const t = fromUnix(1795545431, 0x1daa621c);
  expect(Buffer.from(pack(t)).toString("hex")).toBe("400000006b05d9611daa621c");
  expect(label(t)).toBe("@400000006b05d9611daa621c");
});

test("now() is the current unix time + 10 past 2^62", () => {
  const t = now();
  expect(Math.abs(toUnix(t) - Date.now() / 1000)).toBeLessThan(2);
  expect(t.sec - TAI_OFFSET).toBe(BigInt(toUnix(t)));
  expect(t.nano).toBeLessThan(1e9);
});

test("tai64nlocal examples (TZ=UTC via process env)", () => {
  process.env.TZ = "UTC";
  const a = parseHex("400000006b05d9cf255c1834 x");
  expect(a.len).toBe(24);
  expect(formatLocal(a.t)).toBe("2026-11-24 18:39:01.626792500");
  expect(formatLocal(parseHex("4000000000000001000000ff").t)).toBe("1969-12-31 23:59:51.000000255");
});

test("property: pack/unpack and label/parseHex round-trip", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 999999999 }), (s, n) => {
      const t = fromUnix(s, n);
      expect(unpack(pack(t))).toEqual(t);
      const p = parseHex(label(t).slice(1));
      expect(p.t).toEqual(t);
      expect(p.len).toBe(24);
    }),
  );
});
