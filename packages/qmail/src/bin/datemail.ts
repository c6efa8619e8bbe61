// SPDX-License-Identifier: MIT
// datemail: `predate <home>/bin/sendmail args...` (netqmail's datemail.sh).
import { join } from "node:path";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { main as predate } from "./predate.ts";

export const usage = "datemail [ sendmail options ] [ arg ... ]";

export function main(argv: string[], env: Env): number {
  return predate([join(qmailHome(env), "bin", "sendmail"), ...argv], env);
}
