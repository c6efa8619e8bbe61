// SPDX-License-Identifier: MIT
import { rawArgs } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import { signalReady, takeReadyFd } from "@qts/core/ready";
import type { Env } from "@qts/core/run";
import { Multilog } from "@qts/daemontools/lib/multilog";

export const usage = "multilog script";

// multilog(8): no usage error; with no script the input is read and dropped.
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("multilog");
  process.umask(0o022);
  const ready = takeReadyFd(env);
  const m = new Multilog(argv, rawArgs(argv));
  // Ready once every directory is locked and its current open (the constructor's restart()s).
  signalReady(ready);
  await m.run();
  return 0;
}
