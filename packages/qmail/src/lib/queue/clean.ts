// SPDX-License-Identifier: MIT
// One qmail-clean request (qmail-clean.c): `foop/N\0` unlinks intd/N and
// mess/<N%23>/N, `todo/N\0` unlinks intd/N and todo/N; ENOENT counts as done.
import { errnoName } from "@qts/core/errstr";
import { unlinkSync } from "@qts/sys/fs";
import { AUTO_SPLIT } from "../conf.ts";

function unlinkOk(fn: string): boolean {
  try {
    unlinkSync(fn);
  } catch (e) {
    if (errnoName(e) !== "ENOENT") return false;
  }
  return true;
}

/** The answer byte: "+" done, "!" an unlink failed, "x" a malformed request. line ends in its NUL. */
export function cleanRequest(line: Buffer): string {
  if (line.length < 7 || line.length > 100) return "x";
  if (line[line.length - 1] !== 0) return "x";
  const digits = line.subarray(5, line.length - 1).toString("latin1");
  if (!/^\d+$/.test(digits)) return "x";
  const id = Number(digits);
  const head = line.subarray(0, 5).toString("latin1");
  if (head === "foop/") {
    if (!unlinkOk(`intd/${id}`)) return "!";
    if (!unlinkOk(`mess/${id % AUTO_SPLIT}/${id}`)) return "!";
    return "+";
  }
  if (head.startsWith("todo")) {
    if (!unlinkOk(`intd/${id}`)) return "!";
    if (!unlinkOk(`todo/${id}`)) return "!";
    return "+";
  }
  return "x";
}
