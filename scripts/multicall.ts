// SPDX-License-Identifier: MIT
// The entry of bin/qts, the multicall executable: picks the program by the
// name it was run as (busybox style), or by its first argument ("qts NAME
// args"), and boots it (core/boot.ts). scripts/build.ts generates the table
// of programs that calls multicall(); each program is a chunk of its own,
// loaded only when it runs.
import type { Program } from "../packages/core/src/boot.ts";
import { boot } from "../packages/core/src/boot.ts";
import { setSigpipeDeath } from "../packages/core/src/die.ts";
import { EXIT_USAGE } from "../packages/core/src/exit.ts";
import { setTrim } from "../packages/core/src/rest.ts";

type Sigpipe = typeof import("../packages/sys/src/sigpipe.ts");
type Nofile = typeof import("../packages/sys/src/nofile.ts");
type Trim = typeof import("../packages/sys/src/trim.ts");

const USAGE = "qts program [ arg ... ]";

/**
 * Runs the program process.argv asks for. programs loads each program's module, about holds
 * --help's text for each (and for "qts"), version is the package's.
 */
export function multicall(
  programs: Record<string, () => Promise<Program>>,
  about: Record<string, string>,
  version: string,
): void {
  const names = Object.keys(programs).join(" ");
  // EPIPE in a program that does not ignore SIGPIPE ends it by SIGPIPE, as in C (core/die.ts checkPipe).
  // sys (bun:ffi) is loaded only when needed: at the death itself, or for NOFILE_VAR (core/conf.ts).
  setSigpipeDeath(() => (require("../packages/sys/src/sigpipe.ts") as Sigpipe).dieOfSigpipe());
  // Memory at rest (core/rest.ts): sys/trim.ts is loaded when a program that stays up first gives back.
  setTrim(() => (require("../packages/sys/src/trim.ts") as Trim).trimResident());
  const restoreNofile = (soft: bigint) => (require("../packages/sys/src/nofile.ts") as Nofile).restoreNofile(soft);
  const qts: Program = {
    usage: USAGE,
    main: () => {
      process.stderr.write(`qts: usage: ${USAGE}\nqts: programs: ${names}\n`);
      return EXIT_USAGE;
    },
  };
  let name = process.argv0.slice(process.argv0.lastIndexOf("/") + 1);
  let load: (() => Promise<Program>) | undefined;
  if (Object.hasOwn(programs, name)) {
    load = programs[name];
  } else if (process.argv.length === 3 && process.argv[2]?.startsWith("--")) {
    // "qts --help", "qts --version": the multicall binary itself.
    name = "qts";
    load = async () => qts;
  } else {
    // "qts NAME args..." runs NAME, for installs without the links.
    name = process.argv[2] ?? "";
    process.argv.splice(2, 1);
    load = Object.hasOwn(programs, name) ? programs[name] : name === "" ? async () => qts : undefined;
  }
  if (load) {
    void boot(name, load, restoreNofile, version, about[name]);
  } else {
    process.stderr.write(`qts: fatal: unknown program: ${name}\nqts: programs: ${names}\n`);
    process.exitCode = EXIT_USAGE;
  }
}
