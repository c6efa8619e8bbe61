// SPDX-License-Identifier: MIT
import { writeSync } from "node:fs";
import { Exit, getProg } from "./die.ts";
import { EXIT_TEMP } from "./exit.ts";

export type Env = Record<string, string | undefined>;
export type Main = (argv: string[], env: Env) => number | Promise<number>;

function report(e: unknown): number {
  if (e instanceof Exit) return e.code;
  try {
    writeSync(2, `${getProg()}: fatal: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  } catch {}
  return EXIT_TEMP;
}

/**
 * The one place that exits. argv is the program's arguments without argv[0]
 * (DJB programs ignore their own name). A main may return a code, throw Exit
 * (die/usage), or return a promise; -1 means "stay alive" (a daemon whose
 * event loop ends the process itself by calling exit()).
 */
export function run(main: Main): void {
  const argv = process.argv.slice(2);
  const done = (code: number) => {
    if (code >= 0) process.exit(code);
  };
  try {
    const r = main(argv, process.env);
    if (typeof r === "number") done(r);
    else r.then(done, (e) => done(report(e)));
  } catch (e) {
    done(report(e));
  }
}

/** Ends the process now, for daemons whose end comes from an event, not from main's return. */
export function exit(code: number): never {
  process.exit(code);
}
