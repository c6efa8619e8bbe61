// SPDX-License-Identifier: MIT
// Shared by the qmail-queue and qmail-queued tests: a temp qmail home, runs of
// qmail-queue as any user with the message and envelope from files, and a
// look at what landed in the queue.
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { date822 } from "@qts/qmail/lib/date822";
import { getpwnam } from "@qts/sys/pwd";
import { ROOT, run, start, stdioFd, tmp, waitFor } from "../lib/harness.ts";

export const BUN = join(ROOT, "node_modules/.bin/bun");

/** A fresh qmail home installed by setup (users must exist). */
export async function makeHome(): Promise<string> {
  const top = tmp("qts-qq-");
  // qmail's users must reach <home>/bin and <home>/queued through the temp dir.
  chmodSync(top, 0o755);
  const home = join(top, "qmail");
  const r = await run(BUN, [join(ROOT, "scripts/setup.ts"), "--home", home, "--no-users", "--hardlink"], {
    timeout: 60_000,
  });
  if (r.code !== 0) throw new Error(`setup failed: ${r.stderr}`);
  return home;
}

export function ids(user: string): { uid: number; gid: number } {
  const pw = getpwnam(user);
  if (!pw) throw new Error(`no user ${user}`);
  return { uid: pw.uid, gid: pw.gid };
}

export interface QQRun {
  code: number | null;
  signal: string | null;
  pid: number;
}

/**
 * Runs prog (default <home>/bin/qmail-queue) as user with fd 0 = message, fd 1 = envelope, in exactly
 * the environment given; its pid comes back for the callers that check the qp it recorded.
 */
export async function qq(
  home: string,
  message: string | Buffer,
  envelope: string | Buffer,
  opts: { user?: string; prog?: string; env?: Record<string, string> } = {},
): Promise<QQRun> {
  const d = tmp("qts-qqin-");
  const mf = join(d, "m");
  const ef = join(d, "e");
  writeFileSync(mf, message);
  writeFileSync(ef, envelope);
  const m = openSync(mf, "r");
  const e = openSync(ef, "r");
  try {
    const who = opts.user ? ids(opts.user) : { uid: 0, gid: 0 };
    // start() rather than run(): the pid is wanted too.
    const p = start(opts.prog ?? join(home, "bin/qmail-queue"), [], {
      stdio: [stdioFd(m), stdioFd(e), "pipe"],
      uid: who.uid,
      gid: who.gid,
      env: opts.env ?? { PATH: process.env.PATH ?? "/bin:/usr/bin" },
      extendEnv: false,
    });
    const r = await p.wait(20_000);
    if (r.stderr.length) throw new Error(`qmail-queue wrote to stderr: ${r.stderr}`);
    return { code: r.signal ? null : r.code, signal: r.signal ?? null, pid: p.pid };
  } finally {
    closeSync(m);
    closeSync(e);
  }
}

export interface Queued {
  num: string;
  mess: Buffer;
  todo: Buffer;
  intd: Buffer;
}

/** Messages in todo/ (with their mess and intd files). */
export function todo(home: string): Map<string, Queued> {
  const q = join(home, "queue");
  const out = new Map<string, Queued>();
  for (const n of readdirSync(join(q, "todo"))) {
    out.set(n, {
      num: n,
      todo: readFileSync(join(q, "todo", n)),
      intd: readFileSync(join(q, "intd", n)),
      mess: readFileSync(join(q, "mess", String(BigInt(n) % 23n), n)),
    });
  }
  return out;
}

/** Every file under queue/mess, queue/intd and queue/pid. */
export function files(home: string): string[] {
  const q = join(home, "queue");
  const out: string[] = [];
  for (const d of ["pid", "intd", "todo"]) for (const f of readdirSync(join(q, d))) out.push(`${d}/${f}`);
  for (let i = 0; i < 23; i++) for (const f of readdirSync(join(q, "mess", String(i)))) out.push(`mess/${i}/${f}`);
  return out.sort();
}

/** The messages that arrived since `before` (a todo() snapshot). */
export function added(home: string, before: Map<string, Queued>): Queued[] {
  return [...todo(home).values()].filter((m) => !before.has(m.num));
}

/** Every Received date qmail-queue could have written between t0 and t1 (ms). */
export function datesBetween(t0: number, t1: number): string[] {
  const out: string[] = [];
  for (let s = Math.floor(t0 / 1000); s <= Math.floor(t1 / 1000); s++) out.push(date822(s * 1000));
  return out;
}

/** Checks mess/intd/todo of one message byte for byte; returns the pid recorded. */
export function expectMessage(
  m: Queued,
  o: { uid: number; who: string; message: string; envelope: string; t0: number; t1: number; pid?: number },
): number {
  const todoText = m.todo.toString("latin1");
  const pm = /^u(\d+)\0p(\d+)\0/.exec(todoText);
  if (!pm) throw new Error(`bad todo: ${JSON.stringify(todoText)}`);
  const pid = Number(pm[2]);
  // A qp is its process's pid, or that pid plus multiples of 2^22 for its later messages (lib/queue/qp.ts).
  if (o.pid !== undefined && pid !== o.pid && pid % 4194304 !== o.pid) throw new Error(`pid ${pid}, expected ${o.pid}`);
  const env = o.envelope.endsWith("\0\0") ? o.envelope.slice(0, -1) : o.envelope;
  const wantTodo = `u${o.uid}\0p${pid}\0${env}`;
  if (todoText !== wantTodo) throw new Error(`todo ${JSON.stringify(todoText)} != ${JSON.stringify(wantTodo)}`);
  if (!m.intd.equals(m.todo)) throw new Error("intd differs from todo");
  const mess = m.mess.toString("latin1");
  const ok = datesBetween(o.t0, o.t1).some(
    (d) => mess === `Received: (qmail ${pid} invoked ${o.who}); ${d}\n${o.message}`,
  );
  if (!ok) throw new Error(`mess ${JSON.stringify(mess.slice(0, 200))}`);
  return pid;
}

/** Starts <home>/bin/qmail-queued (as root: it drops to qmailq); resolves when its socket is there. */
export async function startQueued(home: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const p = start(join(home, "bin/qmail-queued"), [], { stdio: ["ignore", "ignore", "inherit"] });
  const sock = join(home, "queued/socket");
  const up = await waitFor(() => existsSync(sock) && (statSync(sock).mode & 0o777) === 0o777, 5000);
  if (!up) {
    p.kill("SIGKILL");
    throw new Error("qmail-queued did not start");
  }
  return {
    pid: p.pid ?? 0,
    stop: async () => {
      p.kill("SIGTERM");
      await p.wait(5000);
    },
  };
}
