// SPDX-License-Identifier: MIT
// What ucspi-tcp's client scripts (tcpcat, mconnect, who@, date@, finger@,
// http@) share: our own tcpclient, addcr, delcr and mconnect-io, found beside
// our executable (never through PATH, so a tree of ours runs ours where the
// originals are installed too), and the pipeline "tcpclient ... | filter".
import { execEnv } from "@qts/core/bytes";
import { writeAll } from "@qts/core/die";
import { dirname, join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { envEntries } from "@qts/sys/execraw";
import { closeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { spawn } from "@qts/sys/posixspawn";
import { waitAsync } from "@qts/sys/waitpid";
import type { Filter } from "./crlf.ts";

/** The path of our program name: a sibling of the running executable. */
export function ours(name: string): string {
  return join(dirname(process.execPath), name);
}

/** The scripts' tcpclient options: no ident, no host names, local name 0. */
export const CLIENT_OPTS = ["-RHl0", "--"];

/**
 * `[echo input |] tcpclient args | filter`, as the scripts run it: tcpclient
 * gets input (or our standard input), its standard output goes through
 * filter to ours. The result is the pipeline's, that is the filter's: 0, or
 * 1 when the output cannot be written (cat and awk exit 1 then); tcpclient's
 * own failure shows only in its message.
 */
export async function pipeline(args: string[], input: string | undefined, filter: Filter, env: Env): Promise<number> {
  // posix_spawn (sys/posixspawn.ts), the one way our programs start a child: tcpclient's standard
  // output is a pipe we read through Bun's event loop; its input is ours, or a pipe holding input.
  const [r, w] = pipe();
  const feed = input === undefined ? undefined : pipe();
  const { entries } = envEntries(execEnv(env));
  const file = ours("tcpclient");
  let pid: number;
  try {
    pid = spawn(file, ["tcpclient", ...CLIENT_OPTS, ...args], entries, {
      dup2: [
        [0, feed ? feed[0] : 0],
        [1, w],
        [2, 2],
      ],
      sigDefault: CHILD_SIGDEFAULT,
    });
  } finally {
    closeSync(w);
    if (feed) closeSync(feed[0]);
  }
  if (feed) {
    try {
      writeAll(feed[1], Buffer.from(input ?? ""));
    } catch {}
    closeSync(feed[1]);
  }
  let code = 0;
  const out = (b: Uint8Array) => {
    if (code !== 0 || b.length === 0) return;
    try {
      writeAll(1, b);
    } catch {
      code = 1;
    }
  };
  try {
    for await (const chunk of Bun.file(r).stream()) out(filter.put(chunk));
  } catch {}
  closeSync(r);
  out(filter.end());
  await waitAsync(pid);
  return code;
}
