// SPDX-License-Identifier: MIT
// fixcrio.c: run program with a CR put before every bare LF, both in what it
// reads from standard input and in what it writes to standard output.
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, setProg, sigpipeIgnore } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { fixCr } from "../lib/crlf.ts";
import { forkRelay, RELAY_VAR, relay } from "../lib/relay.ts";

export const usage = "fixcrio program [ arg ... ]";

/** The copying half (forkRelay): 0 -> 3 and 4 -> 1, each direction fixed on its own. */
function copier(): number {
  sigpipeIgnore();
  relay(
    { from: 0, to: 3, filter: fixCr() },
    { from: 4, to: 1, filter: fixCr() },
    { chunk: 256, closeLeftAtEof: true, stopOnWriteError: true },
  );
  return EXIT_OK;
}

export function main(argv: string[], env: Env): number {
  setProg("fixcrio");
  if (argv.length === 0 && env[RELAY_VAR] !== undefined) return copier();
  if (argv.length === 0) dieUsage(usage);
  forkRelay("fixcrio", (what, e) => dieUnable(EXIT_TEMP, what, e));
  const args = execArgs(argv);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${argv[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
