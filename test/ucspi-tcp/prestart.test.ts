// SPDX-License-Identifier: MIT
// tcpserver with QTS_PRESTART: copies of our qmail-smtpd started ahead of connections, each taking
// one (tcpserver(1), "Started ahead"). Each session must see what a qmail-smtpd started for it sees.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { freePort, kill, ours, runSync, start, tmp, waitFor } from "../lib/harness.ts";

const NOBODY = 65534;
const servers: number[] = [];
afterAll(() => {
  for (const p of servers) kill(p);
});

interface Home {
  dir: string;
  dump: string;
}

// The fake qmail-queue records what qmail-smtpd passed on: environment, cwd, umask, ids, descriptors.
const FAKEQQ = `#!/bin/sh
d="$QMAILHOME/dump"
n=$(date +%s%N).$$
cat > "$d/.$n.msg"
{ env | sort; pwd; umask; id; ls /proc/$$/fd; } > "$d/.$n.env"
mv "$d/.$n.msg" "$d/$n.msg"; mv "$d/.$n.env" "$d/$n.env"
exit 0
`;

function home(): Home {
  const dir = tmp("qts-prestart-");
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "control"));
  mkdirSync(join(dir, "dump"), { mode: 0o1777 });
  chmodSync(join(dir, "dump"), 0o1777);
  writeFileSync(join(dir, "control/me"), "test.example\n");
  writeFileSync(join(dir, "control/rcpthosts"), "test.example\n");
  writeFileSync(join(dir, "fakeqq"), FAKEQQ, { mode: 0o755 });
  // 127.0.0.2 may relay and gets SECOND; everyone else neither.
  const rules = join(dir, "rules");
  writeFileSync(rules, '127.0.0.2:allow,RELAYCLIENT="",SECOND="yes"\n:allow\n');
  const t = runSync(ours("tcprules"), [`${rules}.cdb`, `${rules}.tmp`], { input: readFileSync(rules) });
  if (t.code !== 0) throw new Error(`tcprules: ${t.stderr}`);
  return { dir, dump: join(dir, "dump") };
}

async function server(h: Home, env: Record<string, string>, prog = [ours("qmail-smtpd")]) {
  const port = await freePort();
  const logf = join(h.dir, `tcpserver.${port}.log`);
  const p = start(
    ours("tcpserver"),
    [
      "-v",
      "-R",
      "-H",
      "-l",
      "0",
      "-u",
      String(NOBODY),
      "-g",
      String(NOBODY),
      "-x",
      join(h.dir, "rules.cdb"),
      "127.0.0.1",
      String(port),
      ...prog,
    ],
    {
      stdin: "ignore",
      stdout: "ignore",
      stderr: { file: logf },
      env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: join(h.dir, "fakeqq"), ...env },
      extendEnv: false,
    },
  );
  servers.push(p.pid);
  await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 10000);
  return { port, pid: p.pid, log: () => readFileSync(logf, "latin1") };
}

/** tcpserver's children: [pid, comm]. */
function children(pid: number): [number, string][] {
  const out: [number, string][] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    let kids = "";
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8");
    } catch {}
    for (const k of kids.split(" ").filter(Boolean))
      try {
        out.push([Number(k), readFileSync(`/proc/${k}/comm`, "utf8").trim()]);
      } catch {}
  }
  return out;
}

function status(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return (line ?? "")
    .slice(field.length + 1)
    .trim()
    .split(/\s+/)
    .join(" ");
}

/** A client from localAddress: sends the lines one by one, each after the previous reply. */
async function session(port: number, lines: string[], localAddress = "127.0.0.1"): Promise<string> {
  return await new Promise((ok) => {
    const s: Socket = connect({ port, host: "127.0.0.1", localAddress });
    let got = "";
    let i = 0;
    const t = setTimeout(() => s.destroy(), 20000);
    s.on("data", (d) => {
      got += d.toString("latin1");
      // Each reply's last line is "NNN text\r\n"; the greeting comes first.
      if (!/(^|\n)\d{3} [^\n]*\r\n$/.test(got)) return;
      const next = lines[i++];
      if (next === undefined) s.end();
      else s.write(next);
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      ok(got);
    });
  });
}

function dumps(h: Home): { msg: string; env: string }[] {
  return readdirSync(h.dump)
    .filter((f) => f.endsWith(".env") && !f.startsWith("."))
    .sort()
    .map((f) => ({
      env: readFileSync(join(h.dump, f), "latin1"),
      msg: readFileSync(join(h.dump, f.replace(/\.env$/, ".msg")), "latin1"),
    }));
}

const MAIL = [
  "HELO first.example\r\n",
  "MAIL FROM:<a@first.example>\r\n",
  "RCPT TO:<x@elsewhere.example>\r\n",
  "RCPT TO:<u@test.example>\r\n",
  "DATA\r\n",
  "Subject: one\r\n\r\nbody\r\n.\r\n",
  "MAIL FROM:<b@first.example>\r\n",
  "RCPT TO:<u@test.example>\r\n",
];
// No HELO, no MAIL: any state left from the first session would show here.
const SECOND = [
  "RCPT TO:<u@test.example>\r\n",
  "DATA\r\n",
  "MAIL FROM:<c@second.example>\r\n",
  "RCPT TO:<x@elsewhere.example>\r\n",
  "RCPT TO:<u@test.example>\r\n",
  "DATA\r\n",
  "Subject: two\r\n\r\nbody\r\n.\r\n",
  "QUIT\r\n",
];

/** The two sessions in a row (the first from 127.0.0.2, cut off mid-transaction); what came of them. */
async function twoSessions(env: Record<string, string>) {
  const h = home();
  const srv = await server(h, env);
  const ready =
    env.QTS_PRESTART !== "0"
      ? await waitFor(() => (children(srv.pid).length === 2 ? children(srv.pid) : undefined), 20000)
      : [];
  const one = await session(srv.port, MAIL, "127.0.0.2");
  const two = await session(srv.port, SECOND);
  const d = await waitFor(() => (dumps(h).length === 2 ? dumps(h) : undefined), 20000);
  const norm = (s: string) =>
    s
      .replaceAll(h.dir, "H")
      .replace(/TCPREMOTEPORT=\d+/, "TCPREMOTEPORT=P")
      .replace(/TCPLOCALPORT=\d+/, "TCPLOCALPORT=P")
      .replace(/QTS_PRESTART=\d+/, "QTS_PRESTART=N")
      .replace(/; \d+ \w+ \d+ [\d:]+ [-+]\d{4}/, "; DATE")
      .replace(/qmail \d+ invoked/, "qmail N invoked");
  const qp = (s: string) => s.replace(/250 ok \d+ qp \d+/, "250 ok T qp N");
  return {
    one: qp(one),
    two: qp(two),
    d: (d ?? []).map((x) => ({ msg: norm(x.msg), env: norm(x.env) })),
    ready: ready ?? [],
    log: srv.log(),
  };
}

describe("tcpserver QTS_PRESTART with our qmail-smtpd", () => {
  test("copies wait as the -u/-g ids before any connection; sessions are served by them", async () => {
    const h = home();
    const srv = await server(h, { QTS_PRESTART: "2" });
    // Named qmail-smtpd once exec'd (before, the spawning thread's name).
    const started = () => children(srv.pid).filter(([, c]) => c === "qmail-smtpd");
    const kids = await waitFor(() => (started().length === 2 ? started() : undefined), 20000);
    for (const [pid, comm] of kids ?? []) {
      expect(comm).toBe("qmail-smtpd");
      expect(status(pid, "Uid")).toBe(`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`);
      expect(status(pid, "Gid")).toBe(`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`);
    }
    const out = await session(srv.port, ["QUIT\r\n"]);
    expect(out).toBe("220 test.example ESMTP\r\n221 test.example\r\n");
    // The connection went to one of the waiting copies, logged as C's child would be.
    const waiting = (kids ?? []).map(([p]) => p);
    const m =
      /tcpserver: pid (\d+) from 127\.0\.0\.1\ntcpserver: ok (\d+) 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\n/.exec(
        srv.log(),
      );
    expect(m?.[1]).toBe(m?.[2]);
    expect(waiting).toContain(Number(m?.[1]));
    // It ended, and a fresh copy took its place.
    await waitFor(() => srv.log().includes(`tcpserver: end ${m?.[1]} status 0\n`), 10000);
    await waitFor(() => children(srv.pid).length === 2, 20000);
    expect(children(srv.pid).map(([p]) => p)).not.toContain(Number(m?.[1]));
  });

  test("two sessions in a row share nothing, and each sees what a qmail-smtpd of its own sees", async () => {
    const classic = await twoSessions({ QTS_PRESTART: "0" });
    const fast = await twoSessions({ QTS_PRESTART: "2" });
    expect(classic.ready.length).toBe(0);
    expect(fast.ready.length).toBe(2);
    expect(fast.one).toBe(classic.one);
    expect(fast.two).toBe(classic.two);
    // The second session: no HELO, MAIL or RCPT of the first; not allowed to relay.
    expect(fast.two).toBe(
      "220 test.example ESMTP\r\n503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n250 ok\r\n354 go ahead\r\n250 ok T qp N\r\n221 test.example\r\n",
    );
    expect(fast.d).toEqual(classic.d);
    const [d1, d2] = fast.d as [{ msg: string; env: string }, { msg: string; env: string }];
    expect(d1.env).toContain("SECOND=yes\n");
    expect(d1.msg).toContain("(HELO first.example)");
    expect(d2.env).not.toContain("SECOND=");
    expect(d2.env).not.toContain("RELAYCLIENT=");
    expect(d2.env).not.toContain("QTS_HANDOFF");
    expect(d2.env).toContain("TCPREMOTEIP=127.0.0.1\n");
    expect(d2.msg).not.toContain("first.example");
    expect(d2.env).toContain(`uid=${NOBODY}`);
  });

  test("QTS_PRESTARTIDLE: the copies end when idle; the next connection is classic, the one after brings them back", async () => {
    const h = home();
    const srv = await server(h, { QTS_PRESTART: "1", QTS_PRESTARTIDLE: "5" });
    const copies = () => children(srv.pid).filter(([, c]) => c === "qmail-smtpd");
    const first = await waitFor(() => (copies().length === 1 ? copies() : undefined), 20000);
    const gone = (first ?? [])[0]?.[0] ?? 0;
    expect(gone).toBeGreaterThan(0);
    // 5 s without a connection: the copy ends having served nothing, and tcpserver reaps it (a zombie
    // would still be listed among its children). It was never a connection's program: no "end" line.
    expect(await waitFor(() => children(srv.pid).length === 0, 20000)).toBe(true);
    expect(existsSync(`/proc/${gone}`)).toBe(false);
    expect(srv.log()).not.toContain(`end ${gone} `);
    const pidOf = (log: string, n: number) => Number([...log.matchAll(/tcpserver: pid (\d+) from /g)][n]?.[1]);
    // The first connection after the idle time: started for it (nothing waits), and no copy behind it.
    expect(await session(srv.port, ["QUIT\r\n"])).toBe("220 test.example ESMTP\r\n221 test.example\r\n");
    const one = pidOf(srv.log(), 0);
    expect(one).toBeGreaterThan(0);
    expect(one).not.toBe(gone);
    await waitFor(() => srv.log().includes(`tcpserver: end ${one} status 0\n`), 10000);
    await Bun.sleep(500);
    expect(children(srv.pid)).toEqual([]);
    // A second one within the idle time: still classic (nothing waits), and a copy is started behind it.
    expect(await session(srv.port, ["QUIT\r\n"])).toBe("220 test.example ESMTP\r\n221 test.example\r\n");
    const two = pidOf(srv.log(), 1);
    const back = await waitFor(() => {
      const c = copies().filter(([p]) => p !== two);
      return c.length === 1 ? c : undefined;
    }, 20000);
    const waiting = (back ?? [])[0]?.[0] ?? 0;
    expect(waiting).toBeGreaterThan(0);
    // The third connection goes to that copy.
    expect(await session(srv.port, ["QUIT\r\n"])).toBe("220 test.example ESMTP\r\n221 test.example\r\n");
    expect(pidOf(srv.log(), 2)).toBe(waiting);
  }, 90_000);

  test("a program that is not ours: started per connection, as in the original", async () => {
    const h = home();
    const srv = await server(h, { QTS_PRESTART: "2" }, [
      "/bin/sh",
      "-c",
      'echo "220 $TCPREMOTEIP $QTS_PRESTART/$QTS_HANDOFF."',
    ]);
    await Bun.sleep(1000);
    expect(children(srv.pid)).toEqual([]);
    expect(await session(srv.port, [])).toBe("220 127.0.0.1 2/.\n");
  });
});
