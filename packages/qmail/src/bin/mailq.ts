// SPDX-License-Identifier: MIT
// mailq: sendmail called by that name runs qmail-qread (netqmail's sendmail.c checks its program name;
// the multicall binary dispatches on that name, so the name needs an entry of its own).
import type { Env } from "@qts/core/run";
import { main as sendmail } from "./sendmail.ts";

export const usage = "mailq";

export function main(argv: string[], env: Env): number {
  return sendmail(argv, env, "mailq");
}
