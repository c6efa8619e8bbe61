// SPDX-License-Identifier: MIT
// newaliases: sendmail called by that name refuses, pointing at fastforward (netqmail's sendmail.c).
import type { Env } from "@qts/core/run";
import { main as sendmail } from "./sendmail.ts";

export const usage = "newaliases";

export function main(argv: string[], env: Env): number {
  return sendmail(argv, env, "newaliases");
}
