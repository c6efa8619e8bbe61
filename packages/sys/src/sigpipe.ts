// SPDX-License-Identifier: MIT
import { exit } from "@qts/core/run";
import { SIGPIPE } from "./consts.ts";
import { libc } from "./ffi.ts";
import { sigDefault } from "./sigdefault.ts";

const c = libc({ raise: { args: ["i32"], returns: "i32" } });

/**
 * Ends the process by SIGPIPE, as a C program's write to a pipe without a
 * reader does when the signal is at its default: Bun ignores SIGPIPE at
 * start-up, so the write only failed with EPIPE. Nothing is flushed and no
 * exit handler runs. raise() signals the calling thread, so the default
 * action (terminate) happens before it returns.
 */
export function dieOfSigpipe(): never {
  sigDefault(SIGPIPE);
  c().raise(SIGPIPE);
  // Not reached unless the signal is blocked: end the way a shell reports that death.
  process.kill(process.pid, SIGPIPE);
  exit(128 + SIGPIPE);
}
