// SPDX-License-Identifier: MIT
// pinq.sh: maildir2mbox, then pine with the arguments given.
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { maildirThen } from "../lib/local/mailwrap.ts";

export const usage = "pinq [ pine arguments ]";

export function main(argv: string[], env: Env): number {
  setProg("pinq");
  maildirThen("pine", argv, env);
}
