// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, errWrite, setProg, usageLine } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { runChild } from "../lib/child.ts";

export const usage = "bouncesaying error [ program [ arg ... ] ]";

// bouncesaying(1): bounce with the text; with a program, only when it exits 0 (111 defers, else accept).
export function main(argv: string[], env: Env): number {
  setProg("bouncesaying");
  const text = argv[0];
  if (text === undefined) {
    usageLine(usage);
    return EXIT_USAGE;
  }
  if (argv.length > 1) {
    const r = runChild(execArgs(argv).slice(1), execEnv(env));
    if (r.crashed) die(EXIT_TEMP, "child crashed");
    if (r.code === 111) die(EXIT_TEMP, "temporary child error");
    if (r.code !== 0) return EXIT_OK;
  }
  errWrite(`${text}\n`);
  return EXIT_USAGE;
}
