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
    i++;
    for (let j = 1; j < word.length; j++) {
      const c = word[j] as string;
      const at = c === ":" ? -1 : spec.indexOf(c);
      if (at < 0) {
        if (!quiet) errWrite(`${getProg()}: illegal option -- ${c}\n`);
        opts.push({ opt: "?", bad: c });
        continue;
      }
      if (spec[at + 1] !== ":") {
        opts.push({ opt: c });
        continue;
      }
      if (j + 1 < word.length) {
        opts.push({ opt: c, arg: word.slice(j + 1) });
      } else if (i < argv.length) {
        opts.push({ opt: c, arg: argv[i] as string });
        i++;
      } else {
        if (!quiet) errWrite(`${getProg()}: option requires an argument -- ${c}\n`);
        opts.push({ opt: "?", bad: c });
      }
      break;
    }
  }
  return { opts, rest: argv.slice(i) };
}
