// SPDX-License-Identifier: MIT
// mailsubj subject recip ...: sends stdin to the recipients with that
// Subject, through qmail-inject (netqmail's mailsubj.sh).
import { rawArgs } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { fold } from "../lib/inject/header.ts";
import { guardPending, Injector, Input } from "../lib/inject/inject.ts";

export const usage = "mailsubj subject recip ...";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-inject");
  sigpipeIgnore();
  // The arguments' bytes as given (core/bytes.ts): the header is built from byte strings.
  const args = rawArgs(argv);
  const subject = args[0] ?? "";
  const to = args.slice(1).join(" ");
  // A newline in an argument folds into the field instead of starting a new one.
  const head = `${fold(`Subject: ${subject}\n`)}${fold(to ? `To: ${to}\n` : "To:\n")}\n`;
  guardPending();
  return new Injector(env).run([], new Input(0, Buffer.from(head, "latin1")));
}
