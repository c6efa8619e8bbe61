// SPDX-License-Identifier: MIT
// POP3: qmail-popup + checkpassword + qmail-pop3d under Debian's tcpserver, over maildirs that
// our qmail-local filled, with real clients (python's poplib, fetchmail, mutt) and raw sessions
// for the original's answers (qmail-popup.c, qmail-pop3d.c, commands.c).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Exit } from "@qts/core/die";
import { PopIn } from "@qts/qmail/lib/pop3/pop3";
import { pipe } from "@qts/sys/pipe";
import { getpwnam } from "@qts/sys/pwd";
import { BIN, freePort, kill, ours, runSync, start, tmp, waitFor } from "../lib/harness.ts";

const base = tmp("qts-pop-");
chmodSync(base, 0o755);
const made: string[] = [];
type User = { name: string; uid: number; gid: number; home: string; password: string };

function addUser(name: string, password: string): User {
  const home = join(base, name);
  mkdirSync(home);
  if (getpwnam(name)) runSync("userdel", [name]);
  const r = runSync("useradd", ["-M", "-d", home, "-s", "/bin/sh", name]);
  if (r.code !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  made.push(name);
  runSync("chpasswd", [], { input: `${name}:${password}\n` });
  const pw = getpwnam(name);
  if (!pw) throw new Error(`no ${name}`);
  chownSync(home, pw.uid, pw.gid);
  return { name, uid: pw.uid, gid: pw.gid, home, password };
}

function asUser(u: User, argv: string[], input?: string) {
  return runSync("setpriv", [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--clear-groups", ...argv], {
    input: input ?? "",
    encoding: "latin1",
    cwd: u.home,
    env: { PATH: `${BIN}:/usr/bin:/bin`, QMAILHOME: base },
    extendEnv: false,
  });
}

/** A fresh Maildir for u, filled by our qmail-local with these messages, all dated a minute back. */
function fill(u: User, bodies: string[]): string[] {
  const md = join(u.home, "Maildir");
  runSync("rm", ["-rf", md]);
  expect(asUser(u, [ours("maildirmake"), md]).code).toBe(0);
  for (const b of bodies) {
    const r = asUser(
      u,
      [ours("qmail-local"), "--", u.name, u.home, u.name, "", "", "example.com", "sender@example.org", "./Maildir/"],
      b,
    );
    expect(r.code).toBe(0);
  }
  const names = readdirSync(join(md, "new"));
  const old = Date.now() / 1000 - 60;
  names.forEach((n, i) => {
    utimesSync(join(md, "new", n), old + i, old + i);
  });
  return names.sort((a, b) => statOrder(md, a) - statOrder(md, b));
}
function statOrder(md: string, n: string): number {
  return Number(runSync("stat", ["-c", "%Y", join(md, "new", n)]).stdout);
}

let alice: User;
let bob: User;
let carol: User;
let port = 0;
let serverPid = 0;
const HOST = "pop.example.com";

beforeAll(async () => {
  alice = addUser("qtsp_alice", "alice pw");
  bob = addUser("qtsp_bob", "bob pw");
  carol = addUser("qtsp_carol", "carol pw"); // no Maildir
  port = await freePort();
  const logf = join(base, "tcpserver.log");
  const p = start(
    "/usr/bin/tcpserver",
    [
      "-v",
      "-R",
      "-H",
      "-l",
      "0",
      "127.0.0.1",
      String(port),
      ours("qmail-popup"),
      HOST,
      "checkpassword",
      "qmail-pop3d",
      "Maildir",
    ],
    {
      stdin: "ignore",
      stdout: "ignore",
      stderr: { file: logf },
      env: { PATH: `${BIN}:/usr/bin:/bin` },
      extendEnv: false,
    },
  );
  serverPid = p.pid;
  await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 10000);
});
afterAll(() => {
  kill(serverPid);
  for (const n of made) runSync("userdel", [n]);
});

/** A raw session: each step's bytes are sent once the reply to the previous one has arrived. */
async function session(steps: (string | Buffer)[], timeoutMs = 15000): Promise<string[]> {
  return await new Promise((ok) => {
    const s = connect(port, "127.0.0.1");
    const replies: string[] = [];
    let cur = "";
    let i = 0;
    // whether the reply awaited is a multi-line one (LIST, UIDL without a number; RETR, TOP)
    let multi = false;
    const t = setTimeout(() => s.destroy(), timeoutMs);
    const send = () => {
      if (i >= steps.length) return;
      const st = steps[i++] as string | Buffer;
      multi = typeof st === "string" && (/^(list|uidl)\r\n$/i.test(st) || /^(retr|top) /i.test(st));
      s.write(st);
    };
    s.on("data", (d) => {
      cur += d.toString("latin1");
      for (;;) {
        let end: number;
        if (multi && cur.startsWith("+OK")) {
          end = cur.indexOf("\r\n.\r\n");
          if (end < 0) return;
          end += 5;
        } else {
          end = cur.indexOf("\r\n");
          if (end < 0) return;
          end += 2;
        }
        replies.push(cur.slice(0, end));
        cur = cur.slice(end);
        send();
      }
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      if (cur) replies.push(cur);
      ok(replies);
    });
  });
}

const login = (u: User) => [`USER ${u.name}\r\n`, `PASS ${u.password}\r\n`];

function python(script: string): { code: number | null; stdout: string; stderr: string } {
  const r = runSync("python3", ["-c", script, String(port)], { timeout: 30000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

describe("qmail-popup + checkpassword + qmail-pop3d", () => {
  test("python's poplib: stat, list, uidl, top, retr, dele, quit over a maildir qmail-local filled", () => {
    const names = fill(alice, ["Subject: one\n\nfirst body\n.starts with a dot\n", "Subject: two\n\nsecond\n"]);
    const md = join(alice.home, "Maildir");
    const files = names.map((n) => readFileSync(join(md, "new", n), "latin1"));
    const r = python(`
import poplib, sys, json
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
out = {"welcome": p.getwelcome().decode()}
out["user"] = p.user("qtsp_alice").decode()
out["pass"] = p.pass_("alice pw").decode()
out["stat"] = list(p.stat())
out["list"] = [x.decode() for x in p.list()[1]]
out["uidl"] = [x.decode() for x in p.uidl()[1]]
out["top"] = [x.decode() for x in p.top(1, 0)[1]]
out["retr"] = [[x.decode() for x in p.retr(i)[1]] for i in (1, 2)]
out["dele"] = p.dele(1).decode()
out["stat2"] = list(p.stat())
out["quit"] = p.quit().decode()
print(json.dumps(out))
`);
    expect(r.stderr).toBe("");
    const o = JSON.parse(r.stdout);
    expect(o.welcome).toMatch(new RegExp(`^\\+OK <\\d+\\.\\d+@${HOST.replace(/\./g, "\\.")}>$`));
    expect([o.user, o.pass, o.dele, o.quit]).toEqual(["+OK ", "+OK ", "+OK ", "+OK "]);
    const sizes = files.map((f) => Buffer.byteLength(f));
    expect(o.stat).toEqual([2, (sizes[0] as number) + (sizes[1] as number)]);
    expect(o.list).toEqual([`1 ${sizes[0]}`, `2 ${sizes[1]}`]);
    expect(o.uidl).toEqual([`1 ${names[0]}`, `2 ${names[1]}`]);
    // each line of the file, a final blank line (qmail-pop3d(8)); poplib undoes the dot-stuffing
    const lines = (f: string) => [...f.replace(/\n$/, "").split("\n"), ""];
    expect(o.retr).toEqual([lines(files[0] as string), lines(files[1] as string)]);
    expect(o.top).toEqual([...(files[0] as string).split("\n\n")[0]!.split("\n"), "", ""]);
    // STAT counts the deleted message, without its size
    expect(o.stat2).toEqual([2, sizes[1]]);
    // QUIT: the deleted one is gone, the other moved to cur/ with ":2,"
    expect(readdirSync(join(md, "new"))).toEqual([]);
    expect(readdirSync(join(md, "cur"))).toEqual([`${names[1]}:2,`]);
  });

  test("fetchmail retrieves both messages through its MDA and deletes them", () => {
    const names = fill(alice, ["Subject: fm one\n\nfirst\n", "Subject: fm two\n\n.dot line\n"]);
    const md = join(alice.home, "Maildir");
    const files = names.map((n) => readFileSync(join(md, "new", n), "latin1"));
    const d = tmp("qts-fetchmail-");
    const out = join(d, "out");
    writeFileSync(
      join(d, "rc"),
      `set no syslog
poll 127.0.0.1 service ${port} protocol pop3 auth password:
  user "qtsp_alice" there with password "alice pw" is root here
  sslproto '' no sslcertck
  mda "/bin/sh -c 'cat >> ${out}; echo ===== >> ${out}'"
`,
      { mode: 0o600 },
    );
    const r = runSync("fetchmail", ["-f", join(d, "rc"), "--nodetach", "--pidfile", join(d, "pid")], {
      encoding: "latin1",
      env: { HOME: d, PATH: "/usr/bin:/bin" },
      extendEnv: false,
      timeout: 60000,
    });
    expect(r.code).toBe(0);
    const got = readFileSync(out, "latin1").split("=====\n");
    // fetchmail adds its own Received line on top; the rest is the file (plus the POP blank line)
    expect(got).toHaveLength(3);
    for (let i = 0; i < 2; i++) expect(got[i]).toContain(files[i] as string);
    expect(readdirSync(join(md, "new"))).toEqual([]);
    expect(readdirSync(join(md, "cur"))).toEqual([]);
  });

  test("mutt's fetch-mail moves both messages into its mbox and deletes them on the server", () => {
    const names = fill(alice, ["Subject: mutt one\n\nfirst\n", "Subject: mutt two\n\nsecond\n"]);
    const md = join(alice.home, "Maildir");
    const files = names.map((n) => readFileSync(join(md, "new", n), "latin1"));
    const d = tmp("qts-mutt-");
    const inbox = join(d, "inbox");
    writeFileSync(inbox, "");
    writeFileSync(
      join(d, "muttrc"),
      `set pop_host="pop://qtsp_alice@127.0.0.1:${port}/"
set pop_pass="alice pw"
set pop_delete=yes
set pop_last=no
set pop_authenticators="user"
set spoolfile=${inbox}
set mbox_type=mbox
set folder=${d}
set move=no
set ssl_starttls=no
set ssl_force_tls=no
`,
    );
    // mutt wants a terminal: script(1) gives it one
    const r = runSync(
      "script",
      ["-qec", `mutt -n -F ${d}/muttrc -f ${inbox} -e 'push <fetch-mail><quit>'`, "/dev/null"],
      { encoding: "latin1", env: { HOME: d, TERM: "vt100", PATH: "/usr/bin:/bin" }, extendEnv: false, timeout: 60000 },
    );
    expect(r.code).toBe(0);
    const mbox = readFileSync(inbox, "latin1");
    expect(mbox.match(/^From /gm)).toHaveLength(2);
    // mutt adds Status, Content-Length and Lines to the header; every line of ours is there, and the body
    for (const f of files as string[]) {
      const [head, body] = [f.slice(0, f.indexOf("\n\n")), f.slice(f.indexOf("\n\n") + 2)];
      for (const l of head.split("\n")) expect(mbox).toContain(`${l}\n`);
      expect(mbox).toContain(`\n\n${body}`);
    }
    expect(readdirSync(join(md, "new"))).toEqual([]);
    expect(readdirSync(join(md, "cur"))).toEqual([]);
  });

  test("the byte stream: dot-stuffing, TOP's line count, RSET, LAST, NOOP, unknown commands", async () => {
    const names = fill(bob, ["Subject: s\n\nl1\n.l2\nl3\n"]);
    const r = await session([
      ...login(bob),
      "TOP 1 1\r\n",
      "retr 1\r\n",
      "DELE 1\r\n",
      "LAST\r\n",
      "LIST\r\n",
      "RSET\r\n",
      "LAST\r\n",
      "UIDL 1\r\n",
      "NOOP\r\n",
      "CAPA\r\n",
      "QUIT\r\n",
    ]);
    const file = readFileSync(join(bob.home, "Maildir/cur", `${names[0]}:2,`), "latin1");
    const head = file.slice(0, file.indexOf("\n\n") + 1).replace(/\n/g, "\r\n");
    expect(r.slice(1)).toEqual([
      "+OK \r\n",
      "+OK \r\n",
      `+OK \r\n${head}\r\nl1\r\n\r\n.\r\n`,
      `+OK \r\n${head}\r\nl1\r\n..l2\r\nl3\r\n\r\n.\r\n`,
      "+OK \r\n",
      "+OK 1\r\n",
      "+OK \r\n.\r\n",
      "+OK \r\n",
      "+OK 0\r\n",
      `+OK 1 ${names[0]}\r\n`,
      "+OK \r\n",
      "-ERR unimplemented\r\n",
      "+OK \r\n",
    ]);
  });

  test("a wrong password: -ERR authorization failed and the connection closes; a unknown user alike", async () => {
    fill(alice, ["Subject: x\n\ny\n"]);
    expect(await session(["USER qtsp_alice\r\n", "PASS alice PW\r\n", "STAT\r\n"])).toEqual([
      expect.stringMatching(/^\+OK <.*>\r\n$/),
      "+OK \r\n",
      "-ERR authorization failed\r\n",
    ]);
    expect((await session(["USER qtsp_nobody\r\n", "PASS x\r\n"])).slice(2)).toEqual(["-ERR authorization failed\r\n"]);
  });

  test("the authorization state: USER first, syntax errors, APOP, NOOP, QUIT", async () => {
    expect(
      (await session(["PASS x\r\n", "USER\r\n", "STAT\r\n", "APOP qtsp_alice\r\n", "NOOP\r\n", "quit\r\n"])).slice(1),
    ).toEqual([
      "-ERR USER first\r\n",
      "-ERR syntax error\r\n",
      "-ERR authorization first\r\n",
      "-ERR syntax error\r\n",
      "+OK \r\n",
      "+OK \r\n",
    ]);
    // APOP name digest: the digest goes to checkpassword as the password, which ours refuses
    expect((await session(["APOP qtsp_alice 0123456789abcdef\r\n"])).slice(1)).toEqual([
      "-ERR authorization failed\r\n",
    ]);
  });

  test("no Maildir: -ERR this user has no $HOME/Maildir", async () => {
    expect((await session([...login(carol), "STAT\r\n"])).slice(1)).toEqual([
      "+OK \r\n",
      "-ERR this user has no $HOME/Maildir\r\n",
    ]);
  });

  test("a message deleted by another session: -ERR unable to open that message", async () => {
    fill(alice, ["Subject: a\n\n1\n", "Subject: b\n\n2\n"]);
    // session A lists both, then waits while session B deletes message 1 and quits
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (d) => {
      got += d.toString("latin1");
    });
    s.on("error", () => {});
    const until = async (n: number) => expect(await waitFor(() => got.split("\r\n").length > n, 10000)).toBe(true);
    await until(1);
    s.write(`USER qtsp_alice\r\n`);
    await until(2);
    s.write(`PASS alice pw\r\n`);
    await until(3);
    s.write("STAT\r\n");
    await until(4);
    expect(got.split("\r\n")[3]).toMatch(/^\+OK 2 \d+$/);
    expect(await session([...login(alice), "DELE 1\r\n", "QUIT\r\n"])).toHaveLength(5);
    s.write("RETR 1\r\nRETR 2\r\nQUIT\r\n");
    await waitFor(() => got.endsWith("+OK \r\n"), 10000);
    s.destroy();
    const after = got.split("\r\n").slice(4);
    // B's QUIT also moved message 2 to cur/: A, which does not scan again, cannot open either
    expect(after).toEqual(["-ERR unable to open that message", "-ERR unable to open that message", "+OK ", ""]);
  });

  test("bad message numbers: not a number, zero, too big, already deleted", async () => {
    fill(alice, ["Subject: a\n\n1\n"]);
    expect(
      (
        await session([
          ...login(alice),
          "RETR abc\r\n",
          "RETR\r\n",
          "LIST x1\r\n",
          "DELE 0\r\n",
          "TOP 2 1\r\n",
          "RETR 18446744073709551617\r\n",
          "DELE 1\r\n",
          "DELE 1\r\n",
          "RETR 1\r\n",
          "LIST 1\r\n",
          "QUIT\r\n",
        ])
      ).slice(3),
    ).toEqual([
      "-ERR syntax error\r\n",
      "-ERR syntax error\r\n",
      "-ERR syntax error\r\n",
      "-ERR messages are counted from 1\r\n",
      "-ERR not that many messages\r\n",
      // scan_ulong wraps at 2^64, as in the C: 18446744073709551617 is message 1
      expect.stringMatching(/^\+OK \r\nReturn-Path: <sender@example.org>\r\n[\s\S]*\r\n\r\n\.\r\n$/),
      "+OK \r\n",
      "-ERR already deleted\r\n",
      "-ERR already deleted\r\n",
      "-ERR already deleted\r\n",
      "+OK \r\n",
    ]);
    expect(readdirSync(join(alice.home, "Maildir/new"))).toEqual([]);
  });

  test("a message from this very second is left for the next session (maildir_scan's mtime rule)", async () => {
    fill(alice, ["Subject: a\n\n1\n"]);
    const md = join(alice.home, "Maildir");
    const n = readdirSync(join(md, "new"))[0] as string;
    const now = Date.now() / 1000 + 5;
    utimesSync(join(md, "new", n), now, now);
    expect((await session([...login(alice), "STAT\r\n", "QUIT\r\n"])).slice(3)).toEqual(["+OK 0 0\r\n", "+OK \r\n"]);
    expect(readdirSync(join(md, "new"))).toEqual([n]);
  });

  test("a line longer than 64 KiB: the first 64 KiB are answered, the session goes on", async () => {
    fill(alice, ["Subject: a\n\n1\n"]);
    const long = "X".repeat(200000);
    expect((await session([`USER ${long}\r\n`, `${long}\r\n`, "NOOP\r\n", "QUIT\r\n"])).slice(1)).toEqual([
      "+OK \r\n",
      "-ERR authorization first\r\n",
      "+OK \r\n",
      "+OK \r\n",
    ]);
    expect((await session([...login(alice), `STAT${long}\r\n`, `NOOP ${long}\r\n`, "QUIT\r\n"])).slice(3)).toEqual([
      "-ERR unimplemented\r\n",
      "+OK \r\n",
      "+OK \r\n",
    ]);
  });

  test("a line sent in pieces with pauses is answered once whole", async () => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (d) => {
      got += d.toString("latin1");
    });
    s.on("error", () => {});
    await waitFor(() => got.includes("\r\n"), 10000);
    s.write("NO");
    await Bun.sleep(300);
    s.write("O");
    await Bun.sleep(300);
    expect(got.split("\r\n").length).toBe(2);
    s.write("P\r\nQUIT\r\n");
    await waitFor(() => got.split("\r\n").length >= 4, 10000);
    expect(got.split("\r\n").slice(1)).toEqual(["+OK ", "+OK ", ""]);
    s.destroy();
  });

  test("the 20-minute idle timeout (PopIn's, given 200 ms here) ends the program with its die code", () => {
    const [r, w] = pipe();
    writeFileSync(`/proc/self/fd/${w}`, "US");
    const inp = new PopIn(r, 7, 128, 200);
    let code = -1;
    try {
      inp.line();
    } catch (e) {
      if (e instanceof Exit) code = e.code;
    }
    expect(code).toBe(7);
  });

  test("the checkpassword interface: fd 3 holds name, password and the greeting's timestamp; crash and refusal", () => {
    const d = tmp("qts-popup-");
    const got = join(d, "fd3");
    const popup = (sub: string[], input: string) =>
      runSync(ours("qmail-popup"), ["host.example", ...sub], { input, encoding: "latin1" });
    const r = popup(["/bin/sh", "-c", `cat <&3 > ${got}; exit 0`], "USER joe\r\nPASS  two words \r\n");
    const ts = /^\+OK (<\d+\.\d+@host\.example>)\r\n/.exec(r.stdout)?.[1];
    expect(ts).toBeDefined();
    // the argument starts after the spaces that follow the command; trailing ones stay
    expect(readFileSync(got, "latin1")).toBe(`joe\0two words \0${ts}\0`);
    expect({ code: r.code, out: r.stdout.slice(r.stdout.indexOf("\r\n") + 2) }).toEqual({ code: 1, out: "+OK \r\n" });
    // APOP: the name and the digest, the same way
    popup(["/bin/sh", "-c", `cat <&3 > ${got}`], "APOP joe 0123abcd\r\n");
    expect(readFileSync(got, "latin1")).toMatch(/^joe\x000123abcd\x00<\d+\.\d+@host\.example>\x00$/);
    // the children read fd 3 first, as a checker does: one that exits before qmail-popup has written
    // leaves it "unable to write pipe" (EPIPE, in C as in ours), a race the test must not run
    const crash = popup(["/bin/sh", "-c", "cat <&3 >/dev/null; kill -KILL $$"], "USER joe\r\nPASS x\r\n");
    expect(crash.stdout.endsWith("+OK \r\n-ERR aack, child crashed\r\n")).toBe(true);
    const no = popup(["/bin/sh", "-c", "cat <&3 >/dev/null; exit 1"], "USER joe\r\nPASS x\r\n");
    expect(no.stdout.endsWith("+OK \r\n-ERR authorization failed\r\n")).toBe(true);
    const missing = popup(["/nonexistent/checkpassword"], "USER joe\r\nPASS x\r\n");
    expect(missing.stdout.endsWith("+OK \r\n-ERR authorization failed\r\n")).toBe(true);
  });

  test("qmail-pop3d removes tmp/ files last read more than 36 hours ago, and only those", async () => {
    fill(alice, ["Subject: a\n\n1\n"]);
    const t = join(alice.home, "Maildir/tmp");
    writeFileSync(join(t, "old"), "x");
    writeFileSync(join(t, "recent"), "x");
    const now = Date.now() / 1000;
    utimesSync(join(t, "old"), now - 37 * 3600, now - 37 * 3600);
    utimesSync(join(t, "recent"), now - 35 * 3600, now - 35 * 3600);
    expect((await session([...login(alice), "QUIT\r\n"])).slice(3)).toEqual(["+OK \r\n"]);
    expect(readdirSync(t)).toEqual(["recent"]);
  });

  test("qmail-pop3d refuses to run as root; usage without arguments", () => {
    const r = runSync(ours("qmail-pop3d"), ["Maildir"], { encoding: "latin1", input: "" });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 1,
      stdout: "",
      stderr: "qmail-pop3d invoked as uid 0, terminating\n",
    });
    const u = runSync(ours("qmail-popup"), ["host"], { encoding: "latin1", input: "" });
    expect({ code: u.code, stdout: u.stdout }).toEqual({
      code: 1,
      stdout: "-ERR usage: popup hostname subprogram\r\n",
    });
  });
});
