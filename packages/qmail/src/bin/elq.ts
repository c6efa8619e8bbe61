// SPDX-License-Identifier: MIT
// elq.sh: maildir2mbox, then elm with the arguments given.
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { maildirThen } from "../lib/local/mailwrap.ts";

export const usage = "elq [ elm arguments ]";

export function main(argv: string[], env: Env): number {
  setProg("elq");
  maildirThen("elm", argv, env);
}
