// SPDX-License-Identifier: MIT
import { dieSys, setProg, usageLine } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { maildirMake } from "../lib/maildir.ts";

export const usage = "maildirmake name";

// maildirmake(1): name, name/tmp, name/new, name/cur, each mode 700.
export function main(argv: string[], _env: Env): number {
  setProg("maildirmake");
  process.umask(0o077);
  const name = argv[0];
  if (name === undefined) {
    usageLine(usage);
    return EXIT_USAGE;
  }
  try {
    maildirMake(name);
  } catch (e) {
    const step = (e as { step?: string }).step;
    if (step === "mkdir") dieSys(EXIT_TEMP, e, "unable to mkdir ", name);
    if (step === "chdir") dieSys(EXIT_TEMP, e, "unable to chdir to ", name);
    dieSys(EXIT_TEMP, e, "unable to mkdir ", name, "/", step ?? "");
  }
  return EXIT_OK;
}
