// SPDX-License-Identifier: MIT
import { bytesOf, rawEnv } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, constants, openSync, writeSync } from "@qts/sys/fs";
import { childEnv } from "../lib/child.ts";
import { qmailHome } from "../lib/home.ts";
import { qmailIds } from "../lib/ids.ts";
import { runDelivery, type SpawnImpl, spawnLoop } from "../lib/spawn/spawn.ts";
import { rspawnReport } from "../lib/spawn/spawn-report.ts";

export const usage = "qmail-rspawn";

/** tcpto_clean(): zero the remote timeout table at start-up (running from queue/mess). */
function tcptoClean(): void {
  try {
    const fd = openSync("../lock/tcpto", constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(fd, Buffer.alloc(1024));
    } catch {}
    closeSync(fd);
  } catch {}
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-rspawn");
  sigpipeIgnore();
  const home = qmailHome(env);
  let uidq: number;
  try {
    process.chdir(home);
    process.chdir("queue/mess");
    uidq = qmailIds(home).uid.qmailq;
  } catch {
    return EXIT_TEMP;
  }
  tcptoClean();
  // $QMAILREMOTE replaces qmail-remote, found through $PATH like execvp (netqmail).
  const raw = rawEnv(env).QMAILREMOTE;
  const qr = raw ? bytesOf(raw) : "qmail-remote";
  const entries = childEnv(env);
  const impl: SpawnImpl = {
    truncreport: 0,
    report: rspawnReport,
    run: (fdmess, sender, recip, at, out) =>
      runDelivery(
        {
          file: qr,
          args: [recip.subarray(at + 1), sender, recip],
          env: entries,
          execFail: (e) => (errorTemp(e) ? 111 : 100),
        },
        fdmess,
        out,
      ),
  };
  return spawnLoop(impl, uidq);
}
