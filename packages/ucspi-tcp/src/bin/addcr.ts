// SPDX-License-Identifier: MIT
// addcr.c: a CR before every LF of standard input, to standard output.
import { setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { addCr, pump } from "../lib/crlf.ts";

export const usage = "addcr";

// Arguments are ignored. A read or write error ends it with 111 and no message
// (buffer_0's read flushes the output first and _exit(111)s when that fails).
export function main(_argv: string[], _env: Env): number {
  setProg("addcr");
  try {
    pump(0, addCr(), (b) => writeAll(1, b));
  } catch {
    return EXIT_TEMP;
  }
  return EXIT_OK;
}
