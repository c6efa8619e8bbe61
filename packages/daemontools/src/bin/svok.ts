// SPDX-License-Identifier: MIT
import { dieUnable, dieUsage, setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { constants, openSync } from "@qts/sys/fs";

export const usage = "svok dir";

// svok(8): 0 if a supervise holds supervise/ok, 100 if not, 111 on trouble.
export function main(argv: string[], _env: Env): number {
  setProg("svok");
  const dir = argv[0];
  if (dir === undefined) dieUsage(usage);
  try {
    process.chdir(dir);
  } catch (e) {
    dieUnable(EXIT_TEMP, `chdir to ${dir}`, e);
  }
  try {
    // O_NONBLOCK: a FIFO with no reader fails at once with ENXIO instead of blocking.
    openSync("supervise/ok", constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = errnoName(e);
    if (code === "ENXIO" || code === "ENOENT") return EXIT_USAGE;
    dieUnable(EXIT_TEMP, `open ${dir}/supervise/ok`, e);
  }
  return EXIT_OK;
}
