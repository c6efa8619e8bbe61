// SPDX-License-Identifier: MIT
// qmail-authd over its socket, as root and as other users (setpriv), against accounts made with
// useradd + chpasswd (prefix qtsau_, removed afterwards): who is served (SO_PEERCRED), the
// answers, uid 0 and locked accounts, bounds (size, time, clients), its log lines, and
// checkpassword as its client when run as qmaild.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import fc from "fast-check";
import { ours, run, runSync, type Started, start, tmp, waitFor } from "../lib/harness.ts";

const AUTHD = ours("qmail-authd");
const CP = ours("checkpassword");
const made: string[] = [];

function addUser(name: string, password: string | undefined, extra: string[] = [], dir = "/nonexistent"): void {
  if (getpwnam(name)) runSync("userdel", [name]);
  const r = runSync("useradd", ["-M", "-d", dir, "-s", "/bin/sh", ...extra, name]);
  if (r.code !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  made.push(name);
  if (password !== undefined) {
    const c = runSync("chpasswd", ["-c", "YESCRYPT"], { input: `${name}:${password}\n` });
    if (c.code !== 0) throw new Error(`chpasswd ${name}: ${c.stderr}`);
  }
}

/** checkpassword run as user:group (setpriv), the request on its fd 3, with home as its qmail home. */
function checkAs(user: string, group: string, home: string, input: string, prog: string[]) {
  return run(
    "setpriv",
    [
      `--reuid=${user}`,
      `--regid=${group}`,
      "--clear-groups",
      "sh",
      "-c",
      'exec "$@" 3<&0 </dev/null',
      "sh",
      CP,
      ...prog,
    ],
    { input, env: { PATH: "/usr/bin:/bin", QMAILHOME: home }, extendEnv: false },
  );
}

const GOOD = "qtsau_good";
const LOCKED = "qtsau_locked";
const EMPTY = "qtsau_empty";
const TOOR = "qtsau_toor";
const PW = "good secret";

let home = "";
let socket = "";
let logFile = "";
let d: Started | undefined;
let log = "";

beforeAll(async () => {
  addUser(GOOD, PW);
  addUser(LOCKED, "locked secret");
  runSync("usermod", ["-L", LOCKED]);
  addUser(EMPTY, undefined);
  runSync("passwd", ["-d", EMPTY]);
  // a second uid 0 account whose password we know: qmail-authd must still refuse it
  addUser(TOOR, "toor secret", ["-o", "-u", "0", "-g", "0"], "/");
  home = tmp("qts-authd-");
  chmodSync(home, 0o755);
  // 0755 here (setup makes it 0750 root:nofiles) so that a refused uid can reach the socket at all
  mkdirSync(join(home, "authd"), { mode: 0o755 });
  socket = join(home, "authd/socket");
  logFile = join(home, "log");
  // Its notification-fd 3 is the pipe of our stdout, its own stdout /dev/null.
  d = start("sh", ["-c", `exec "$@" 3>&1 >/dev/null 2>>${logFile}`, "sh", AUTHD, "qmaild"], {
    env: { PATH: "/usr/bin:/bin", QMAILHOME: home, NOTIFICATION_FD: "3" },
    extendEnv: false,
    stdio: ["ignore", "pipe", "ignore"],
  });
  // ready: a newline on NOTIFICATION_FD once listening
  const ready = await d.until("\n", 10_000);
  expect(ready).toBe("\n");
  expect(existsSync(socket)).toBe(true);
}, 30_000);

afterAll(() => {
  d?.kill("SIGKILL");
  for (const n of made) runSync("userdel", ["-f", n]);
});

function logNow(): string {
  try {
    log = readFileSync(logFile, "latin1");
  } catch {}
  return log;
}

/** As root, in-process: sends request (then EOF unless keepOpen) and resolves to the answer's bytes. */
function ask(request: string | Buffer, opts: { eof?: boolean; timeoutMs?: number } = {}): Promise<number[]> {
  return new Promise((ok) => {
    const got: number[] = [];
    const s = connect({ path: socket });
    const t = setTimeout(() => {
      s.destroy();
      ok([...got, -1]);
    }, opts.timeoutMs ?? 20_000);
    s.on("data", (b: Buffer) => got.push(...b));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      ok(got);
    });
    s.on("connect", () => {
      if (opts.eof === false) s.write(request);
      else s.end(request);
    });
  });
}

/** As user, with python3: the answer's bytes as a list ("[]" when closed without one). */
async function askAs(user: string, request: string): Promise<string> {
  const py =
    "import socket,sys\n" +
    "s=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n" +
    "try:\n  s.sendall(sys.argv[2].encode('latin1').replace(b'|',b'\\0'))\n  s.shutdown(socket.SHUT_WR)\nexcept OSError:\n  pass\n" +
    "b=b''\nwhile True:\n  try:\n    c=s.recv(16)\n  except ConnectionResetError:\n    break\n  if not c: break\n  b+=c\n" +
    "print(list(b))\n";
  const r = await run("setpriv", [
    `--reuid=${user}`,
    `--regid=${user === "nobody" ? "nogroup" : "nofiles"}`,
    "--clear-groups",
    "/usr/bin/python3",
    "-c",
    py,
    socket,
    request,
  ]);
  return r.stdout.trim() || r.stderr;
}

describe("qmail-authd", () => {
  test("root's request: the right password 0, a wrong one 1, each logged without the password", async () => {
    expect(await ask(`${GOOD}\0${PW}\0<ts>\0`)).toEqual([0]);
    expect(await ask(`${GOOD}\0good secreT\0<ts>\0`)).toEqual([1]);
    // the timestamp may be missing, as checkpassword allows
    expect(await ask(`${GOOD}\0${PW}\0`)).toEqual([0]);
    await waitFor(() => logNow().includes("secreT") || logNow().split("\n").length > 3, 2000);
    expect(logNow()).toContain(`qmail-authd: info: uid 0 name ${GOOD} ok\n`);
    expect(logNow()).toContain(`qmail-authd: info: uid 0 name ${GOOD} failed (wrong password)\n`);
    expect(logNow()).not.toContain("secre");
  });

  test("qmaild (named on its command line) is served; another uid is closed without an answer", async () => {
    expect(await askAs("qmaild", `${GOOD}|${PW}|ts|`)).toBe("[0]");
    expect(await askAs("qmaild", `${GOOD}|nope|ts|`)).toBe("[1]");
    expect(await askAs("nobody", `${GOOD}|${PW}|ts|`)).toBe("[]");
    const nobody = getpwnam("nobody")?.uid;
    await waitFor(() => logNow().includes(`uid ${nobody} pid`), 2000);
    expect(logNow()).toMatch(new RegExp(`qmail-authd: warning: uid ${nobody} pid \\d+ not allowed: closed\\n`));
    const qmaild = getpwnam("qmaild")?.uid;
    expect(logNow()).toContain(`qmail-authd: info: uid ${qmaild} name ${GOOD} ok\n`);
  });

  test("uid 0 accounts never pass, even with their right password; locked and empty ones neither", async () => {
    expect(await ask(`${TOOR}\0toor secret\0ts\0`)).toEqual([1]);
    expect(await ask(`root\0\0ts\0`)).toEqual([1]);
    expect(await ask(`${LOCKED}\0locked secret\0ts\0`)).toEqual([1]);
    expect(await ask(`${EMPTY}\0\0ts\0`)).toEqual([1]);
    expect(await ask(`qtsau_nosuchuser\0x\0ts\0`)).toEqual([1]);
    expect(logNow()).toContain(`qmail-authd: info: uid 0 name ${TOOR} failed (uid 0)\n`);
    expect(logNow()).toContain(`qmail-authd: info: uid 0 name ${LOCKED} failed (no usable password)\n`);
    // checkpassword itself, as root, does take the uid 0 account's password: the refusal is qmail-authd's
    const r = await run("sh", ["-c", 'exec "$@" 3<&0', "sh", CP, "true"], { input: `${TOOR}\0toor secret\0` });
    expect(r.code).toBe(0);
  });

  test("bounds: a field over 512 bytes or a request over 1024 is refused (1); no password NUL is misuse (2)", async () => {
    expect(await ask(`${GOOD}\0${"x".repeat(512)}\0ts\0`)).toEqual([1]);
    expect(await ask(`${GOOD}\0${"x".repeat(513)}\0ts\0`)).toEqual([1]);
    expect(await ask(`${"n".repeat(400)}\0${"p".repeat(400)}\0${"t".repeat(400)}\0`)).toEqual([1]);
    expect(await ask(Buffer.alloc(1 << 20, 0x61))).toEqual([1]);
    expect(await ask(`${GOOD}\0${PW}`)).toEqual([2]);
    expect(await ask("")).toEqual([2]);
    expect(logNow()).toContain("qmail-authd: warning: uid 0 request too long\n");
    expect(logNow()).toContain("qmail-authd: warning: uid 0 malformed request\n");
  });

  test("a client that does not finish its request gets 111 (after 10 seconds)", async () => {
    expect(await ask(`${GOOD}\0${PW}`, { eof: false, timeoutMs: 30_000 })).toEqual([111]);
    expect(logNow()).toContain("qmail-authd: warning: uid 0 timeout\n");
  }, 40_000);

  test("at most 16 clients at once: the 17th gets 111 at once, and the slots come back", async () => {
    const idle = Array.from({ length: 16 }, () => connect({ path: socket }));
    await Promise.all(idle.map((s) => new Promise((ok) => s.on("connect", ok))));
    await Bun.sleep(200);
    expect(await ask(`${GOOD}\0${PW}\0ts\0`)).toEqual([111]);
    for (const s of idle) s.destroy();
    expect(await waitFor(async () => (await ask(`${GOOD}\0${PW}\0ts\0`))[0] === 0, 5000)).toBe(true);
  });

  test("fuzzed requests in random pieces: always the answer the limits say, and it keeps serving", async () => {
    /** What the request should get: 1 over the limits or when checked (no such names), 2 short of two NULs. */
    const model = (b: Uint8Array): number => {
      let field = 0;
      let nuls = 0;
      for (let i = 0; i < b.length; i++) {
        if (i >= 1024 || (b[i] !== 0 && field >= 512)) return 1;
        if (b[i] !== 0) {
          field++;
          continue;
        }
        field = 0;
        if (++nuls === 3) return 1;
      }
      return nuls >= 2 ? 1 : 2;
    };
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.constant(Uint8Array.of(0)),
      fc.uint8Array({ minLength: 500, maxLength: 600 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 6 }), async (pieces) => {
        // a name no account has: qtsau_f + bytes
        const all = Buffer.concat([Buffer.from("qtsau_f"), ...pieces]);
        const got = await new Promise<number[]>((ok) => {
          const bytes: number[] = [];
          const s = connect({ path: socket });
          s.on("data", (b: Buffer) => bytes.push(...b));
          s.on("error", () => {});
          s.on("close", () => ok(bytes));
          s.on("connect", async () => {
            s.write(Buffer.from("qtsau_f"));
            for (const p of pieces) {
              await Bun.sleep(1);
              if (!s.destroyed) s.write(p);
            }
            if (!s.destroyed) s.end();
          });
        });
        expect({ got, all: [...all.subarray(0, 64)] }).toEqual({ got: [model(all)], all: [...all.subarray(0, 64)] });
      }),
      { numRuns: 60 },
    );
    expect(await ask(`${GOOD}\0${PW}\0ts\0`)).toEqual([0]);
  }, 60_000);

  test("no core file: its core limit is 0", () => {
    const limits = readFileSync(`/proc/${d?.pid}/limits`, "latin1");
    expect(limits).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
  });
});

describe("checkpassword as qmail-authd's client (not root)", () => {
  const asQmaild = (input: string, prog: string[]) => checkAs("qmaild", "nofiles", home, input, prog);

  test("the right password: the program runs as the caller, with USER, HOME, SHELL of the account", async () => {
    const r = await asQmaild(`${GOOD}\0${PW}\0ts\0`, ["/bin/sh", "-c", 'echo "$USER $HOME $SHELL"; id -un']);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      stdout: `${GOOD} /nonexistent /bin/sh\nqmaild\n`,
      stderr: "",
    });
  });

  test("a wrong password, a uid 0 account: 1, nothing run; no qmail-authd: 111", async () => {
    expect((await asQmaild(`${GOOD}\0wrong\0ts\0`, ["/bin/echo", "ran"])).code).toBe(1);
    expect((await asQmaild(`${TOOR}\0toor secret\0ts\0`, ["/bin/echo", "ran"])).stdout).toBe("");
    const r = await checkAs("qmaild", "nofiles", tmp("qts-authd-none-"), `${GOOD}\0${PW}\0`, ["/bin/echo", "ran"]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 111, stdout: "" });
  });
});

describe("qmail-authd's command line and end", () => {
  test("an option is a usage error (100); an unknown account 111", async () => {
    const u = await run(AUTHD, ["-x"]);
    expect({ code: u.code, stderr: u.stderr }).toEqual({
      code: 100,
      stderr: "qmail-authd: usage: qmail-authd [ account ... ]\n",
    });
    const a = await run(AUTHD, ["qtsau_nosuchuser"], { env: { QMAILHOME: home } });
    expect({ code: a.code, stderr: a.stderr }).toEqual({
      code: 111,
      stderr: "qmail-authd: fatal: unknown account qtsau_nosuchuser\n",
    });
  });

  test("SIGTERM: exit 0, the socket removed", async () => {
    const h = tmp("qts-authd-term-");
    mkdirSync(join(h, "authd"));
    chownSync(join(h, "authd"), 0, 0);
    const p = start(AUTHD, [], { env: { QMAILHOME: h }, stdio: "ignore" });
    expect(await waitFor(() => existsSync(join(h, "authd/socket")), 10_000)).toBe(true);
    p.kill("SIGTERM");
    expect((await p.wait(10_000)).code).toBe(0);
    expect(existsSync(join(h, "authd/socket"))).toBe(false);
  });
});

describe.skipIf(!existsSync("/usr/sbin/unix_chkpwd"))(
  "qmail-authd not root (make start by a user): PAM's unix_chkpwd",
  () => {
    const ME = "qtsau_me";
    const OTHER = "qtsau_other";
    let h = "";
    let p: Started | undefined;
    const errs = () => p?.stderr("latin1") ?? "";
    beforeAll(async () => {
      addUser(ME, "my secret");
      addUser(OTHER, "other secret");
      const me = getpwnam(ME);
      if (!me) throw new Error(ME);
      h = tmp("qts-authd-user-");
      chmodSync(h, 0o755);
      mkdirSync(join(h, "authd"), { mode: 0o700 });
      chownSync(join(h, "authd"), me.uid, me.gid);
      p = start("setpriv", [`--reuid=${ME}`, `--regid=${me.gid}`, "--clear-groups", AUTHD], {
        env: { PATH: "/usr/bin:/bin", QMAILHOME: h },
        extendEnv: false,
        stdout: "ignore",
      });
      await waitFor(() => existsSync(join(h, "authd/socket")), 10_000);
    }, 30_000);
    afterAll(() => p?.kill());

    const asMe = (input: string) => checkAs(ME, ME, h, input, ["/bin/echo", "ran"]);

    test("its own user's password: right 0, wrong 1; another account's cannot be checked: 111", async () => {
      expect((await asMe(`${ME}\0my secret\0ts\0`)).stdout).toBe("ran\n");
      expect((await asMe(`${ME}\0my secreT\0ts\0`)).code).toBe(1);
      expect((await asMe(`${OTHER}\0other secret\0ts\0`)).code).toBe(111);
      const uid = getpwnam(ME)?.uid;
      expect(errs()).toContain(
        `qmail-authd: warning: not root: only uid ${uid}'s own password can be checked (through /usr/sbin/unix_chkpwd)\n`,
      );
      expect(errs()).toContain(`qmail-authd: info: uid ${uid} name ${ME} ok\n`);
      expect(errs()).toContain(`qmail-authd: info: uid ${uid} name ${ME} failed (refused by /usr/sbin/unix_chkpwd)\n`);
      expect(errs()).toContain(
        `qmail-authd: info: uid ${uid} name ${OTHER} temporary failure (/usr/sbin/unix_chkpwd exit 9)\n`,
      );
    });
  },
);
