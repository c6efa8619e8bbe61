// SPDX-License-Identifier: MIT
// What ucspi-tcp's client scripts (tcpcat, mconnect, who@, date@, finger@,
// http@) share: our own tcpclient, addcr, delcr and mconnect-io, found beside
// our executable (never through PATH, so a tree of ours runs ours where the
// originals are installed too), and the pipeline "tcpclient ... | filter".
import { dirname, join } from "node:path";
import { writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
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
  const p = Bun.spawn([ours("tcpclient"), ...CLIENT_OPTS, ...args], {
    stdin: input === undefined ? "inherit" : Buffer.from(input),
    stdout: "pipe",
    stderr: "inherit",
    env: env as Record<string, string>,
  });
  let code = 0;
  const out = (b: Uint8Array) => {
    if (code !== 0 || b.length === 0) return;
    try {
      writeAll(1, b);
    } catch {
      code = 1;
    }
  };
  for await (const chunk of p.stdout) out(filter.put(chunk));
  out(filter.end());
  await p.exited;
  return code;
}
