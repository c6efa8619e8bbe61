// SPDX-License-Identifier: MIT
// qail.sh: maildir2mbox, then Mail with the arguments given.
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { maildirThen } from "../lib/local/mailwrap.ts";

export const usage = "qail [ Mail arguments ]";

export function main(argv: string[], env: Env): number {
  setProg("qail");
  maildirThen("Mail", argv, env);
}
