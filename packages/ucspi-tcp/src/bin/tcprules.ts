// SPDX-License-Identifier: MIT
import { cdbWriteAtomic } from "@qts/cdb/cdb";
import { dieUnable, dieUsage, Exit, setProg, writeAll } from "@qts/core/die";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { readAll } from "../lib/readall.ts";
import { BadLine, compileRules } from "../lib/rules.ts";

export const usage = "tcprules rules.cdb rules.tmp";

// tcprules(1): rules text on stdin → cdb in tmp, fsync, close, rename.
export function main(argv: string[], _env: Env): number {
  setProg("tcprules");
  const fn = argv[0];
  const fntemp = argv[1];
  if (fn === undefined || fntemp === undefined) dieUsage(usage);
  try {
    cdbWriteAtomic(fn, fntemp, (m) => {
      let input: Buffer;
      try {
        input = readAll(0);
      } catch (e) {
        dieUnable(EXIT_TEMP, "read input", e);
      }
      try {
        compileRules(input, (k, d) => m.add(k, d));
      } catch (e) {
        if (!(e instanceof BadLine)) throw e;
        // strerr prints the line as a C string: up to its first NUL.
        const nul = e.line.indexOf(0);
        const line = nul < 0 ? e.line : e.line.subarray(0, nul);
        writeAll(
          2,
          Buffer.concat([Buffer.from("tcprules: fatal: unable to parse this line: "), line, Buffer.from("\n")]),
        );
        throw new Exit(EXIT_USAGE);
      }
    });
  } catch (e) {
    if (e instanceof Exit) throw e;
    const step = (e as { step?: string }).step;
    if (step === "create") dieUnable(EXIT_TEMP, `create ${fntemp}`, e);
    if (step === "rename") dieUnable(EXIT_TEMP, `move ${fntemp} to ${fn}`, e);
    dieUnable(EXIT_TEMP, `write to ${fntemp}`, e);
  }
  return 0;
}
