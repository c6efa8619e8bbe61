// SPDX-License-Identifier: MIT
import { rawArgs } from "@qts/core/bytes";
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { Multilog } from "@qts/daemontools/lib/multilog";

export const usage = "multilog script";

// spec/daemontools-ucspi.md §3: no usage error; with no script the input is read and dropped.
export async function main(argv: string[], _env: Env): Promise<number> {
  setProg("multilog");
  process.umask(0o022);
  await new Multilog(argv, rawArgs(argv)).run();
  return 0;
}
