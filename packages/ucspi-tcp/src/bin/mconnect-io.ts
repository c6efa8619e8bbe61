// SPDX-License-Identifier: MIT
// mconnect-io.c: under tcpclient, standard input to the server (descriptor 7)
// with a CR before every LF, and the server (descriptor 6) to standard output.
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { EXIT_OK } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { addCr } from "../lib/crlf.ts";
import { relay } from "../lib/relay.ts";

export const usage = "mconnect-io";

// The C program forks: the child copies 0 -> 7 until the end of its input and
// _exits (descriptor 7 stays open in the parent, so nothing is shut down);
// the parent copies 6 -> 1 and, at the server's end, kills the child and
// exits 0. Write errors are ignored on both sides (SIGPIPE ignored, the
// buffer's error return unchecked). One loop here does both sides.
export function main(_argv: string[], _env: Env): number {
  setProg("mconnect-io");
  sigpipeIgnore();
  relay(
    { from: 0, to: 7, filter: addCr() },
    { from: 6, to: 1 },
    { chunk: 512, closeLeftAtEof: false, stopOnWriteError: false },
  );
  return EXIT_OK;
}
