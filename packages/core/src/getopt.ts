// SPDX-License-Identifier: MIT
import { errWrite, getProg } from "./die.ts";

export interface Opt {
  /** The option letter, or "?" for an unknown option or a missing argument. */
  opt: string;
  /** The option's argument (for letters followed by ":" in the spec). */
  arg?: string;
  /** For "?": the offending letter. */
  bad?: string;
}

export interface GetoptResult {
  opts: Opt[];
  /** Operands: everything from the first non-option (or after "--"). */
  rest: string[];
}

/**
 * DJB's sgetopt: options in the order given, clusters like -dx, an argument
 * either attached (-m100) or the next word, "--" ends options, and a lone "-"
 * or the first non-option word stops parsing. Errors are reported as sgetopt
 * does ("prog: illegal option -- Z" / "prog: option requires an argument -- Z")
 * unless quiet, and show up as opt "?".
 */
/**
 * One option word, argv[i - 1] (i is the next word's index): its letters go to opts. Returns the
 * index of the word after it and what it consumed (a separate argument).
 */
function cluster(argv: readonly string[], i: number, spec: string, quiet: boolean, opts: Opt[]): number {
  const word = argv[i - 1] as string;
  const bad = (c: string, why: string) => {
    if (!quiet) errWrite(`${getProg()}: ${why} -- ${c}\n`);
    opts.push({ opt: "?", bad: c });
  };
  for (let j = 1; j < word.length; j++) {
    const c = word[j] as string;
    const at = c === ":" ? -1 : spec.indexOf(c);
    if (at < 0) {
      bad(c, "illegal option");
      continue;
    }
    if (spec[at + 1] !== ":") {
      opts.push({ opt: c });
      continue;
    }
    // An argument ends the word: the rest of it, or the next word.
    if (j + 1 < word.length) opts.push({ opt: c, arg: word.slice(j + 1) });
    else if (i < argv.length) opts.push({ opt: c, arg: argv[i++] as string });
    else bad(c, "option requires an argument");
    break;
  }
  return i;
}

export function getopt(argv: readonly string[], spec: string, quiet = false): GetoptResult {
  const opts: Opt[] = [];
  let i = 0;
  while (i < argv.length) {
    const word = argv[i] as string;
    if (word === "--") {
      i++;
      break;
    }
    if (word.length < 2 || word[0] !== "-") break;
    i = cluster(argv, i + 1, spec, quiet, opts);
  }
  return { opts, rest: argv.slice(i) };
}
