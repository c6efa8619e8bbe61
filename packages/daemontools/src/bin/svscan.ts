// SPDX-License-Identifier: MIT
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { dieUnable, info, setProg } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { worked } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/chdir";
import { setProcName } from "@qts/sys/procname";
import { keepInheritedFds, onSigchld, reapOrphans } from "../lib/child.ts";
import { Scanner, shutdown } from "../lib/scanner.ts";

/** How long svscan as process 1 waits for the services, then for the loggers, before killing. */
const STOP_WAIT_MS = 10_000;

export const usage = "svscan [dir]";

// svscan(8): scan every 5 seconds, forever; no signal handlers, except as process 1 (below).
export function main(argv: string[], env: Env): Promise<number> {
  setProg("svscan");
  try {
    setProcName("svscan");
  } catch {}
  keepInheritedFds();
  const dir = argv[0];
  if (dir !== undefined) {
    try {
      chdirBytes(bytesOf(rawArgs(argv)[0] as string));
    } catch (e) {
      dieUnable(EXIT_TEMP, `chdir to ${dir}`, e);
    }
  }
  const scanner = new Scanner(env.PATH);
  return new Promise((done) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      scanner.scan();
      // A scan that started nothing is svscan at rest: only a start re-arms the trim (core/rest.ts).
      if (scanner.started) worked();
      timer = setTimeout(tick, 5000);
    };
    if (process.pid === 1) {
      // As process 1 (a container, unshare -pf): every orphan of the tree is ours to reap, and the
      // signals a container runtime sends end the tree in order instead of being ignored (the
      // kernel drops signals that process 1 has no handler for). C's svscan has no handlers at all.
      onSigchld(reapOrphans);
      let stopping = false;
      const stop = (sig: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        if (timer) clearTimeout(timer);
        void shutdown(scanner, STOP_WAIT_MS).then((clean) => {
          info(sig, ": ", clean ? "every service stopped" : "some services had to be killed");
          done(clean ? EXIT_OK : EXIT_TEMP);
        });
      };
      for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => stop(sig));
    }
    tick();
  });
}
