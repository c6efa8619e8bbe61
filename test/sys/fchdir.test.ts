// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { chdirBytes } from "@qts/sys/chdir";
import { tmp } from "../lib/harness.ts";

test("chdirBytes changes to a directory whose name is not UTF-8; errors are SysErrors with the errno", () => {
  const start = process.cwd();
  const dir = Buffer.from([...Buffer.from(`${tmp()}/d`), 0xe9, 0xff]);
  mkdirSync(dir);
  writeFileSync(Buffer.concat([dir, Buffer.from("/f")]), "here");
  try {
    chdirBytes(dir);
    expect(readFileSync("f", "utf8")).toBe("here");
    expect(() => chdirBytes(Buffer.from("/nonexistent/x"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  } finally {
    process.chdir(start);
  }
});
