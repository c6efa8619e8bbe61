// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, setProg, usageLine } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { runChild } from "../lib/child.ts";

export const usage = "except program [ arg ... ]";

// except(1): run program and reverse its verdict: 0 -> 100, 111 stays 111, anything else -> 0.
export function main(argv: string[], env: Env): number {
  setProg("except");
  if (argv.length === 0) {
    usageLine(usage);
    return EXIT_USAGE;
  }
  const r = runChild(execArgs(argv), execEnv(env));
  if (r.crashed) die(EXIT_TEMP, "child crashed");
  if (r.code === 0) return EXIT_USAGE;
  if (r.code === 111) die(EXIT_TEMP, "temporary child error");
  return EXIT_OK;
}
