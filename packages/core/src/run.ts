// SPDX-License-Identifier: MIT
import { Exit, getProg, writeAll } from "./die.ts";
import { EXIT_TEMP } from "./exit.ts";

export type Env = Record<string, string | undefined>;
export type Main = (argv: string[], env: Env) => number | Promise<number>;

function report(e: unknown): number {
  if (e instanceof Exit) return e.code;
  try {
    writeAll(2, `${getProg()}: fatal: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  } catch {}
  return EXIT_TEMP;
}

/**
 * The one place that exits. argv is the program's arguments without argv[0]
 * (DJB programs ignore their own name). A main may return a code, throw Exit
 * (die/usage), or return a promise of the code (a daemon's promise settles
 * when it is done). A code of -1 leaves the process to its event loop.
 */
export function run(main: Main): void {
  const argv = process.argv.slice(2);
  const done = (code: number) => {
    if (code >= 0) exit(code);
  };
  // die() inside an event callback (a daemon's socket handler, a timer) ends the program the same way.
  process.on("uncaughtException", (e) => done(report(e)));
  process.on("unhandledRejection", (e) => done(report(e)));
  try {
    const r = main(argv, process.env);
    if (typeof r === "number") done(r);
    else {
      // The build starts the executable with a reluctant JIT (scripts/build.ts, --compile-jit-policy);
      // a program still running after its start (a daemon, a session) gets the normal policy back.
      setTimeout(() => Bun.unsafe.setJITPolicy(1), 200).unref();
      // A main whose promise never settles must not end as a silent exit 0 when the event loop
      // runs dry: that would acknowledge what was never done. It is a temporary failure instead.
      let settled = false;
      process.once("beforeExit", () => {
        if (!settled) done(report(new Error("main ended without a result")));
      });
      r.then(
        (code) => {
          settled = true;
          if (code < 0) process.exitCode = 0;
          done(code);
        },
        (e) => {
          settled = true;
          done(report(e));
        },
      );
    }
  } catch (e) {
    done(report(e));
  }
}

/** Ends the process now, for daemons whose end comes from an event, not from main's return. */
export function exit(code: number): never {
  process.exit(code);
}
