// SPDX-License-Identifier: MIT
// The start of each program's bundle in bin/qts, the multicall executable:
// scripts/build.ts generates one entry per program that calls start(), and
// scripts/dispatch.ts (the executable's main) loads the one the name asks
// for. start() boots the program (core/boot.ts).
import type { Program } from "../packages/core/src/boot.ts";
import { boot } from "../packages/core/src/boot.ts";
import { setSigpipeDeath } from "../packages/core/src/die.ts";
import { EXIT_USAGE } from "../packages/core/src/exit.ts";
import { setTrim } from "../packages/core/src/rest.ts";

type Sigpipe = typeof import("../packages/sys/src/sigpipe.ts");
type Nofile = typeof import("../packages/sys/src/nofile.ts");
type Trim = typeof import("../packages/sys/src/trim.ts");

const USAGE = "qts program [ arg ... ]";

/** The multicall binary's own program: "qts", "qts --help", "qts --version". names lists the programs. */
export function qts(names: string): Program {
  return {
    usage: USAGE,
    main: () => {
      process.stderr.write(`qts: usage: ${USAGE}\nqts: programs: ${names}\n`);
      return EXIT_USAGE;
    },
  };
}

/** Runs program as name; about is --help's text for it, version the package's. */
export function start(name: string, program: Program, about: string, version: string): void {
  // EPIPE in a program that does not ignore SIGPIPE ends it by SIGPIPE, as in C (core/die.ts checkPipe).
  // sys (bun:ffi) is loaded only when needed: at the death itself, or for NOFILE_VAR (core/conf.ts).
  setSigpipeDeath(() => (require("../packages/sys/src/sigpipe.ts") as Sigpipe).dieOfSigpipe());
  // Memory at rest (core/rest.ts): sys/trim.ts is loaded when a program that stays up first gives back.
  setTrim(() => (require("../packages/sys/src/trim.ts") as Trim).trimResident());
  const restoreNofile = (soft: bigint) => (require("../packages/sys/src/nofile.ts") as Nofile).restoreNofile(soft);
  void boot(
    name,
    async () => program,
    restoreNofile,
    version,
    async () => about,
  );
}
