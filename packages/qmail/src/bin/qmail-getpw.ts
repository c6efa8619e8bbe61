// SPDX-License-Identifier: MIT
import { rawArgs } from "@qts/core/bytes";
import { setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { formatUser, getpwLookup } from "../lib/users/getpw.ts";
import { isWorkerSocket, serveLookups, WORKER_FD } from "../lib/users/getpw-worker.ts";
import { UsersError } from "../lib/users/users.ts";

export const usage = "qmail-getpw local";

// qmail-getpw(8): six NUL-terminated fields on stdout, or a qlx exit code (no text).
export function main(argv: string[], _env: Env): number {
  setProg("qmail-getpw");
  const local = rawArgs(argv)[0];
  if (local === undefined) return EXIT_USAGE;
  // qmail-lspawn's lookup worker (lib/users/getpw-worker.ts); any other -W is a local part, as in C.
  if (argv.length === 1 && argv[0] === "-W" && isWorkerSocket(WORKER_FD)) return serveLookups(WORKER_FD);
  try {
    const u = getpwLookup(local);
    try {
      writeAll(1, formatUser(u));
    } catch {}
  } catch (e) {
    if (e instanceof UsersError) return e.qlx;
    throw e;
  }
  return EXIT_OK;
}
