// SPDX-License-Identifier: MIT
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { bytesOf, rawArgs } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { pipe } from "@qts/sys/pipe";
import { exitCode, termSig } from "@qts/sys/waitpid";
import { qmailHome } from "../lib/home.ts";
import { qmailIds } from "../lib/ids.ts";
import { LocalWorkers, WORKERS_VAR } from "../lib/lspawn-workers.ts";
import {
  argBytes,
  type Outcome,
  type Output,
  readFd,
  runChild,
  type SpawnImpl,
  spawnBytes,
  spawnLoop,
  waitChild,
} from "../lib/spawn.ts";
import { lspawnReport } from "../lib/spawn-report.ts";
import { parseUserValue, QLX, type UserEntry, UsersError, usersLookup } from "../lib/users.ts";

export const usage = "qmail-lspawn defaultdelivery";

/** getpw for a local part that is not UTF-8: posix_spawn with the bytes as its argument. */
function getpwBytes(home: string, local: Buffer, uidp: number, gidn: number): Promise<Buffer | number> {
  return new Promise((resolve) => {
    let r: number;
    let w: number;
    let nul: number;
    try {
      [r, w] = pipe();
    } catch {
      resolve(QLX.SYS);
      return;
    }
    try {
      nul = openSync("/dev/null", "r+");
    } catch {
      closeSync(r);
      closeSync(w);
      resolve(QLX.SYS);
      return;
    }
    let pid: number;
    try {
      const spec = { file: join(home, "bin/qmail-getpw"), argv0: "bin/qmail-getpw", args: [local], cwd: home };
      pid = spawnBytes({ ...spec, uid: uidp, gid: gidn }, [
        [0, nul],
        [1, w],
        [2, nul],
      ]);
    } catch {
      pid = -1;
    }
    closeSync(w);
    closeSync(nul);
    if (pid < 0) {
      closeSync(r);
      resolve(QLX.EXECPW);
      return;
    }
    const out: Buffer[] = [];
    readFd(
      r,
      (d) => {
        if (out.length < 1024) out.push(d);
      },
      () =>
        waitChild(pid).then((st) => {
          const exit = termSig(st) ? QLX.SYS : exitCode(st);
          resolve(exit === 0 ? Buffer.concat(out) : exit);
        }),
    );
  });
}

/** qmail-getpw run as qmailp/nofiles: its six NUL-terminated fields, or a qlx code (qmail-lspawn.c nughde_get). */
function getpw(home: string, localBytes: Buffer, uidp: number, gidn: number): Promise<Buffer | number> {
  const local = argBytes(localBytes);
  if (typeof local !== "string") return getpwBytes(home, local, uidp, gidn);
  return new Promise((resolve) => {
    let out: Buffer[] = [];
    let exit: number | undefined;
    let ended = false;
    const finish = () => {
      if (exit === undefined || !ended) return;
      resolve(exit === 0 ? Buffer.concat(out) : exit);
    };
    const same = process.geteuid?.() !== 0 && uidp === process.getuid?.() && gidn === process.getgid?.();
    const c = spawn(join(home, "bin/qmail-getpw"), [local], {
      argv0: "bin/qmail-getpw",
      cwd: home,
      uid: same ? undefined : uidp,
      gid: same ? undefined : gidn,
      stdio: ["ignore", "pipe", "ignore"],
    });
    c.once("error", () => {
      exit ??= QLX.EXECPW;
      ended = true;
      finish();
    });
    c.once("exit", (code, sig) => {
      exit ??= sig ? QLX.SYS : (code ?? QLX.SYS);
      finish();
    });
    const s = c.stdout;
    if (!s) {
      ended = true;
      return;
    }
    s.on("data", (d: Buffer) => {
      if (out.length < 1024) out.push(d);
    });
    s.on("close", () => {
      ended = true;
      finish();
    });
    s.on("error", () => {
      out = [];
    });
  });
}

// qmail-getpw's output has the users/cdb value's six NUL-terminated fields.
function parseNughde(b: Buffer): UserEntry | undefined {
  try {
    return parseUserValue(b.toString("latin1"));
  } catch {
    return undefined;
  }
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
  const aliasempty = argBytes(bytesOf(rawArgs(argv)[0] as string));
  const [env, idleSecs] = workerSetting(env0);
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

  const impl: SpawnImpl = {
    truncreport: 3000,
    report: lspawnReport,
    async run(fdmess: number, sender: Buffer, recip: Buffer, at: number, out: Output): Promise<Outcome> {
      const exit = (code: number): Outcome => ({ crashed: false, code });
      const local = recip.subarray(0, at);
      // <>: nothing to deliver, a success (qmail-lspawn.c spawn()).
      if (!local.length) return exit(0);
      let u: UserEntry | undefined;
      try {
        const found = usersLookup(home, local.toString("latin1"));
        if (found !== "not found") u = found;
      } catch (e) {
        return exit(e instanceof UsersError ? e.qlx : QLX.CDB);
      }
      if (!u) {
        const r = await getpw(home, local, uidp, gidn);
        if (typeof r === "number") return exit(r);
        u = parseNughde(r);
        if (!u) return exit(QLX.USAGE);
      }
      // qmail-local never runs as root: the child would exit QLX_ROOT after setuid.
      if (u.uid === 0) return exit(QLX.ROOT);
      const args = [
        argBytes(bytesOf(u.user)),
        argBytes(bytesOf(u.home)),
        argBytes(local),
        argBytes(bytesOf(u.dash)),
        argBytes(bytesOf(u.ext)),
        argBytes(recip.subarray(at + 1)),
        argBytes(sender),
        aliasempty,
      ];
      const execFail = (e: unknown) => (errorTemp(e) ? QLX.EXECSOFT : QLX.EXECHARD);
      if (workers) return workers.run(u.uid, u.gid, ["--", ...args], fdmess, out, execFail);
      return runChild(
        {
          file: join(home, "bin/qmail-local"),
          argv0: "bin/qmail-local",
          args: ["--", ...args],
          cwd: home,
          uid: u.uid,
          gid: u.gid,
          env,
          execFail,
        },
        fdmess,
        out,
      );
    },
  };
  return spawnLoop(impl, uidq);
}
