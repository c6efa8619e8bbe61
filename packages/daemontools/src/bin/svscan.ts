// SPDX-License-Identifier: MIT
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { dieSys, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/fchdir";
import { setProcName } from "@qts/sys/procname";
import { keepInheritedFds } from "../lib/child.ts";
import { Scanner } from "../lib/scanner.ts";

export const usage = "svscan [dir]";

// spec/daemontools-ucspi.md §2.1: scan every 5 seconds, forever; no signal handlers.
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
      dieSys(EXIT_TEMP, e, "unable to chdir to ", dir);
    }
  }
  const scanner = new Scanner(env.PATH);
  return new Promise(() => {
    const tick = () => {
      scanner.scan();
      setTimeout(tick, 5000);
    };
    tick();
  });
}
