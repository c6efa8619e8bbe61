// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cdb, CdbFormatError, CdbMake, cdbBuild, cdbHash, cdbWriteAtomic } from "@qts/cdb/cdb";
import fc from "fast-check";
import { original, run, tmp } from "../lib/harness.ts";

const bytesArb = fc.uint8Array({ maxLength: 24 });

describe("cdb", () => {
  test("hash matches cdb_hash.c's values", () => {
    expect(cdbHash(Buffer.from(""))).toBe(5381);
    expect(cdbHash(Buffer.from("127.0.0.1"))).toBe(0x5478120e);
    expect(cdbHash(Buffer.from("10.0.0.1"))).toBe(0x61a1d57b);
    expect(cdbHash(Buffer.from("192.168."))).toBe(0xc5b3d080);
    expect(cdbHash(Buffer.from("=.example.com"))).toBe(0xed72d6d1);
  });

  test("empty cdb: 2048-byte header, every table at 2048 with 0 slots", () => {
    const b = cdbBuild([]);
    expect(b.length).toBe(2048);
    for (let i = 0; i < 256; i++) {
      expect(b.readUInt32LE(i * 8)).toBe(2048);
      expect(b.readUInt32LE(i * 8 + 4)).toBe(0);
    }
    expect(Cdb.fromBuffer(b).get("x")).toBeUndefined();
  });

  test("round trip: every value of every key, in insertion order (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(bytesArb, fc.constantFrom(new Uint8Array([1]))), bytesArb)), (pairs) => {
        const db = Cdb.fromBuffer(cdbBuild(pairs));
        const want = new Map<string, Buffer[]>();
        for (const [k, v] of pairs) {
          const key = Buffer.from(k).toString("hex");
          want.set(key, [...(want.get(key) ?? []), Buffer.from(v)]);
        }
        for (const [key, vals] of want) {
          const got = db.getAll(Buffer.from(key, "hex"));
          expect(got.map((b) => b.toString("hex"))).toEqual(vals.map((b) => b.toString("hex")));
          expect(db.get(Buffer.from(key, "hex"))?.toString("hex")).toBe(vals[0]?.toString("hex"));
        }
        expect([...db.entries()].map(([k, v]) => [k.toString("hex"), v.toString("hex")])).toEqual(
          pairs.map(([k, v]) => [Buffer.from(k).toString("hex"), Buffer.from(v).toString("hex")]),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("absent keys are not found (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { maxLength: 40 }), fc.string(), (keys, probe) => {
        const db = Cdb.fromBuffer(cdbBuild(keys.map((k) => [k, `v${k}`])));
        expect(db.get(probe)?.toString()).toBe(keys.includes(probe) ? `v${probe}` : undefined);
      }),
    );
  });

  test("streaming to an fd and reading by pread give the same bytes as in memory", () => {
    const d = tmp();
    const pairs: [string, string][] = [];
    for (let i = 0; i < 5000; i++) pairs.push([`key${i % 3000}`, "x".repeat(i % 50)]);
    const fd = openSync(join(d, "f.cdb"), "w+");
    const m = new CdbMake(fd);
    for (const [k, v] of pairs) m.add(k, v);
    m.finish();
    const mem = cdbBuild(pairs);
    expect(readFileSync(join(d, "f.cdb")).equals(mem)).toBe(true);
    const db = Cdb.fromFd(fd);
    // key10 was added at i = 10 and i = 3010, both with 10 bytes of value.
    expect(db.getAll("key10").map(String)).toEqual(["x".repeat(10), "x".repeat(10)]);
    expect(db.get("nope")).toBeUndefined();
    closeSync(fd);
  });

  test("corrupt files: bounded, EPROTO, never a hang or an out-of-range read (property)", () => {
    const base = cdbBuild([
      ["a", "1"],
      ["b", "2"],
      ["127.0.0.1", "+X=y\0"],
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.nat(base.length),
        fc.string({ maxLength: 10 }),
        (edits, cut, key) => {
          const b = Buffer.from(base);
          for (const [at, v] of edits) b[at] = v;
          const db = Cdb.fromBuffer(b.subarray(0, cut));
          try {
            db.getAll(key);
            db.getAll("a");
            [...db.entries()];
          } catch (e) {
            expect(e).toBeInstanceOf(CdbFormatError);
            expect((e as CdbFormatError).code).toBe("EPROTO");
          }
        },
      ),
      { numRuns: 500 },
    );
    // A table whose every slot points back into itself ends after nslots probes.
    const loop = Buffer.alloc(2048 + 16);
    const h = cdbHash(Buffer.from("k"));
    loop.writeUInt32LE(2048, (h & 255) * 8);
    loop.writeUInt32LE(2, (h & 255) * 8 + 4);
    loop.writeUInt32LE(h, 2048);
    loop.writeUInt32LE(2048, 2052);
    loop.writeUInt32LE(h, 2056);
    loop.writeUInt32LE(2048, 2060);
    expect(Cdb.fromBuffer(loop).getAll("k")).toEqual([]);
  });

  test("cdbWriteAtomic: tmp then rename, mode 0644", () => {
    const d = tmp();
    writeFileSync(join(d, "x.cdb"), "old");
    cdbWriteAtomic(join(d, "x.cdb"), join(d, "x.tmp"), (m) => m.add("k", "v"));
    expect(
      Cdb.fromBuffer(readFileSync(join(d, "x.cdb")))
        .get("k")
        ?.toString(),
    ).toBe("v");
    expect(() => cdbWriteAtomic(join(d, "no/x.cdb"), join(d, "x.tmp"), () => {})).toThrow();
    let step = "";
    try {
      cdbWriteAtomic(join(d, "x.cdb"), join(d, "none/x.tmp"), () => {});
    } catch (e) {
      step = (e as { step: string }).step;
    }
    expect(step).toBe("create");
  });
});

// Byte identity with DJB's cdb_make, through Debian's tcprules (its cdb is cdb_make's output).
const tcprules = original("tcprules");
describe.skipIf(!tcprules)("cdb vs Debian tcprules", () => {
  test("the spec's rules file: 2385 bytes, identical", async () => {
    const d = tmp();
    const rules = `127.0.0.1:allow,FOO="bar",BAZ='q x'\n10.0.0.1-3:deny\n192.168.:allow,NET=/lan/\n=host.example.com:deny\n=.example.com:allow\njoe@127.0.0.2:deny\n:allow\n`;
    const r = await run(tcprules as string, [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
    expect(r.code).toBe(0);
    const theirs = readFileSync(join(d, "r.cdb"));
    expect(theirs.length).toBe(2385);
    const ours = cdbBuild([
      ["127.0.0.1", "+FOO=bar\0+BAZ=q x\0"],
      ["10.0.0.1", "D\0"],
      ["10.0.0.2", "D\0"],
      ["10.0.0.3", "D\0"],
      ["192.168.", "+NET=lan\0"],
      ["=host.example.com", "D\0"],
      ["=.example.com", ""],
      ["joe@127.0.0.2", "D\0"],
      ["", ""],
    ]);
    expect(ours.equals(theirs)).toBe(true);
  });

  test("random key sets with collisions and duplicates: identical (property)", async () => {
    const d = tmp();
    // Keys are tcprules addresses: no ':' '\n' '-' '=' '@' so each line is one record with key = text.
    const keyArb = fc.stringMatching(/^[0-9a-f.]{0,12}$/);
    const samples = fc.sample(fc.array(fc.tuple(keyArb, fc.boolean()), { minLength: 0, maxLength: 400 }), 25);
    for (const [i, s] of samples.entries()) {
      const text = s.map(([k, deny]) => `${k}:${deny ? "deny" : "allow"}\n`).join("");
      const cdb = join(d, `p${i}.cdb`);
      const r = await run(tcprules as string, [cdb, `${cdb}.tmp`], { input: text });
      expect(r.code).toBe(0);
      const ours = cdbBuild(s.filter(([k]) => !k.startsWith("#")).map(([k, deny]) => [k, deny ? "D\0" : ""]));
      expect(ours.equals(readFileSync(cdb))).toBe(true);
    }
  });
});
