// SPDX-License-Identifier: MIT
// core/path.ts and core/bytes.ts's isUtf8 stand in for node:path and node:buffer at start-up
// (BENCHMARKS.md, "Start-up: lazy modules"), core/errstr.ts's errno table for node:os's
// (BENCHMARKS.md, "Start-up: trims"): they must give the same results for every input.
import { describe, expect, test } from "bun:test";
import { isUtf8 as nodeIsUtf8 } from "node:buffer";
import { constants } from "node:os";
import * as node from "node:path";
import { isUtf8 } from "@qts/core/bytes";
import { errnos } from "@qts/core/errstr";
import { dirname, isAbsolute, join, normalize } from "@qts/core/path";
import fc from "fast-check";

// Names made of the characters that matter to a path: "/", ".", and a letter.
const piece = fc.stringMatching(/^[/.a]{0,8}$/);
const EDGES = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///",
  "./",
  "../",
  "/..",
  "/../",
  "a",
  "a/",
  "a//",
  "/a",
  "//a",
  "/a//b",
  "a/../..",
  "../a/..",
  "a/..",
  "a/../",
  "...",
  "a../..",
  ".a/b/../../..",
  "/var/qmail/",
  "/var/qmail//control/me",
];

describe("core/path against node:path", () => {
  test.each(EDGES)("%p", (p) => {
    expect(normalize(p)).toBe(node.normalize(p));
    expect(dirname(p)).toBe(node.dirname(p));
    expect(isAbsolute(p)).toBe(node.isAbsolute(p));
    expect(join(p)).toBe(node.join(p));
  });
  test("normalize, dirname, isAbsolute: any path", () => {
    fc.assert(
      fc.property(piece, (p) => {
        expect(normalize(p)).toBe(node.normalize(p));
        expect(dirname(p)).toBe(node.dirname(p));
        expect(isAbsolute(p)).toBe(node.isAbsolute(p));
      }),
      { numRuns: 5000 },
    );
  });
  test("join: any parts", () => {
    expect(join()).toBe(node.join());
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 4 }), (parts) => {
        expect(join(...parts)).toBe(node.join(...parts));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("core/bytes isUtf8 against node:buffer", () => {
  const hex = (h: string) => Buffer.from(h.replace(/ /g, ""), "hex");
  test.each([
    ["empty", ""],
    ["ASCII", "2f726f6f74"],
    ["2 bytes", "c3a9"],
    ["3 bytes", "e282ac"],
    ["4 bytes", "f09f9880"],
    ["U+10FFFF", "f48fbfbf"],
    ["past U+10FFFF", "f4908080"],
    ["F5", "f5808080"],
    ["overlong /", "c0af"],
    ["overlong 3", "e080af"],
    ["overlong 4", "f08080af"],
    ["surrogate", "eda080"],
    ["lone continuation", "80"],
    ["truncated", "e282"],
    ["BOM", "efbbbf41"],
    ["NUL", "00"],
    ["latin1 e9", "e9"],
  ])("%s", (_, h) => {
    expect(isUtf8(hex(h))).toBe(nodeIsUtf8(hex(h)));
  });
  test("any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
        expect(isUtf8(b)).toBe(nodeIsUtf8(b));
      }),
      { numRuns: 20000 },
    );
    // mostly well-formed: text with a byte changed
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 8 }),
        fc.nat(40),
        fc.integer({ min: 0, max: 255 }),
        (s, at, v) => {
          const b = Buffer.from(s);
          if (b.length > 0) b[at % b.length] = v;
          expect(isUtf8(b)).toBe(nodeIsUtf8(b));
        },
      ),
      { numRuns: 20000 },
    );
  });
});

test("core/errstr's errno numbers are node:os's, names in the same order", () => {
  const ours = errnos();
  const theirs = constants.errno as Record<string, number>;
  expect(Object.entries(ours)).toEqual(Object.entries(theirs));
});
