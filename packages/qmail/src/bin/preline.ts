// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, dieUnable, Exit, setProg, sigpipeIgnore, usageLine } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { type Fed, outcome, runFed } from "../lib/child.ts";

export const usage = "preline cmd [ arg ... ]";

// preline.c's die_usage.
function dieUsage(): never {
  usageLine(usage);
  throw new Exit(EXIT_USAGE);
}

// preline.c's main up to the pipe: the three lines from the environment (each required), the
// options that leave them out or put them back, and what is to go before the message.
function prelines(argv: string[], env: Env): { head: string; cmd: string[] } {
  const ufline = env.UFLINE;
  const rpline = env.RPLINE;
  const dtline = env.DTLINE;
  if (ufline === undefined || rpline === undefined || dtline === undefined) dieUsage();
  let fu = true;
  let fr = true;
  let fd = true;
  const g = getopt(argv, "frdFRD");
  for (const { opt } of g.opts) {
    if (opt === "f") fu = false;
    else if (opt === "r") fr = false;
    else if (opt === "d") fd = false;
    else if (opt === "F") fu = true;
    else if (opt === "R") fr = true;
    else if (opt === "D") fd = true;
    else dieUsage();
  }
  const cmd = g.rest;
  if (cmd.length === 0) dieUsage();
  return { head: (fu ? ufline : "") + (fr ? rpline : "") + (fd ? dtline : ""), cmd };
}

// preline(1): run cmd with $UFLINE, $RPLINE, $DTLINE put before the message (-f, -r, -d leave one out).
export function main(argv: string[], env: Env): number {
  setProg("preline");
  sigpipeIgnore();
  process.exitCode = EXIT_TEMP;
  const { head, cmd } = prelines(argv, env);
  let res: Fed;
  try {
    res = runFed(execArgs(argv).slice(argv.length - cmd.length), execEnv(env), Buffer.from(head, "utf8"));
  } catch (e) {
    dieUnable(EXIT_TEMP, "create pipe", e);
  }
  if (res.error !== undefined)
    dieUnable(errorTemp(res.error) ? EXIT_TEMP : EXIT_USAGE, `run ${cmd[0] as string}`, res.error);
  if (res.copyFailed) dieUnable(EXIT_TEMP, "copy input", res.copyError);
  const end = outcome(res.wait());
  if (end.crashed) die(EXIT_TEMP, "child crashed");
  return end.code;
}
