// SPDX-License-Identifier: MIT
// qmail-inject [ -nNaAhH ] [ -fsender ] [ recip ... ]  (qmail-inject(8))
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { guardPending, Injector, Input } from "../lib/inject/inject.ts";

export const usage = "qmail-inject [ -nNaAhH ] [ -fsender ] [ recip ... ]";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-inject");
  sigpipeIgnore();
  guardPending();
  return new Injector(env).run(argv, new Input(0));
}
