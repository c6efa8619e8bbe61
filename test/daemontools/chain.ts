// SPDX-License-Identifier: MIT
// Shared by the chain-loader tests: ours and Debian's original side by side.
import { original, ours } from "../lib/harness.ts";

export function impls(name: string): [string, string][] {
  const list: [string, string][] = [["ours", ours(name)]];
  const o = original(name);
  if (o) list.push(["original", o]);
  return list;
}

/**
 * A program whose output shows its own process state: exec'd directly at the end of a chain (a shell
 * would fork for each command, and /proc/$$ then shows its transient signal mask).
 */
export const PROBE = ["cat", "/proc/self/status", "/proc/self/fdinfo/0", "/proc/self/fdinfo/1", "/proc/self/fdinfo/2"];

/** The lines of PROBE's output that matter: ids, groups, signal masks, then "fdN flags" for fds 0-2. */
export function probeSummary(out: string): string {
  const keep = out.split("\n").filter((l) => /^(Uid|Gid|Groups|SigIgn|SigBlk):/.test(l));
  const flags = [...out.matchAll(/^flags:\s*(\d+)$/gm)].map((m, i) => `fd${i} ${m[1]}`);
  return [...keep, ...flags].join("\n");
}

/** O_NONBLOCK of each "fdN flags" line of a probeSummary. */
export function nonblocking(summary: string): boolean[] {
  return [...summary.matchAll(/^fd\d (\d+)$/gm)].map((m) => (Number.parseInt(m[1] as string, 8) & 0o4000) !== 0);
}

/**
 * argv prefix that runs a command with an empty signal mask and default SIGPIPE/SIGXFSZ, whatever the
 * test runner's own state: the C originals pass on what they inherit, so comparisons start clean.
 */
export const CLEAN = [
  "python3",
  "-c",
  "import os,signal,sys\nsignal.pthread_sigmask(signal.SIG_SETMASK,[])\nsignal.signal(signal.SIGPIPE,signal.SIG_DFL)\nsignal.signal(signal.SIGXFSZ,signal.SIG_DFL)\nos.execv(sys.argv[1],sys.argv[1:])",
];

/**
 * Starts bin with fds 7 (read) and 9 (write) open and inheritable, as a shell's "7<f 9>g" would, and
 * returns what the exec'd program (ls of its own fd table) sees: "N -> target" lines.
 */
export async function inheritedFdTable(bin: string, args: string[]): Promise<string> {
  const { run } = await import("../lib/harness.ts");
  const r = await run("bash", ["-c", 'exec 7</dev/null 9>/dev/null; exec "$0" "$@" ls -l /proc/self/fd', bin, ...args]);
  return r.stdout
    .split("\n")
    .filter((l) => l.includes(" -> "))
    .map((l) =>
      l
        .slice(l.lastIndexOf(" ", l.indexOf(" -> ") - 1) + 1)
        .replace(/(pipe|socket):\[\d+\]/, "$1")
        .replace(/\/proc\/\d+\//, "/proc/N/"),
    )
    .sort()
    .join("\n");
}
