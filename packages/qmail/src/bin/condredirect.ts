// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { die, dieUnable, setProg, sigpipeIgnore, usageLine } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { rewind } from "@qts/sys/seek";
import { runChild } from "../lib/child.ts";
import { reinject } from "./forward.ts";

export const usage = "condredirect newaddress program [ arg ... ]";

// condredirect(1): when program exits 0, forward to newaddress (sender $SENDER) and exit 99.
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("condredirect");
  process.exitCode = EXIT_TEMP;
  if (argv.length < 2) {
    usageLine(usage);
    return EXIT_USAGE;
  }
  const r = runChild(execArgs(argv).slice(1), execEnv(env));
  if (r.crashed) die(EXIT_TEMP, "child crashed");
  if (r.code === 111) die(EXIT_TEMP, "temporary child error");
  if (r.code !== 0) return EXIT_OK;
  try {
    rewind(0);
  } catch (e) {
    dieUnable(EXIT_TEMP, "rewind", e);
  }
  sigpipeIgnore();
  const sender = env.SENDER;
  if (sender === undefined) die(EXIT_USAGE, "SENDER not set");
  const dtline = env.DTLINE;
  if (dtline === undefined) die(EXIT_USAGE, "DTLINE not set");
  return await reinject("condredirect", sender, dtline, [argv[0] as string], env, 99);
}
