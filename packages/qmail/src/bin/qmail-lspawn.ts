// SPDX-License-Identifier: MIT
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { qmailIds } from "../lib/ids.ts";
import { argBytes, type Outcome, type Output, runChild, type SpawnImpl, spawnLoop } from "../lib/spawn.ts";
import { lspawnReport } from "../lib/spawn-report.ts";
import { parseUserValue, QLX, type UserEntry, UsersError, usersLookup } from "../lib/users.ts";

export const usage = "qmail-lspawn defaultdelivery";

/** qmail-getpw run as qmailp/nofiles: its six NUL-terminated fields, or a qlx code (qmail-lspawn.c nughde_get). */
function getpw(home: string, local: string, uidp: number, gidn: number): Promise<Buffer | number> {
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

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-lspawn");
  sigpipeIgnore();
  const aliasempty = argv[0];
  if (aliasempty === undefined) return EXIT_USAGE;
  const home = qmailHome(env);
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
        const r = await getpw(home, local.toString("latin1"), uidp, gidn);
        if (typeof r === "number") return exit(r);
        u = parseNughde(r);
        if (!u) return exit(QLX.USAGE);
      }
      // qmail-local never runs as root: the child would exit QLX_ROOT after setuid.
      if (u.uid === 0) return exit(QLX.ROOT);
      return runChild(
        {
          file: join(home, "bin/qmail-local"),
          argv0: "bin/qmail-local",
          args: [
            "--",
            u.user,
            u.home,
            argBytes(local),
            u.dash,
            u.ext,
            argBytes(recip.subarray(at + 1)),
            argBytes(sender),
            aliasempty,
          ],
          cwd: home,
          uid: u.uid,
          gid: u.gid,
          env,
          execFail: (e) => (errorTemp(e) ? QLX.EXECSOFT : QLX.EXECHARD),
        },
        fdmess,
        out,
      );
    },
  };
  return spawnLoop(impl, uidq);
}
