// SPDX-License-Identifier: MIT
// recordio.c: run program with its input and output copied through a second
// process that writes every chunk to descriptor 2 as it goes by.
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, setProg, sigpipeIgnore, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { forkRelay, RELAY_VAR, relay } from "../lib/relay.ts";

export const usage = "recordio program [ arg ... ]";

const NL = 10;

/**
 * recordio.c record(): each line of the chunk as "PID DIR line \n"; a piece
 * without its newline (the chunk ended first) as "PID DIR piece+\n".
 */
function transcript(pid: string, dir: string, chunk: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.from(`${pid}${dir}`);
  let at = 0;
  while (at < chunk.length) {
    const nl = chunk.indexOf(NL, at);
    const end = nl < 0 ? chunk.length : nl;
    parts.push(head, Buffer.from(chunk.subarray(at, end)), Buffer.from(nl < 0 ? "+\n" : " \n"));
    if (nl < 0) break;
    at = nl + 1;
  }
  return Buffer.concat(parts);
}

function record(b: Uint8Array): void {
  try {
    writeAll(2, b);
  } catch {}
}

/** The copying half (forkRelay): 0 -> 3 and 4 -> 1, both recorded under the program's pid. */
function copier(pid: string): number {
  sigpipeIgnore();
  relay(
    { from: 0, to: 3, seen: (c) => record(transcript(pid, " < ", c)) },
    { from: 4, to: 1, seen: (c) => record(transcript(pid, " > ", c)) },
    {
      chunk: 256,
      closeLeftAtEof: true,
      stopOnWriteError: true,
      onLeftEof: () => record(Buffer.from(`${pid} < [EOF]\n`)),
      onRightEof: () => record(Buffer.from(`${pid} > [EOF]\n`)),
    },
  );
  return EXIT_OK;
}

export function main(argv: string[], env: Env): number {
  setProg("recordio");
  const relayPid = env[RELAY_VAR];
  if (argv.length === 0 && relayPid !== undefined) return copier(relayPid);
  if (argv.length === 0) dieUsage(usage);
  forkRelay("recordio", (what, e) => dieUnable(EXIT_TEMP, what, e));
  const args = execArgs(argv);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${argv[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
