// SPDX-License-Identifier: MIT
// Settings shared by every suite, defined once (qmail's own build-time
// settings, its conf-* files, are in qmail/src/lib/conf.ts). Here because
// core, sys and daemontools all read or write them, and core is the one
// package below all three.

/**
 * Bun raises the soft RLIMIT_NOFILE to the hard limit at start-up; a chain
 * like `softlimit -o 20 tcpserver` must still hold the lower limit. sys's
 * exec passes the intended soft limit in this variable when it execs one of
 * ours, boot.ts puts it back and removes the variable, and no C program (nor
 * any environment a program prints or hands on) ever sees it.
 */
export const NOFILE_VAR = "QTS_NOFILE";

/**
 * JavaScriptCore options a program of ours starts with when one of ours
 * starts it. The runtime reads them from the environment before any code of
 * ours runs, so no program can set them for itself: sys's exec and spawn add
 * each one that the environment does not name already, with JSC_MARK naming
 * what they added, to the environment of a child that is our own binary.
 * boot.ts removes what the mark names, and the mark, so no program of ours
 * sees them, prints them or hands them on (qts(8)). Figures: BENCHMARKS.md,
 * "The JSCWarmUp relay".
 */
export const JSC_OPTIONS: readonly (readonly [string, string])[] = [
  // The JSCWarmUp thread (WebKit's FastMallocAlignedMemoryAllocator.cpp) starts once the heap passes
  // about 1 MB and pre-faults heap blocks that a short-lived program never uses: 4-6 ms of CPU and
  // about 0.4 MB per start.
  ["BUN_JSC_useWarmUpMarkedBlocks", "0"],
  // Two JITWorker threads, whose stacks and queues a daemon keeps for its whole life: about 0.3 MB
  // each process. What a program compiles is compiled on its own thread instead.
  ["BUN_JSC_useConcurrentJIT", "0"],
];

/**
 * Options of the same relay that only a child which ends soon gets (endsSoon()). Figures: BENCHMARKS.md,
 * "Huge pages for the programs that end soon".
 */
export const START_OPTIONS: readonly (readonly [string, string])[] = [
  // Bun's mimalloc (v3) leaves transparent huge pages off (its allow_thp option, 0 in Bun's build). On,
  // it marks its arena MADV_HUGEPAGE (madvise(2)), and under the kernel's THP setting "madvise" (the
  // default) or "always" start-up faults the arena in 2 MiB pages rather than 4 KiB ones: about 270
  // page faults fewer for an empty program, over 600 fewer for an SMTP session. The price is memory:
  // the arena's touched 2 MiB regions stay whole, 6 to 16 MiB more for as long as the process lives.
  // So only a program that ends soon gets it; one that stays up, or waits on a client or a peer (40
  // qmail-smtpd at once), never does.
  ["MIMALLOC_ALLOW_THP", "1"],
];

/**
 * The programs that do one job and end, each time a message, a delivery or a service start asks for it,
 * or when an administrator runs them: START_OPTIONS pay for them. Not the daemons, the loggers, the
 * filters on a pipe, nor a program that serves or calls a peer, or waits on one: qmail-queue, run as
 * $QMAILQUEUE, lives as long as an SMTP client's DATA.
 */
const ENDS_SOON = new Set([
  // chain-loaders, which exec the next program (the relay then decides for that one)
  "envdir",
  "envuidgid",
  "setuidgid",
  "softlimit",
  "pgrphack",
  "setlock",
  "argv0",
  // tools
  "svc",
  "svok",
  "svstat",
  "tcprules",
  "tcprulescheck",
  // per message and per delivery
  "sendmail",
  "qmail-inject",
  "qmail-local",
  "qmail-getpw",
  "checkpassword",
  "datemail",
  "mailsubj",
  "predate",
  "preline",
  "bouncesaying",
  "condredirect",
  "except",
  "forward",
  "qbiff",
  "qreceipt",
  "qsmhook",
  // the administrator's qmail tools
  "qmail-qread",
  "qmail-qstat",
  "mailq",
  "qmail-showctl",
  "qmail-tcpok",
  "qmail-tcpto",
  "qmail-newu",
  "qmail-newmrh",
  "qmail-pw2u",
  "newaliases",
  "config",
  "config-fast",
  "maildirmake",
  "maildir2mbox",
  "dknewkey",
]);

/** An entry's or argument's text, a byte per character. */
function latin1(entry: string | Uint8Array): string {
  return typeof entry === "string" ? entry : Buffer.from(entry).toString("latin1");
}

/**
 * Whether a child run with argv ends soon: its program, named as the multicall binary picks it (the last
 * part of argv[0], or the first argument after "qts"), is one of ENDS_SOON, and it is not a worker that
 * qmail-lspawn keeps (qmail-local -W, qmail-getpw -W: "-W" alone).
 */
export function endsSoon(argv: readonly (string | Uint8Array)[]): boolean {
  const a0 = latin1(argv[0] ?? "");
  let name = a0.slice(a0.lastIndexOf("/") + 1);
  let rest = 1;
  if (name === "qts" && argv.length > 1) {
    name = latin1(argv[1] as string | Uint8Array);
    rest = 2;
  }
  if (!ENDS_SOON.has(name)) return false;
  return !(argv.length === rest + 1 && latin1(argv[rest] as string | Uint8Array) === "-W");
}

export const JSC_MARK = "QTS_JSC";
const JSC_NAMES = new Set([...JSC_OPTIONS, ...START_OPTIONS].map(([k]) => k));

/** Whether entry ("NAME=value", text or bytes) is a variable called name. */
function isVar(entry: string | Uint8Array, name: string): boolean {
  if (typeof entry === "string")
    return entry.length > name.length && entry[name.length] === "=" && entry.startsWith(name);
  if (entry.length <= name.length || entry[name.length] !== 0x3d) return false;
  for (let i = 0; i < name.length; i++) if (entry[i] !== name.charCodeAt(i)) return false;
  return true;
}

/** The options a mark's value (JSC_MARK) says a relay added: only names of JSC_OPTIONS and START_OPTIONS count. */
export function markedOptions(mark: string | undefined): string[] {
  return mark === undefined ? [] : mark.split(",").filter((n) => JSC_NAMES.has(n));
}

/** Environment entries as a process of ours was started with them, without what the relays added. */
export function withoutRelay<T extends string | Uint8Array>(entries: readonly T[]): T[] {
  const mark = entries.find((e) => isVar(e, JSC_MARK));
  const added = markedOptions(mark === undefined ? undefined : latin1(mark).slice(JSC_MARK.length + 1));
  return entries.filter((e) => !isVar(e, NOFILE_VAR) && !isVar(e, JSC_MARK) && !added.some((n) => isVar(e, n)));
}

/**
 * The entries that give a child of ours, run with argv, each of JSC_OPTIONS (and of START_OPTIONS when it
 * ends soon) that env does not name, and the mark listing them.
 */
export function relayEntries(env: readonly (string | Uint8Array)[], argv: readonly (string | Uint8Array)[]): string[] {
  const options = endsSoon(argv) ? [...JSC_OPTIONS, ...START_OPTIONS] : JSC_OPTIONS;
  const add = options.filter(([k]) => !env.some((e) => isVar(e, k)));
  if (add.length === 0) return [];
  return [...add.map(([k, v]) => `${k}=${v}`), `${JSC_MARK}=${add.map(([k]) => k).join(",")}`];
}

/** env with relayEntries(env, argv) added. */
export function withRelay(
  env: readonly (string | Uint8Array)[],
  argv: readonly (string | Uint8Array)[],
): (string | Uint8Array)[] {
  return [...env, ...relayEntries(env, argv)];
}
