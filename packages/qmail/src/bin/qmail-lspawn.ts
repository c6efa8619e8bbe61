// SPDX-License-Identifier: MIT
import { join } from "node:path";
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp, SysError } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync } from "@qts/sys/fs";
import { exitCode, termSig } from "@qts/sys/waitpid";
import { childEnv, collect, devNull } from "../lib/child.ts";
import { qmailHome } from "../lib/home.ts";
import { qmailIds } from "../lib/ids.ts";
import { LocalWorkers, WORKERS_VAR } from "../lib/spawn/lspawn-workers.ts";
import { type Outcome, type Output, runDelivery, type SpawnImpl, spawnLoop } from "../lib/spawn/spawn.ts";
import { lspawnReport } from "../lib/spawn/spawn-report.ts";
import { GetpwWorker } from "../lib/users/getpw-worker.ts";
import { parseUserValue, QLX, type UserEntry, UsersError, usersLookup } from "../lib/users/users.ts";

export const usage = "qmail-lspawn defaultdelivery";

/** qmail-getpw run as qmailp/nofiles: its six NUL-terminated fields, or a qlx code (qmail-lspawn.c nughde_get). */
async function getpw(home: string, local: Buffer, uidp: number, gidn: number, env: Buffer[]): Promise<Buffer | number> {
  let nul: number;
  try {
    nul = devNull();
  } catch {
    return QLX.SYS;
  }
  const out: Buffer[] = [];
  let done: Promise<number>;
  try {
    const spec = { file: join(home, "bin/qmail-getpw"), argv0: "bin/qmail-getpw", args: [local], cwd: home, env };
    const fds = [[0, nul] as const, [2, nul] as const];
    done = collect({ ...spec, uid: uidp, gid: gidn, fds }, [1], (d) => {
      if (out.length < 1024) out.push(d);
    });
  } finally {
    closeSync(nul);
  }
  let st: number;
  try {
    st = await done;
  } catch (e) {
    return e instanceof SysError && e.syscall === "pipe2" ? QLX.SYS : QLX.EXECPW;
  }
  const exit = termSig(st) ? QLX.SYS : exitCode(st);
  return exit === 0 ? Buffer.concat(out) : exit;
}

// qmail-getpw's output has the users/cdb value's six NUL-terminated fields.
function parseNughde(b: Buffer): UserEntry | undefined {
  try {
    return parseUserValue(b.toString("latin1"));
  } catch {
    return undefined;
  }
}

/** The user for local: users/cdb first, else qmail-getpw; or a qlx code (qmail-lspawn.c nughde_get). */
async function nughde(
  home: string,
  local: Buffer,
  uidp: number,
  gidn: number,
  entries: Buffer[],
  pw: GetpwWorker | undefined,
): Promise<UserEntry | number> {
  try {
    const found = usersLookup(home, local.toString("latin1"));
    if (found !== "not found") return found;
  } catch (e) {
    return e instanceof UsersError ? e.qlx : QLX.CDB;
  }
  // With the workers on, one long-lived qmail-getpw (lib/users/getpw-worker.ts); it falls back to one per lookup.
  const r = (await pw?.lookup(local)) ?? (await getpw(home, local, uidp, gidn, entries));
  if (typeof r === "number") return r;
  return parseNughde(r) ?? QLX.USAGE;
}

/** The environment for qmail-local, and the workers' idle seconds (0: one qmail-local per delivery). */
function workerSetting(env: Env): [Env, number] {
  const v = env[WORKERS_VAR];
  if (v === undefined) return [env, 0];
  const { [WORKERS_VAR]: _, ...rest } = env;
  const n = /^[0-9]+$/.test(v) ? Number(v) : 0;
  return [rest, n];
}

export async function main(argv: string[], env0: Env): Promise<number> {
  setProg("qmail-lspawn");
  sigpipeIgnore();
  if (argv[0] === undefined) return EXIT_USAGE;
  const aliasempty = bytesOf(rawArgs(argv)[0] as string);
  const [env, idleSecs] = workerSetting(env0);
  const entries = childEnv(env);
  const home = qmailHome(env);
  const workers =
    idleSecs > 0 ? new LocalWorkers(join(home, "bin/qmail-local"), home, env, idleSecs * 1000) : undefined;
  let uidp: number;
  let uidq: number;
  let gidn: number;
  try {
    const ids = qmailIds(home);
    uidp = ids.uid.qmailp;
    uidq = ids.uid.qmailq;
    gidn = ids.gid.nofiles;
    process.chdir(home);
    process.chdir("queue/mess");
  } catch {
    return EXIT_TEMP;
  }
  // With the workers on, the lookups of users without a users/cdb entry go to one long-lived
  // qmail-getpw with the same ids (lib/users/getpw-worker.ts); a failed worker falls back to one per lookup.
  const pw =
    idleSecs > 0
      ? new GetpwWorker(join(home, "bin/qmail-getpw"), home, entries, uidp, gidn, idleSecs * 1000)
      : undefined;

  const impl: SpawnImpl = {
    truncreport: 3000,
    report: lspawnReport,
    async run(fdmess: number, sender: Buffer, recip: Buffer, at: number, out: Output): Promise<Outcome> {
      const exit = (code: number): Outcome => ({ crashed: false, code });
      const local = recip.subarray(0, at);
      // <>: nothing to deliver, a success (qmail-lspawn.c spawn()).
      if (!local.length) return exit(0);
      const u = await nughde(home, local, uidp, gidn, entries, pw);
      if (typeof u === "number") return exit(u);
      // qmail-local never runs as root: the child would exit QLX_ROOT after setuid.
      if (u.uid === 0) return exit(QLX.ROOT);
      const args = [
        bytesOf(u.user),
        bytesOf(u.home),
        local,
        bytesOf(u.dash),
        bytesOf(u.ext),
        recip.subarray(at + 1),
        sender,
        aliasempty,
      ];
      const execFail = (e: unknown) => (errorTemp(e) ? QLX.EXECSOFT : QLX.EXECHARD);
      if (workers) return workers.run(u.uid, u.gid, ["--", ...args], fdmess, out, execFail);
      return runDelivery(
        {
          file: join(home, "bin/qmail-local"),
          argv0: "bin/qmail-local",
          args: ["--", ...args],
          cwd: home,
          uid: u.uid,
          gid: u.gid,
          env: entries,
          execFail,
        },
        fdmess,
        out,
      );
    },
  };
  return spawnLoop(impl, uidq);
}
