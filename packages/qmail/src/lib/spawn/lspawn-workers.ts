// SPDX-License-Identifier: MIT
// qmail-lspawn's side of the delivery workers (qmail-lspawn(8), "Delivery
// workers"; the protocol is in local-worker.ts). A worker is bin/qmail-local
// -W started with one user's ids, exactly as a per-delivery qmail-local
// would be; it serves that user's deliveries one at a time and is told to
// exit after it has been idle for a while. A user never gets another user's
// worker: workers are kept per uid and gid. Its outcome for qmail-send is
// what the per-delivery process's would have been: the reply byte as the
// exit code; when the worker dies before replying, a crash for a signal and
// "Unable to run qmail-local" (temporary) for any exit: that delivery did not happen.
import type { Env } from "@qts/core/run";
import { closeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { sendFds } from "@qts/sys/scmrights";
import { termSig } from "@qts/sys/waitpid";
import { childEnv, type Outcome, readFd, startWorker, waitChild } from "../child.ts";
import { encodeRequest, QUIT } from "../local/local-worker.ts";
import { QLX } from "../users/users.ts";
import type { Output } from "./spawn.ts";

/** The variable that turns the workers on: seconds a worker may stay idle; unset or 0 for none. */
export const WORKERS_VAR = "QTS_LOCALWORKERS";

interface Worker {
  pid: number;
  sock: number;
  key: string;
  timer?: ReturnType<typeof setTimeout>;
  /** The delivery in progress: called with its outcome. */
  pending?: (o: Outcome) => void;
  gone: boolean;
}

export class LocalWorkers {
  private readonly idle = new Map<string, Worker[]>();
  private readonly env: Buffer[];

  constructor(
    private readonly file: string,
    private readonly cwd: string,
    env: Env,
    private readonly idleMs: number,
  ) {
    this.env = childEnv(env);
  }

  /** Starts a worker for uid/gid; throws the spawn error. */
  private start(uid: number, gid: number, key: string): Worker {
    const { pid, sock: mine } = startWorker(
      { file: this.file, argv0: "bin/qmail-local", args: ["-W"], cwd: this.cwd, uid, gid, env: this.env },
      3,
    );
    const w: Worker = { pid, sock: mine, key, gone: false };
    readFd(
      mine,
      (d) => {
        for (const code of d) {
          const done = w.pending;
          w.pending = undefined;
          if (done) {
            this.park(w);
            done({ crashed: false, code });
          }
        }
      },
      () => {
        w.gone = true;
        this.forget(w);
        waitChild(w.pid).then((st) => {
          const done = w.pending;
          w.pending = undefined;
          // A worker that ends without its reply did not deliver, whatever its exit code (a qmail-local
          // without -W exits 100 on its usage): it could not run qmail-local, a temporary failure.
          done?.(termSig(st) ? { crashed: true, code: 0 } : { crashed: false, code: QLX.EXECSOFT });
        });
      },
    );
    return w;
  }

  private forget(w: Worker): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    const list = this.idle.get(w.key);
    const i = list?.indexOf(w) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
  }

  /** Back in the idle list, to exit after idleMs unless used again. */
  private park(w: Worker): void {
    if (w.gone) return;
    const list = this.idle.get(w.key) ?? [];
    this.idle.set(w.key, list);
    list.push(w);
    w.timer = setTimeout(() => {
      this.forget(w);
      try {
        sendFds(w.sock, QUIT, []);
      } catch {}
    }, this.idleMs);
    w.timer.unref?.();
  }

  private take(key: string): Worker | undefined {
    const list = this.idle.get(key);
    const w = list?.pop();
    if (w?.timer) clearTimeout(w.timer);
    if (w) w.timer = undefined;
    return w;
  }

  /**
   * One delivery by a worker for uid/gid: args are qmail-local's eight arguments, fdmess the
   * message (left open), its output appended to out. execFail maps a failure to start a worker,
   * as it maps one to start qmail-local.
   */
  async run(
    uid: number,
    gid: number,
    args: readonly (string | Buffer)[],
    fdmess: number,
    out: Output,
    execFail: (e: unknown) => number,
  ): Promise<Outcome> {
    const key = `${uid}:${gid}`;
    const req = encodeRequest(args);
    // A parked worker may have just gone (killed, or its idle exit crossed our send): then a fresh one.
    for (let attempt = 0; ; attempt++) {
      let w = this.take(key);
      if (!w || attempt > 0) {
        if (w) this.park(w);
        try {
          w = this.start(uid, gid, key);
        } catch (e) {
          return { crashed: false, code: execFail(e) };
        }
      }
      let r: number;
      let wr: number;
      try {
        [r, wr] = pipe();
      } catch (e) {
        this.park(w);
        return { crashed: false, code: execFail(e) };
      }
      try {
        sendFds(w.sock, req, [fdmess, wr]);
      } catch (e) {
        closeSync(r);
        closeSync(wr);
        if (attempt === 0) continue;
        return { crashed: false, code: execFail(e) };
      }
      closeSync(wr);
      const worker = w;
      return new Promise<Outcome>((resolve) => {
        let outcome: Outcome | undefined;
        let ended = false;
        const finish = () => {
          if (outcome && ended) resolve(outcome);
        };
        worker.pending = (o) => {
          outcome = o;
          finish();
        };
        readFd(
          r,
          (d) => out.append(d),
          () => {
            ended = true;
            finish();
          },
        );
      });
    }
  }
}
