// SPDX-License-Identifier: MIT
import { dieUnable, setProg, usageLine } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { maildirMake } from "../lib/local/maildir.ts";

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
    if (step === "mkdir") dieUnable(EXIT_TEMP, `mkdir ${name}`, e);
    if (step === "chdir") dieUnable(EXIT_TEMP, `chdir to ${name}`, e);
    dieUnable(EXIT_TEMP, `mkdir ${name}/${step ?? ""}`, e);
  }
  return EXIT_OK;
}
