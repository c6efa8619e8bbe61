// SPDX-License-Identifier: MIT
// SIGPIPE as in C: a program whose original leaves SIGPIPE at its default dies of it on a write to a
// pipe without a reader (Bun only sees EPIPE); one whose original ignores it keeps EPIPE as a write
// error. Each case runs ours and, where Debian has it, the original, on a real pipe whose read end is
// closed before the program starts.
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipe } from "@qts/sys/pipe";
import { freePort, original, ours, ROOT, run, stdioFd, tmp } from "../lib/harness.ts";

interface End {
  signal: string | null;
  code: number | null;
  /** What the program wrote on the stream that was not the broken pipe. */
  other: string;
}

/**
 * Runs file with `broken` (1 or 2) a pipe nobody reads, the other of fds 1/2 captured, and stdin
 * from input (a file, so the program reads all of it at its own pace). Bounded by 10 s.
 */
async function endOf(
  file: string,
  args: string[],
  broken: 1 | 2,
  input = "",
  env: Record<string, string> = {},
): Promise<End> {
  const dir = tmp("qts-sigpipe-");
  const inFile = join(dir, "in");
  writeFileSync(inFile, input);
  const inFd = openSync(inFile, "r");
  const [r, w] = pipe();
  closeSync(r);
  const p = run(file, args, {
    stdio: [stdioFd(inFd), broken === 1 ? stdioFd(w) : "pipe", broken === 2 ? stdioFd(w) : "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    extendEnv: false,
    timeout: 10_000,
    killSignal: "SIGKILL",
  });
  closeSync(w);
  closeSync(inFd);
  const res = await p;
  const end: End = {
    signal: res.signal ?? null,
    code: res.signal ? null : res.code,
    other: broken === 1 ? res.stderr : res.stdout,
  };
  return end;
}

const SIGPIPE_DEATH: Omit<End, "other"> = { signal: "SIGPIPE", code: null };

function impls(name: string): [string, string][] {
  const list: [string, string][] = [["ours", ours(name)]];
  const o = original(name);
  if (o) list.push(["original", o]);
  return list;
}

const lines = `${"line\n".repeat(20_000)}`;

describe.each(impls("tai64n"))("tai64n (%s)", (_w, prog) => {
  test("stdout a pipe without a reader: killed by SIGPIPE, nothing on stderr", async () => {
    expect(await endOf(prog, [], 1, lines)).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });
});

describe.each(impls("tai64nlocal"))("tai64nlocal (%s)", (_w, prog) => {
  test("stdout a pipe without a reader: killed by SIGPIPE, nothing on stderr", async () => {
    expect(await endOf(prog, [], 1, "@400000006000000000000000 x\n".repeat(1000))).toEqual({
      ...SIGPIPE_DEATH,
      other: "",
    });
  });
});

for (const name of ["addcr", "delcr"])
  describe.each(impls(name))(`${name} (%s)`, (_w, prog) => {
    test("stdout a pipe without a reader: killed by SIGPIPE", async () => {
      expect(await endOf(prog, [], 1, lines)).toEqual({ ...SIGPIPE_DEATH, other: "" });
    });
  });

describe.each(impls("fixcrio"))("fixcrio (%s)", (_w, prog) => {
  test("stdout a pipe without a reader: the copying half stops, the program's own exit code stands", async () => {
    expect(await endOf(prog, ["sh", "-c", "cat >/dev/null; exit 3"], 1, lines)).toEqual({
      signal: null,
      code: 3,
      other: "",
    });
  });
});

describe.each(impls("multilog"))("multilog (%s)", (_w, prog) => {
  test("e with stderr a pipe without a reader: killed by SIGPIPE at the first line", async () => {
    expect(await endOf(prog, ["e"], 2, "one\ntwo\n")).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });

  test("-* e (nothing selected): no write to stderr, ends 0 at end of input", async () => {
    expect(await endOf(prog, ["-*", "e"], 2, "one\ntwo\n")).toEqual({ signal: null, code: 0, other: "" });
  });
});

describe.each(impls("svstat"))("svstat (%s)", (_w, prog) => {
  test("stdout a pipe without a reader: killed by SIGPIPE", async () => {
    expect(await endOf(prog, ["/nonexistent-qts-dir"], 1)).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });
});

describe.each(impls("setlock"))("setlock (%s)", (_w, prog) => {
  // strerr writes to fd 2 like any other write: without a reader the usage message ends it by SIGPIPE.
  test("usage with stderr a pipe without a reader: killed by SIGPIPE, not exit 100", async () => {
    expect(await endOf(prog, [], 2)).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });
});

describe("qmail reporters (no C original here: qmail-qread.c and qmail-tcpto.c leave SIGPIPE default)", () => {
  test("qmail-qread: the chdir error goes to stdout; without a reader, killed by SIGPIPE", async () => {
    const home = join(tmp(), "nohome");
    expect(await endOf(ours("qmail-qread"), [], 1, "", { QMAILHOME: home })).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });

  test("qmail-qread: a queue listing into a closed pipe, killed by SIGPIPE", async () => {
    const home = tmp();
    for (const d of ["info", "mess", "local", "remote", "bounce"])
      mkdirSync(join(home, "queue", d, "0"), { recursive: true });
    for (let i = 100; i < 400; i++) {
      writeFileSync(join(home, "queue/info/0", String(i)), "Fsomeone@example.org\0");
      writeFileSync(join(home, "queue/mess/0", String(i)), "Subject: x\n\nbody\n");
      writeFileSync(join(home, "queue/remote/0", String(i)), "Tsomeone.else@example.net\0");
    }
    expect(await endOf(ours("qmail-qread"), [], 1, "", { QMAILHOME: home })).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });

  test("qmail-tcpto: killed by SIGPIPE too", async () => {
    const home = join(tmp(), "nohome");
    expect(await endOf(ours("qmail-tcpto"), [], 1, "", { QMAILHOME: home })).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });
});

describe.each(impls("tcpclient"))("tcpclient (%s): ignores SIGPIPE in C", (_w, prog) => {
  test("connection refused with stderr a pipe without a reader: exit 111, no signal", async () => {
    const port = await freePort();
    expect(await endOf(prog, ["127.0.0.1", String(port), "true"], 2)).toEqual({ signal: null, code: 111, other: "" });
  });
});

describe.each(impls("svc"))("svc (%s): ignores SIGPIPE in C", (_w, prog) => {
  test("usage with stderr a pipe without a reader: exit 100, no signal", async () => {
    expect(await endOf(prog, ["-Z"], 2)).toEqual({ signal: null, code: 100, other: "" });
  });
});

describe("qmail-smtpd: ignores SIGPIPE in C (sig_pipeignore)", () => {
  test("no controls, stdout a pipe without a reader: the 421 cannot be written; exit 1, no signal", async () => {
    const home = join(tmp(), "nohome");
    expect(await endOf(ours("qmail-smtpd"), [], 1, "", { QMAILHOME: home })).toEqual({
      signal: null,
      code: 1,
      other: "",
    });
  });
});

// The mechanism itself, in a Bun process of its own (core's state is per process): writeAll on a
// pipe without a reader calls the registered death; after sigpipeIgnore() it throws EPIPE instead;
// sys's dieOfSigpipe really ends the process by the signal, before anything after it runs.
describe("core checkPipe + sys dieOfSigpipe", () => {
  const BUN = join(ROOT, "node_modules/.bin/bun");
  const script = (body: string) => `
import { closeSync } from "node:fs";
import { setSigpipeDeath, sigpipeIgnore, writeAll } from "${join(ROOT, "packages/core/src/die.ts")}";
import { dieOfSigpipe } from "${join(ROOT, "packages/sys/src/sigpipe.ts")}";
import { pipe } from "${join(ROOT, "packages/sys/src/pipe.ts")}";
const [r, w] = pipe();
closeSync(r);
${body}
`;
  const go = async (body: string) => {
    const f = join(tmp(), "t.ts");
    writeFileSync(f, script(body));
    return await endOf(BUN, [f], 2);
  };

  test("EPIPE without sigpipeIgnore(): the death registered with setSigpipeDeath runs", async () => {
    const r = await go(`setSigpipeDeath(() => { console.log("death"); process.exit(7); });
writeAll(w, "x");
console.log("not reached");`);
    expect(r).toEqual({ signal: null, code: 7, other: "death\n" });
  });

  test("EPIPE after sigpipeIgnore(): writeAll throws EPIPE, as before", async () => {
    const r = await go(`setSigpipeDeath(() => { console.log("death"); process.exit(7); });
sigpipeIgnore();
try { writeAll(w, "x"); } catch (e) { console.log((e as { code?: string }).code); }`);
    expect(r).toEqual({ signal: null, code: 0, other: "EPIPE\n" });
  });

  test("dieOfSigpipe: killed by SIGPIPE at once", async () => {
    const r = await go(`setSigpipeDeath(dieOfSigpipe);
writeAll(w, "x");
console.log("not reached");`);
    expect(r).toEqual({ ...SIGPIPE_DEATH, other: "" });
  });
});

// The programs whose C source ignores SIGPIPE (sig_pipeignore() in qmail, sig_ignore(sig_pipe) in
// daemontools/ucspi-tcp; datemail and mailsubj are scripts around predate and qmail-inject;
// qmail-queued and qmail-authd, daemons of ours, have no original, nor has qmail-dkim, which stands in for qmail-queue
// and ignores it as qmail-queue does; recordio and fixcrio ignore it in their copying
// half only). Every other program dies of SIGPIPE.
const IGNORES = new Set([
  "fixcrio",
  "mconnect-io",
  "qreceipt",
  "qsmhook",
  "recordio",
  "svc",
  "tcpclient",
  "tcpserver",
  "condredirect",
  "datemail",
  "forward",
  "mailsubj",
  "predate",
  "preline",
  "qmail-authd",
  "qmail-clean",
  "qmail-dkim",
  "qmail-inject",
  "qmail-local",
  "qmail-lspawn",
  "qmail-pop3d",
  "qmail-popup",
  "qmail-qmqpc",
  "qmail-qmqpd",
  "qmail-qmtpd",
  "qmail-queue",
  "qmail-queued",
  "qmail-remote",
  "qmail-rspawn",
  "qmail-send",
  "qmail-smtpd",
]);

test("every program file declares sigpipeIgnore() exactly when its original ignores SIGPIPE", () => {
  const got: string[] = [];
  const want: string[] = [];
  for (const pkg of readdirSync(join(ROOT, "packages"))) {
    let files: string[] = [];
    try {
      files = readdirSync(join(ROOT, "packages", pkg, "src", "bin"));
    } catch {
      continue;
    }
    for (const f of files.filter((x) => x.endsWith(".ts"))) {
      const name = f.slice(0, -3);
      const text = readFileSync(join(ROOT, "packages", pkg, "src", "bin", f), "utf8");
      // datemail runs predate's main, which declares it.
      const ignores = /^\s*sigpipeIgnore\(\);/m.test(text) || (name === "datemail" && /predate/.test(text));
      if (ignores) got.push(name);
      if (IGNORES.has(name)) want.push(name);
    }
  }
  expect(got.sort()).toEqual(want.sort());
});
