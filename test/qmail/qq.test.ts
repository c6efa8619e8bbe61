// SPDX-License-Identifier: MIT
// qmail-queue's exit codes and qmail_close()'s texts for them (lib/queue/qq.ts; qmail-queue(8), qmail.c).
import { describe, expect, test } from "bun:test";
import { QQ, qqExitText } from "@qts/qmail/lib/queue/qq";

describe("qmail-queue exit codes", () => {
  test.each([
    [0, ""],
    [QQ.ADDR_TOO_LONG, "Denvelope address too long for qq (#5.1.3)"],
    [115, "Denvelope address too long for qq (#5.1.3)"],
    [QQ.WRITE, "Zqq write error or disk full (#4.3.0)"],
    [QQ.READ, "Zqq read error (#4.3.0)"],
    [QQ.TODO, "Zqq trouble creating files in queue (#4.3.0)"],
    [QQ.ENVELOPE, "Zqq internal bug (#4.3.0)"],
    [QQ.EXEC, "Zunable to exec qq (#4.3.0)"],
    [20, "Dqq permanent problem (#5.3.0)"],
    [99, "Zqq temporary problem (#4.3.0)"],
  ])("%d", (code, text) => {
    expect(qqExitText(code)).toBe(text);
  });
  test("crash", () => expect(qqExitText("crash")).toBe("Zqq crashed (#4.3.0)"));
});
