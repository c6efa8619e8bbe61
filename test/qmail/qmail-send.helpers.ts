// SPDX-License-Identifier: MIT
// A qmail home in a temp dir for the delivery-side tests: queue tree with
// qmail's owners and modes, our daemons in bin/, fake qmail-local and
// qmail-remote scripts, a users/cdb, and a direct injector.
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { cdbBuild } from "@qts/cdb/cdb";
import { mkfifo } from "@qts/sys/fifo";
import { getgrnam, getpwnam } from "@qts/sys/pwd";
import { BIN, runSync, type Started, start, tmp, waitFor } from "../lib/harness.ts";

export interface Ids {
  alias: number;
  qmaild: number;
  qmaill: number;
  qmailp: number;
  qmailq: number;
  qmailr: number;
  qmails: number;
  qmail: number;
  nofiles: number;
}

/** Throws on a failed run: the tests cannot go on without qmail's users. */
function must(r: { code: number; stderr: string }): void {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
}

/** qmail's users and groups (conf-users): created as system accounts when missing, as qmail's INSTALL does. */
export function qmailIds(): Ids {
  for (const g of ["qmail", "nofiles"]) if (!getgrnam(g)) must(runSync("groupadd", ["-r", g]));
  const users: [string, string, string][] = [
    ["alias", "nofiles", "/var/qmail/alias"],
    ["qmaild", "nofiles", "/var/qmail"],
    ["qmaill", "nofiles", "/var/qmail"],
    ["qmailp", "nofiles", "/var/qmail"],
    ["qmailq", "qmail", "/var/qmail"],
    ["qmailr", "qmail", "/var/qmail"],
    ["qmails", "qmail", "/var/qmail"],
  ];
  for (const [u, g, h] of users)
    if (!getpwnam(u)) must(runSync("useradd", ["-r", "-M", "-N", "-g", g, "-d", h, "-s", "/usr/sbin/nologin", u]));
  const uid = (n: string) => (getpwnam(n) as { uid: number }).uid;
  const gid = (n: string) => (getgrnam(n) as { gid: number }).gid;
  return {
    alias: uid("alias"),
    qmaild: uid("qmaild"),
    qmaill: uid("qmaill"),
    qmailp: uid("qmailp"),
    qmailq: uid("qmailq"),
    qmailr: uid("qmailr"),
    qmails: uid("qmails"),
    qmail: gid("qmail"),
    nofiles: gid("nofiles"),
  };
}

/** The delivery user of the tests: nobody, with a home of its own. */
export const NOBODY = 65534;

// Behaviour by local part: ok* succeeds, defer* defers, fail* fails, crash* dies by a signal,
// blank* fails with a blank line in its text, big* writes 5000 bytes, nul* has a NUL in its output.
const FAKE_LOCAL = `#!/bin/sh
shift
d="$QMAILHOME/deliv"
n=$(date +%s%N).$$
{ printf '%s\\n' "$@"; id -u; id -g; id -G; pwd; cat; } > "$d/.$n"
mv "$d/.$n" "$d/$n"
case "$3" in
  defer*) echo "Temporary failure."; exit 111 ;;
  fail*) echo "Sorry, no mailbox here by that name. (#5.1.1)"; exit 100 ;;
  crash*) kill -9 $$ ;;
  blank*) printf 'first\\n\\n\\nlast'; exit 100 ;;
  big*) head -c 5000 /dev/zero | tr '\\0' x; exit 100 ;;
  nul*) printf 'before\\0after'; exit 0 ;;
  code*) echo "code \${3#code}"; exit "\${3#code}" ;;
  slow*) sleep 1; echo "did 1+0+0"; exit 0 ;;
esac
echo "did 1+0+0"
exit 0
`;

// argv: host sender recip; reports per qmail-remote's format (qmail-remote(8)).
const FAKE_REMOTE = `#!/bin/sh
d="$QMAILHOME/deliv"
n=r$(date +%s%N).$$
{ printf '%s\\n' "$@"; id -u; pwd; cat; } > "$d/.$n"
mv "$d/.$n" "$d/$n"
case "$3" in
  hard*) printf 'h127.0.0.1 does not like recipient.\\nRemote host said: 550 no such user\\n\\0DGiving up on 127.0.0.1.\\n\\0' ;;
  soft*) printf 's127.0.0.1 does not like recipient.\\nRemote host said: 450 try later\\n\\0DGiving up on 127.0.0.1.\\n\\0' ;;
  conn*) printf "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\\n\\0" ;;
  empty*) ;;
  exit*) exit 111 ;;
  *) printf 'r\\0K127.0.0.1 accepted message.\\nRemote host said: 250 ok 1234 qp 99\\n\\0' ;;
esac
exit 0
`;

// $QMAILQUEUE for qmail-send's bounces: keeps message and envelope in qq/, named by its pid (the log's qp).
const FAKE_QUEUE = `#!/bin/sh
d="$QMAILHOME/qq"
n=$(date +%s%N).$$
cat > "$d/.$n.msg" || exit 54
cat <&1 > "$d/.$n.env" || exit 54
mv "$d/.$n.msg" "$d/$n.msg"
mv "$d/.$n.env" "$d/$n.env"
exit \${FAKE_QQ_EXIT:-0}
`;

export interface Home {
  dir: string;
  ids: Ids;
  deliv: string;
  /** nobody's home, the recipients' homedir in users/cdb. */
  userHome: string;
}

/** A fresh qmail home: control/me = "domain", locals = domain, queue tree, bin/, users/cdb. */
export function makeHome(opts: { control?: Record<string, string> } = {}): Home {
  const ids = qmailIds();
  const dir = tmp("qts-send-");
  chmodSync(dir, 0o755);
  for (const d of ["control", "bin", "users", "deliv", "user", "qq"]) mkdirSync(join(dir, d));
  chmodSync(join(dir, "deliv"), 0o1777);
  chmodSync(join(dir, "qq"), 0o1777);
  chownSync(join(dir, "user"), NOBODY, NOBODY);
  const control: Record<string, string> = { me: "domain", locals: "domain", ...opts.control };
  for (const [k, v] of Object.entries(control)) writeFileSync(join(dir, "control", k), v.endsWith("\n") ? v : `${v}\n`);

  const q = join(dir, "queue");
  const mk = (p: string, uid: number, gid: number, mode: number) => {
    mkdirSync(join(q, p), { recursive: true });
    chownSync(join(q, p), uid, gid);
    chmodSync(join(q, p), mode);
  };
  mk("", ids.qmailq, ids.qmail, 0o750);
  mk("pid", ids.qmailq, ids.qmail, 0o700);
  mk("intd", ids.qmailq, ids.qmail, 0o700);
  mk("todo", ids.qmailq, ids.qmail, 0o750);
  mk("mess", ids.qmailq, ids.qmail, 0o750);
  mk("bounce", ids.qmails, ids.qmail, 0o700);
  mk("lock", ids.qmailq, ids.qmail, 0o750);
  for (const s of ["info", "local", "remote"]) mk(s, ids.qmails, ids.qmail, 0o700);
  for (let i = 0; i < 23; i++) {
    mk(`mess/${i}`, ids.qmailq, ids.qmail, 0o750);
    for (const s of ["info", "local", "remote"]) mk(`${s}/${i}`, ids.qmails, ids.qmail, 0o700);
  }
  writeFileSync(join(q, "lock/sendmutex"), "");
  chownSync(join(q, "lock/sendmutex"), ids.qmails, ids.qmail);
  chmodSync(join(q, "lock/sendmutex"), 0o600);
  writeFileSync(join(q, "lock/tcpto"), Buffer.alloc(1024, 1));
  chownSync(join(q, "lock/tcpto"), ids.qmailr, ids.qmail);
  chmodSync(join(q, "lock/tcpto"), 0o644);
  mkfifo(join(q, "lock/trigger"), 0o622);
  chownSync(join(q, "lock/trigger"), ids.qmails, ids.qmail);
  chmodSync(join(q, "lock/trigger"), 0o622);

  for (const p of ["qmail-send", "qmail-lspawn", "qmail-rspawn", "qmail-clean", "qmail-start", "qmail-getpw"])
    symlinkSync(join(BIN, p), join(dir, "bin", p));
  writeFileSync(join(dir, "bin/qmail-local"), FAKE_LOCAL, { mode: 0o755 });
  writeFileSync(join(dir, "bin/qmail-remote"), FAKE_REMOTE, { mode: 0o755 });
  writeFileSync(join(dir, "bin/fake-qmail-queue"), FAKE_QUEUE, { mode: 0o755 });

  const userHome = join(dir, "user");
  // users/cdb: a catch-all wildcard to nobody (ext = the local part), "root" to uid 0.
  const v = (u: string, uid: number, h: string, dash: string, ext: string) =>
    Buffer.from(`${u}\0${uid}\0${uid}\0${h}\0${dash}\0${ext}\0`);
  writeFileSync(
    join(dir, "users/cdb"),
    cdbBuild([
      ["", "-"],
      ["!root\0", v("root", 0, "/root", "", "")],
      ["!", Buffer.from(`nobody\0${NOBODY}\0${NOBODY}\0${userHome}\0-\0`)],
    ]),
  );
  return { dir, ids, deliv: join(dir, "deliv"), userHome };
}

let seq = 0;

/** qmail-queue's algorithm (qmail-queue.c), as root, for tests; returns the message id. */
export function inject(
  home: Home,
  sender: string,
  recips: string[],
  body = "Subject: test\n\nhello\n",
  opts: { trigger?: boolean; uid?: number; pid?: number } = {},
): number {
  const q = join(home.dir, "queue");
  const pidfn = join(q, `pid/${process.pid}.${Date.now()}.${++seq}`);
  const fd = openSync(pidfn, "wx", 0o644);
  const id = fstatSync(fd).ino;
  const mess = join(q, `mess/${id % 23}/${id}`);
  linkSync(pidfn, mess);
  unlinkSync(pidfn);
  writeSync(fd, `Received: (qmail ${opts.pid ?? 4242} invoked by uid ${opts.uid ?? 0}); 1 Jan 2026 00:00:00 -0000\n`);
  writeSync(fd, body);
  fsyncSync(fd);
  closeSync(fd);
  chownSync(mess, home.ids.qmailq, home.ids.qmail);
  const intd = join(q, `intd/${id}`);
  const env = `u${opts.uid ?? 0}\0p${opts.pid ?? 4242}\0F${sender}\0${recips.map((r) => `T${r}\0`).join("")}`;
  writeFileSync(intd, Buffer.from(env, "latin1"), { mode: 0o644 });
  chownSync(intd, home.ids.qmailq, home.ids.qmail);
  linkSync(intd, join(q, `todo/${id}`));
  if (opts.trigger !== false) pull(home);
  return id;
}

/** Pulls lock/trigger (ignored when nobody listens). */
export function pull(home: Home): void {
  try {
    const fd = openSync(join(home.dir, "queue/lock/trigger"), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, "x");
    closeSync(fd);
  } catch {}
}

export interface Running {
  child: Started;
  pid: number;
  log: () => string;
  lines: () => string[];
  /** Waits until the log has a line matching re (bounded). */
  waitLine: (re: RegExp, ms?: number) => Promise<boolean>;
  /** Same, among the lines from index from on. */
  waitLineFrom: (from: number, re: RegExp, ms?: number) => Promise<boolean>;
  stop: () => Promise<void>;
}

/** qmail-start with no logger: qmail-send's log is qmail-start's stdout. */
export function startQmail(
  home: Home,
  args: string[] = ["./Mailbox"],
  env: Record<string, string> = {},
  prefix: string[] = [],
): Running {
  const cmd = [...prefix, join(home.dir, "bin/qmail-start"), ...args];
  const child = start(cmd[0] as string, cmd.slice(1), {
    env: {
      PATH: `${join(home.dir, "bin")}:/usr/bin:/bin`,
      QMAILHOME: home.dir,
      QMAILQUEUE: join(home.dir, "bin/fake-qmail-queue"),
      ...env,
    },
    extendEnv: false,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // The log followed line by line: qmail-send's lines on stdout, qmail-start's on stderr.
  const got = () => child.lines().filter((l) => l !== "");
  const r: Running = {
    child,
    pid: child.pid,
    log: () =>
      got()
        .map((l) => `${l}\n`)
        .join(""),
    lines: got,
    waitLine: async (re, ms = 8000) => !!(await waitFor(() => r.lines().some((l) => re.test(l)), ms)),
    waitLineFrom: async (from, re, ms = 8000) =>
      !!(await waitFor(
        () =>
          r
            .lines()
            .slice(from)
            .some((l) => re.test(l)),
        ms,
      )),
    stop: async () => {
      child.kill("SIGTERM");
      await child.wait(8000);
    },
  };
  return r;
}

/** Files the fake qmail-local / qmail-remote wrote, oldest first: each is its argv, ids, cwd and stdin. */
export function deliveries(home: Home): string[] {
  const fs = require("node:fs") as typeof import("node:fs");
  return fs
    .readdirSync(home.deliv)
    .filter((f) => !f.startsWith("."))
    .sort()
    .map((f) => fs.readFileSync(join(home.deliv, f), "latin1"));
}

/** Messages the fake qmail-queue took, oldest first. */
export function bounces(home: Home): { msg: string; env: string; pid: number }[] {
  const fs = require("node:fs") as typeof import("node:fs");
  return fs
    .readdirSync(join(home.dir, "qq"))
    .filter((f) => f.endsWith(".env") && !f.startsWith("."))
    .sort()
    .map((f) => {
      const base = join(home.dir, "qq", f.slice(0, -4));
      return {
        msg: fs.readFileSync(`${base}.msg`, "latin1"),
        env: fs.readFileSync(`${base}.env`, "latin1"),
        pid: Number(f.split(".")[1]),
      };
    });
}

export function queueFiles(home: Home): string[] {
  const fs = require("node:fs") as typeof import("node:fs");
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(join(home.dir, "queue", rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (!p.startsWith("lock/")) out.push(p);
    }
  };
  walk("");
  return out.sort();
}

export { existsSync };

/** A spawner (qmail-lspawn / qmail-rspawn) run directly, speaking the spawn protocol (spawn.c). */
export class SpawnerProc {
  readonly child: Started;
  exit: Promise<number | null>;
  constructor(file: string, args: string[], home: Home, env: Record<string, string> = {}) {
    this.child = start(file, args, {
      env: { PATH: `${join(home.dir, "bin")}:/usr/bin:/bin`, QMAILHOME: home.dir, ...env },
      extendEnv: false,
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.exit = this.child.exited.then((r) => (r.signal ? null : r.code));
  }
  /** The spawner's first byte (its concurrency limit), or -1 before it came. */
  get first(): number {
    const out = this.child.stdout("latin1");
    return out.length ? out.charCodeAt(0) : -1;
  }
  /** What came after the first byte. */
  private get buf(): Buffer {
    return Buffer.from(this.child.stdout("latin1").slice(1), "latin1");
  }
  send(slot: number, messid: string, sender: string, recip: string): void {
    this.child.write(Buffer.concat([Buffer.from([slot]), Buffer.from(`${messid}\0${sender}\0${recip}\0`, "latin1")]));
  }
  /** Every complete report so far: [slot, text after the slot, without the NUL]. */
  reports(): [number, string][] {
    const out: [number, string][] = [];
    let b = this.buf;
    for (;;) {
      if (b.length < 2) break;
      const z = b.indexOf(0, 1);
      if (z < 0) break;
      out.push([b[0] as number, b.subarray(1, z).toString("latin1")]);
      b = b.subarray(z + 1);
    }
    return out;
  }
  async waitReports(n: number, ms = 8000): Promise<[number, string][]> {
    await waitFor(() => this.reports().length >= n, ms);
    return this.reports();
  }
  end(): void {
    this.child.end();
  }
}

/** The messid qmail-send sends for message id: <N%23>/<N>. */
export function messid(id: number): string {
  return `${id % 23}/${id}`;
}
