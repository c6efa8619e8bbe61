// SPDX-License-Identifier: MIT
// qail.sh, elq.sh, pinq.sh: `QMAILBIN/maildir2mbox && exec READER "$@"`:
// move $MAILDIR's messages into the $MAIL mbox, then run an mbox reader.
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieUnable, Exit } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { dirname, join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { exitCode, termSig } from "@qts/sys/waitpid";
import { startChild, waitChildSync } from "../child.ts";

/**
 * Runs our maildir2mbox (beside our executable: qmail's bin) and, when it
 * succeeds, execs reader (through PATH) with argv. A failing maildir2mbox
 * ends it with its exit code, as `&&` in the script does (128 + the signal
 * when it was killed, as sh reports it).
 */
export function maildirThen(reader: string, argv: string[], env: Env): never {
  const m2m = join(dirname(process.execPath), "maildir2mbox");
  let st: number;
  try {
    st = waitChildSync(startChild({ file: m2m, args: [], env: execEnv(env) }));
  } catch (e) {
    dieUnable(errnoName(e) === "ENOENT" ? 127 : 126, `run ${m2m}`, e);
  }
  if (termSig(st)) throw new Exit(128 + termSig(st));
  if (exitCode(st) !== 0) throw new Exit(exitCode(st));
  const args = execArgs([reader, ...argv]);
  prepareExec(inheritedFds());
  const err = pathexec(reader, args, execEnv(env));
  // sh's exec: 127 when the reader is not found, 126 when it cannot be run.
  dieUnable(errnoName(err) === "ENOENT" ? 127 : 126, `run ${reader}`, err);
}
