// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipe } from "@qts/sys/pipe";
import { lseek, rewind, SEEK_CUR, SEEK_END } from "@qts/sys/seek";
import { tmp } from "../lib/harness.ts";

test("lseek moves the shared offset that read(2) uses", () => {
  const f = join(tmp(), "f");
  writeFileSync(f, "hello world");
  const fd = openSync(f, "r");
  const b = Buffer.alloc(5);
  readSync(fd, b, 0, 5, null);
  expect(b.toString()).toBe("hello");
  expect(lseek(fd, 0, SEEK_CUR)).toBe(5);
  rewind(fd);
  readSync(fd, b, 0, 5, null);
  expect(b.toString()).toBe("hello");
  expect(lseek(fd, -5, SEEK_END)).toBe(6);
  readSync(fd, b, 0, 5, null);
  expect(b.toString()).toBe("world");
  closeSync(fd);
});

test("lseek on a pipe throws ESPIPE", () => {
  const [r, w] = pipe();
  expect(() => rewind(r)).toThrow(expect.objectContaining({ code: "ESPIPE" }));
  closeSync(r);
  closeSync(w);
});
