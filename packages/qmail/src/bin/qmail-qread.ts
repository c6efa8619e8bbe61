// SPDX-License-Identifier: MIT
// qmail-qread: lists the messages in the queue and their recipients
// (netqmail's qmail-qread.c). Everything, warnings included, goes to stdout.
import { unable, writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { qread } from "../lib/queue/qread.ts";

export const usage = "qmail-qread";

export function main(_argv: string[], env: Env): number {
  try {
    process.chdir(qmailHome(env));
    process.chdir("queue");
  } catch (e) {
    writeAll(1, `fatal: ${unable("chdir", e)}\n`);
    return 111;
  }
  const [text, fatal] = qread();
  writeAll(1, text);
  return fatal ? 111 : 0;
}
