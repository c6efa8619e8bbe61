// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { closeSync, writeSync } from "node:fs";
import { pipe } from "@qts/sys/pipe";
import { setSendTimeout } from "@qts/sys/sndtimeo";
import { socketpair } from "@qts/sys/socketpair";

test("a blocking write to a full socket fails with EAGAIN after the send timeout", () => {
  const [a, b] = socketpair();
  setSendTimeout(a, 300);
  const chunk = Buffer.alloc(65536);
  const t0 = Date.now();
  let err: string | undefined;
  try {
    for (let i = 0; i < 10000; i++) writeSync(a, chunk);
  } catch (e) {
    err = (e as { code?: string }).code;
  }
  const dt = Date.now() - t0;
  expect(err).toBe("EAGAIN");
  expect(dt).toBeGreaterThanOrEqual(250);
  expect(dt).toBeLessThan(5000);
  closeSync(a);
  closeSync(b);
});

test("a pipe is not a socket: ENOTSOCK", () => {
  const [r, w] = pipe();
  expect(() => setSendTimeout(w, 100)).toThrow();
  closeSync(r);
  closeSync(w);
});
