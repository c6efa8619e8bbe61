// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, tmp } from "../lib/harness.ts";
import { impls, inheritedFdTable } from "./chain.ts";

function specDir(): string {
  const d = join(tmp(), "ed");
  mkdirSync(d);
  writeFileSync(join(d, "A"), "first\nsecond\n");
  writeFileSync(join(d, "B"), "trail  \t \n");
  writeFileSync(join(d, "C"), "a\0b\n");
  writeFileSync(join(d, "D"), "");
  writeFileSync(join(d, "E"), "\n");
  writeFileSync(join(d, "F"), "no newline ");
  writeFileSync(join(d, ".hidden"), "hid\n");
  return d;
}

describe.each(impls("envdir"))("envdir (%s)", (_w, bin) => {
  test("usage: 111, not 100", async () => {
    for (const args of [[], ["dir"]]) {
      const r = await run(bin, args);
      expect(r).toMatchObject({ code: 111, stderr: "envdir: usage: envdir dir child\n" });
    }
  });

  test("spec example", async () => {
    const d = specDir();
    const r = await run(bin, [d, "/usr/bin/env"], { env: { D: "old", A: "x", Z: "1" }, extendEnv: false });
    expect(r.code).toBe(0);
    const env = `\n${r.stdout}`;
    for (const v of ["Z=1", "A=first", "B=trail", "C=a\nb", "E=", "F=no newline"]) expect(env).toContain(`\n${v}\n`);
    expect(env).not.toContain("\nD=");
    expect(env).not.toContain("hid");
  });

  test("missing dir, subdirectory, child not found: 111", async () => {
    const r1 = await run(bin, ["/nonexist", "true"]);
    expect(r1).toMatchObject({
      code: 111,
      stderr: "envdir: fatal: unable to switch to directory /nonexist: file does not exist\n",
    });
    const d = join(tmp(), "ed2");
    mkdirSync(join(d, "sub"), { recursive: true });
    const r2 = await run(bin, [d, "true"]);
    expect(r2).toMatchObject({ code: 111, stderr: `envdir: fatal: unable to read ${d}/sub: is a directory\n` });
    const r3 = await run(bin, [specDir(), "/nonexist"]);
    expect(r3).toMatchObject({ code: 111, stderr: "envdir: fatal: unable to run /nonexist: file does not exist\n" });
  });

  test("relative dir, then the child runs in the starting directory", async () => {
    const base = tmp();
    mkdirSync(join(base, "e"));
    writeFileSync(join(base, "e/V"), "v\n");
    const r = await run(bin, ["e", "sh", "-c", 'echo "$V $(pwd)"'], { cwd: base });
    expect(r.stdout).toBe(`v ${base}\n`);
  });
});

test("ours and the original give the same environment, in the same order", async () => {
  const all = impls("envdir");
  if (all.length < 2) return;
  const d = specDir();
  for (const n of ["q", "b", "x", "m"]) writeFileSync(join(d, n), `${n}\n`);
  symlinkSync("/nonexist", join(d, "dangling"));
  const outs = await Promise.all(
    all.map(([, b]) => run(b, [d, "/usr/bin/env"], { env: { D: "old", A: "x", Z: "1", m: "0" }, extendEnv: false })),
  );
  expect(outs[0]).toEqual(outs[1] as (typeof outs)[number]);
});

test("fds inherited from the parent reach the program, as with the original", async () => {
  const all = impls("envdir");
  const tables = await Promise.all(all.map(([, b]) => inheritedFdTable(b, [tmp()])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain("9 -> /dev/null");
  if (tables[1] !== undefined) expect(tables[0]).toBe(tables[1]);
});
