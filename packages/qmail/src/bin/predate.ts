// SPDX-License-Identifier: MIT
// predate child [arg ...]: runs child with a Date: line (local time, numeric
// offset) put in front of stdin (predate(1), netqmail's predate.c).
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, dieUnable, Exit, setProg, sigpipeIgnore, usageLine } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { setBlocking } from "@qts/sys/exec";
import { outcome, runFed } from "../lib/child.ts";
import { date822 } from "../lib/date822.ts";

export const usage = "predate child";

export function main(argv: string[], env: Env): number {
  setProg("predate");
  sigpipeIgnore();
  const child = argv[0];
  if (child === undefined) {
    usageLine(usage);
    throw new Exit(100);
  }
  try {
    setBlocking(0, true);
  } catch {}
  let fed: ReturnType<typeof runFed>;
  try {
    fed = runFed(execArgs(argv), execEnv(env), Buffer.from(`Date: ${date822()}\n`));
  } catch (e) {
    dieUnable(111, "create pipe", e);
  }
  if (fed.error !== undefined) dieUnable(111, `run ${child}`, fed.error);
  // predate.c leaves substdio_copy unchecked: a child that stops reading has the last word through its exit.
  const end = outcome(fed.wait());
  if (end.crashed) die(111, "child crashed");
  return end.code;
}
