// SPDX-License-Identifier: MIT
// tcpserver, ours and Debian's side by side: real processes, real sockets on 127.0.0.1.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { kill, original, ours, run, runSync, type Started, start, stdioFd, tmp, waitFor } from "../lib/harness.ts";
import { startDns } from "../qmail/fixtures/dnsserver.ts";

const impls: [string, string][] = [["ours", ours("tcpserver")]];
const orig = original("tcpserver");
if (orig) impls.push(["original", orig]);
const TCPRULES = original("tcprules") ?? ours("tcprules");
const ENVUIDGID = original("envuidgid");

// 0.88's usage; ours is ucspi-tcp-ipv6's, with its options -4, -6 and -I.
const USAGE88 =
  "tcpserver: usage: tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program\n";
const USAGE6 =
  "tcpserver: usage: tcpserver [ -461UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program\n";

const started: number[] = [];
afterAll(() => {
  for (const p of started) kill(p);
});

interface Server {
  pid: number;
  port: number;
  log: () => string;
  proc: Started;
  /** What stdout held once the port line came. */
  out: string;
}

/** Starts `tcpserver -1 ARGS 127.0.0.1 0 PROG...` (or with the given host/port), waits for the port line. */
async function serve(
  bin: string,
  opts: string[],
  prog: string[],
  o: { env?: Record<string, string>; pre?: string[]; extraFd?: number } = {},
) {
  const d = tmp("qts-tcps-");
  const errFile = join(d, "stderr");
  const errFd = openSync(errFile, "w");
  const argv = [...(o.pre ?? []), bin, "-1", ...opts, "127.0.0.1", "0", ...prog];
  // An inherited fd 3 (extraFd) is passed on.
  const proc = start(argv[0] as string, argv.slice(1), {
    stdio: ["ignore", "pipe", stdioFd(errFd), ...(o.extraFd === undefined ? [] : [stdioFd(o.extraFd)])],
    env: o.env ?? { PATH: "/usr/bin:/bin" },
    extendEnv: false,
    cwd: d,
  });
  closeSync(errFd);
  started.push(proc.pid);
  const out = await proc.until("\n", 5000);
  const port = Number(out.trim());
  if (!port) throw new Error(`no port from ${bin}: ${out} ${readFileSync(errFile, "utf8")}`);
  return { pid: proc.pid, port, log: () => readFileSync(errFile, "utf8"), proc, out, dir: d } as Server & {
    dir: string;
  };
}

/** Connects, sends input, half-closes nothing, collects everything until EOF (bounded). */
function talk(port: number, input = "", timeout = 8000): Promise<{ data: string; ms: number; err?: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1", () => {
      if (input) s.write(input);
    });
    const done = (err?: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString(), ms: Date.now() - t0, err });
    };
    const timer = setTimeout(() => done("timeout"), timeout);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => done());
    s.on("error", (e) => done((e as { code?: string }).code));
  });
}

async function stop(s: Server): Promise<number | null> {
  kill(s.pid, "SIGTERM");
  const r = await Promise.race([s.proc.exited, Bun.sleep(3000).then(() => null)]);
  return r === null ? null : r.code;
}

const rmport = (s: string) =>
  s.replace(/TCPREMOTEPORT=\d+/, "TCPREMOTEPORT=P").replace(/TCPLOCALPORT=\d+/, "TCPLOCALPORT=P");

describe.each(impls)("tcpserver (%s)", (which, bin) => {
  const USAGE = which === "ours" ? USAGE6 : USAGE88;
  test("usage: 100", async () => {
    expect(await run(bin, [])).toMatchObject({ code: 100, stdout: "", stderr: USAGE });
    expect(await run(bin, ["0", "21"])).toMatchObject({ code: 100, stderr: USAGE });
    expect(await run(bin, ["-C", "5", "0", "21", "true"])).toMatchObject({
      code: 100,
      stderr: `tcpserver: illegal option -- C\n${USAGE}`,
    });
  });

  test("usage after -q: host or port missing exits 100 silently; a bad option still prints it", async () => {
    expect(await run(bin, ["-q"])).toMatchObject({ code: 100, stdout: "", stderr: "" });
    expect(await run(bin, ["-Q", "-q", "0"])).toMatchObject({ code: 100, stderr: "" });
    expect(await run(bin, ["-q", "-Q", "0"])).toMatchObject({ code: 100, stderr: USAGE });
    expect(await run(bin, ["-q", "-C", "0"])).toMatchObject({
      code: 100,
      stderr: `tcpserver: illegal option -- C\n${USAGE}`,
    });
  });

  test("unknown service name: 111", async () => {
    expect(await run(bin, ["127.0.0.1", "nosuchservice", "true"])).toMatchObject({
      code: 111,
      stderr: "tcpserver: fatal: unable to figure out port number for nosuchservice\n",
    });
    // -q silences even this
    expect(await run(bin, ["-q", "127.0.0.1", "nosuchservice", "true"])).toMatchObject({ code: 111, stderr: "" });
  });

  test("port in use: unable to bind, 111", async () => {
    const s = await serve(bin, ["-q"], ["true"]);
    const r = await run(bin, ["127.0.0.1", String(s.port), "true"]);
    expect(r).toMatchObject({ code: 111, stderr: "tcpserver: fatal: unable to bind: address already used\n" });
    await stop(s);
  });

  // 0.88 listens on 0.0.0.0; ours, as ucspi-tcp-ipv6, on :: for both families (test/ucspi-tcp/ipv6.test.ts).
  test('host "0" and "" listen on every address', async () => {
    for (const host of ["0", ""]) {
      const p = start(bin, ["-1", "-RHl0", host, "0", "sh", "-c", "echo $TCPLOCALIP"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      started.push(p.pid);
      const port = Number((await p.until("\n", 5000)).trim());
      expect(port).toBeGreaterThan(0);
      expect(runSync("ss", ["-ltnH", `sport = :${port}`]).stdout).toMatch(
        which === "ours" ? new RegExp(`(\\*|\\[::\\]):${port} `) : new RegExp(`0\\.0\\.0\\.0:${port} `),
      );
      expect((await talk(port)).data).toBe("127.0.0.1\n");
      p.kill("SIGTERM");
      await p.exited;
    }
  });

  test("a service name from /etc/services", async () => {
    // socks is 1080/tcp in Debian's /etc/services.
    const d = tmp();
    const p = start(bin, ["-RHl0", "127.0.0.1", "socks", "echo", "hi"], { stdout: "pipe", stderr: "ignore", cwd: d });
    started.push(p.pid);
    const r = await waitFor(async () => {
      const t = await talk(1080, "", 2000);
      return t.data === "hi\n" ? t : undefined;
    }, 5000);
    expect(r?.data).toBe("hi\n");
    p.kill("SIGTERM");
    await p.exited;
  });

  test("-1 prints the port, then stdout is closed; the child gets the socket as fd 0 and 1, blocking", async () => {
    const s = await serve(
      bin,
      ["-RHl0"],
      ["sh", "-c", 'read x; echo "got $x"; grep flags /proc/self/fdinfo/0 /proc/self/fdinfo/1'],
    );
    const r = await talk(s.port, "hello\n");
    expect(r.data).toBe("got hello\n/proc/self/fdinfo/0:flags:\t02\n/proc/self/fdinfo/1:flags:\t02\n");
    // stdout at EOF even though the server still runs (C closes fds 0 and 1 after -1)
    expect(await s.proc.eof("stdout", 2000)).toBe(true);
    expect(s.proc.stdout()).toBe(s.out);
    expect(await stop(s)).toBe(0);
  });

  test("-v log lines, and the logged pid is the program's", async () => {
    const s = await serve(bin, ["-v", "-RHl0"], ["sh", "-c", "echo $$"]);
    const r = await talk(s.port);
    const pid = r.data.trim();
    await waitFor(() => s.log().includes(" end "), 3000);
    const lines = s.log().split("\n");
    expect(lines.slice(0, 6)).toEqual([
      "tcpserver: status: 0/40",
      "tcpserver: status: 1/40",
      `tcpserver: pid ${pid} from 127.0.0.1`,
      expect.stringMatching(new RegExp(`^tcpserver: ok ${pid} 0:127\\.0\\.0\\.1:${s.port} :127\\.0\\.0\\.1::\\d+$`)),
      `tcpserver: end ${pid} status 0`,
      "tcpserver: status: 0/40",
    ]);
    await stop(s);
  });

  test("exit codes in end lines are raw wait statuses", async () => {
    const s = await serve(bin, ["-v", "-RHl0"], ["sh", "-c", "exit 3"]);
    await talk(s.port);
    await waitFor(() => s.log().includes(" end "), 3000);
    expect(s.log()).toMatch(/tcpserver: end \d+ status 768\n/);
    await stop(s);
  });

  test("the program cannot run: dropped, 111", async () => {
    const s = await serve(bin, ["-v", "-RHl0"], ["/nonexistent/prog"]);
    const r = await talk(s.port);
    expect(r.data).toBe("");
    await waitFor(() => s.log().includes(" end "), 3000);
    const log = s.log();
    expect(log).toContain(
      "tcpserver: warning: dropping connection, unable to run /nonexistent/prog: file does not exist\n",
    );
    expect(log).toMatch(/tcpserver: ok (\d+) 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\n/);
    expect(log).toMatch(/tcpserver: end \d+ status 28416\n/);
    await stop(s);
  });

  test("a program found on PATH", async () => {
    const s = await serve(bin, ["-RHl0"], ["echo", "on", "path"]);
    expect((await talk(s.port)).data).toBe("on path\n");
    await stop(s);
  });

  test("-B banner comes first", async () => {
    const s = await serve(bin, ["-RHl0", "-B", "hello banner\n"], ["echo", "then program"]);
    expect((await talk(s.port)).data).toBe("hello banner\nthen program\n");
    await stop(s);
  });

  test("rules: deny (immediate EOF, deny line, status 25600), variables, missing file", async () => {
    const d = tmp();
    const cdb = join(d, "rules.cdb");
    await run(TCPRULES, [cdb, join(d, "rules.tmp")], {
      input: `127.0.0.1:allow,FOO="bar",BAZ='q x',TCPREMOTEIP="override"\n:deny\n`,
    });
    const s = await serve(bin, ["-v", "-RHl0", "-x", cdb], ["sh", "-c", 'echo "FOO=$FOO BAZ=$BAZ IP=$TCPREMOTEIP"']);
    expect((await talk(s.port)).data).toBe("FOO=bar BAZ=q x IP=override\n");
    await stop(s);

    const d2 = tmp();
    const cdb2 = join(d2, "deny.cdb");
    await run(TCPRULES, [cdb2, join(d2, "t")], { input: "127.:deny\n" });
    const s2 = await serve(bin, ["-v", "-RHl0", "-x", cdb2], ["echo", "never"]);
    const r = await talk(s2.port);
    expect(r.data).toBe("");
    await waitFor(() => s2.log().includes(" end "), 3000);
    expect(s2.log()).toMatch(
      /tcpserver: pid (\d+) from 127\.0\.0\.1\ntcpserver: deny \1 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\n/,
    );
    expect(s2.log()).toMatch(/tcpserver: end \d+ status 25600\n/);
    await stop(s2);

    const s3 = await serve(bin, ["-v", "-RHl0", "-x", join(d2, "missing.cdb")], ["echo", "never"]);
    expect((await talk(s3.port)).data).toBe("");
    await waitFor(() => s3.log().includes(" end "), 3000);
    expect(s3.log()).toContain(
      `tcpserver: warning: dropping connection, unable to read ${d2}/missing.cdb: file does not exist\n`,
    );
    expect(s3.log()).toMatch(/tcpserver: end \d+ status 28416\n/);
    await stop(s3);

    const s4 = await serve(bin, ["-X", "-RHl0", "-x", join(d2, "missing.cdb")], ["echo", "allowed"]);
    expect((await talk(s4.port)).data).toBe("allowed\n");
    await stop(s4);
  });

  test("-q: no messages at all, not even warnings", async () => {
    const s = await serve(bin, ["-q", "-RHl0", "-x", "/nonexistent.cdb"], ["echo", "never"]);
    expect((await talk(s.port)).data).toBe("");
    await Bun.sleep(200);
    expect(s.log()).toBe("");
    await stop(s);
  });

  test("-c 2: extra connections wait in the backlog, none refused", async () => {
    const s = await serve(bin, ["-v", "-RHl0", "-c", "2"], ["sh", "-c", "sleep 1; echo done"]);
    const rs = await Promise.all([1, 2, 3, 4].map(() => talk(s.port, "", 10000)));
    for (const r of rs) expect(r).toMatchObject({ data: "done\n", err: undefined });
    const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
    // two served at once, the other two only after a slot freed: a full second later
    expect(ms[2] as number).toBeGreaterThanOrEqual(1950);
    expect((ms[2] as number) - (ms[1] as number)).toBeGreaterThan(600);
    expect(s.log()).toContain("tcpserver: status: 2/2\n");
    expect(s.log()).not.toContain("3/2");
    await stop(s);
  });

  test("a burst: 100 connections, 20 at a time, -c 5: every child logged and reaped, never over the limit", async () => {
    const s = await serve(bin, ["-v", "-RHl0", "-c", "5"], ["echo", "x"]);
    let next = 0;
    const results: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 100) {
          next++;
          results.push((await talk(s.port, "", 10000)).data);
        }
      }),
    );
    expect(results.filter((r) => r === "x\n").length).toBe(100);
    await waitFor(() => s.log().endsWith("status: 0/5\n") && s.log().split(" end ").length === 101, 5000);
    const log = s.log();
    expect(log.match(/ pid \d+ from /g)?.length).toBe(100);
    expect(log.match(/ end \d+ status 0\n/g)?.length).toBe(100);
    const counts = [...log.matchAll(/status: (\d+)\/5/g)].map((m) => Number(m[1]));
    expect(Math.max(...counts)).toBe(5);
    expect(counts.at(-1)).toBe(0);
    await stop(s);
  });

  test("clients that speak first: every byte reaches the program, tcpserver reads none (20 at once, -c 5)", async () => {
    const s = await serve(bin, ["-RHl0", "-c", "5"], ["sh", "-c", "sleep 0.3; exec cat"]);
    // Each client sends its bytes at once and half-closes; the program, started later (or after a slot
    // freed, for those waiting in the backlog or accepted past the limit), echoes them back to EOF.
    const echo = (data: string) =>
      new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const c = connect(s.port, "127.0.0.1", () => c.end(data));
        const timer = setTimeout(() => c.destroy(), 15000);
        c.on("data", (d: Buffer) => chunks.push(d));
        c.on("error", () => {});
        c.on("close", () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString("latin1"));
        });
      });
    const sent = Array.from({ length: 20 }, (_, i) => `client ${i} ${"x".repeat(i * 100)}\r\nsecond line ${i}\n`);
    expect(await Promise.all(sent.map(echo))).toEqual(sent);
    await stop(s);
  });

  test("-D sets TCP_NODELAY on the child's socket; -d leaves it off", async () => {
    const py = "import socket; s=socket.socket(fileno=0); print(s.getsockopt(6, 1) != 0)";
    const s = await serve(bin, ["-D", "-RHl0"], ["python3", "-c", py]);
    expect((await talk(s.port)).data).toBe("True\n");
    await stop(s);
    const s2 = await serve(bin, ["-RHl0"], ["python3", "-c", py]);
    expect((await talk(s2.port)).data).toBe("False\n");
    await stop(s2);
  });

  test("-u/-g: privileges dropped after bind", async () => {
    const s = await serve(bin, ["-RHl0", "-u", "65534", "-g", "65534"], ["sh", "-c", "id -u; id -g; id -G"]);
    expect((await talk(s.port)).data).toBe("65534\n65534\n65534\n");
    await stop(s);
  });

  test.skipIf(!ENVUIDGID)("-U takes UID and GID from envuidgid", async () => {
    const s = await serve(bin, ["-U", "-RHl0"], ["sh", "-c", "id -u; id -g"], { pre: [ENVUIDGID as string, "nobody"] });
    expect((await talk(s.port)).data).toBe("65534\n65534\n");
    await stop(s);
  });

  test("SIGTERM: exits 0 at once, the running child carries on", async () => {
    const s = await serve(bin, ["-RHl0"], ["sh", "-c", "sleep 1; echo still here"]);
    const pending = talk(s.port, "", 5000);
    await Bun.sleep(300);
    expect(await stop(s)).toBe(0);
    expect((await pending).data).toBe("still here\n");
  });

  test("SIGHUP: killed by the signal (not caught)", async () => {
    const s = await serve(bin, ["-RHl0"], ["true"]);
    kill(s.pid, "SIGHUP");
    const r = await Promise.race([s.proc.exited, Bun.sleep(3000).then(() => undefined)]);
    expect(r?.signal).toBe("SIGHUP");
  });
});

const SOFTLIMIT = original("softlimit");
test.skipIf(!SOFTLIMIT)(
  'ours under Debian\'s softlimit -a 600 MB, the environment as given (softlimit(8), "Memory limits")',
  async () => {
    const s = await serve(ours("tcpserver"), ["-RHl0"], ["echo", "limited"], {
      pre: [SOFTLIMIT as string, "-a", "600000000"],
      env: { PATH: "/usr/bin:/bin" },
    });
    expect((await talk(s.port)).data).toBe("limited\n");
    expect(await stop(s)).toBe(0);
  },
);

const RBLSMTPD = original("rblsmtpd");
describe.skipIf(!orig || !RBLSMTPD)(
  "a real service runs unchanged: Debian's rblsmtpd blocking by a rule variable",
  () => {
    // The classic tcp.smtp idiom: RBLSMTPD set from the rules cdb, rblsmtpd speaking SMTP on fds 0 and 1.
    const smtp = (port: number): Promise<string> =>
      new Promise((resolve) => {
        const lines = ["HELO x\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "QUIT\r\n"];
        let got = "";
        const s = connect(port, "127.0.0.1");
        const timer = setTimeout(() => s.destroy(), 8000);
        s.on("data", (d) => {
          got += d.toString();
          const replies = got.split("\r\n").length - 1;
          const next = lines[replies - 1];
          if (next && replies <= lines.length && got.endsWith("\r\n")) s.write(next);
        });
        s.on("close", () => {
          clearTimeout(timer);
          resolve(got);
        });
        s.on("error", () => {});
      });
    test("same transcript and log under both", async () => {
      const out: string[] = [];
      for (const [, bin] of impls) {
        const d = tmp();
        await run(TCPRULES, [join(d, "r.cdb"), join(d, "r.tmp")], { input: '127.0.0.1:allow,RBLSMTPD="-Go away"\n' });
        const s = await serve(bin, ["-RHl0", "-x", join(d, "r.cdb")], [RBLSMTPD as string, "/bin/true"]);
        out.push((await smtp(s.port)) + s.log().replace(/pid \d+/, "pid N"));
        await stop(s);
      }
      expect(out[0]).toContain("553 Go away\r\n");
      expect(out[0]).toBe(out[1] as string);
    });
  },
);

describe.skipIf(!orig)("tcpserver: ours and Debian's write the same -v log", () => {
  // pids and client ports differ from run to run; everything else must match byte for byte.
  const norm = (log: string, port: number) => {
    const pids = new Map<string, string>();
    return log
      .replace(/(pid|ok|deny|end) (\d+)/g, (_m, w: string, pid: string) => {
        if (!pids.has(pid)) pids.set(pid, `P${pids.size}`);
        return `${w} ${pids.get(pid)}`;
      })
      .replaceAll(`:${port} `, ":PORT ")
      .replace(/::\d+\n/g, "::RPORT\n");
  };
  const scenario = async (opts: string[], prog: string[], rules?: string) => {
    const logs: string[] = [];
    for (const [, bin] of impls) {
      const d = tmp();
      const args = ["-v", "-RHl0", ...opts];
      if (rules !== undefined) {
        await run(TCPRULES, [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
        args.push("-x", join(d, "r.cdb"));
      }
      const s = await serve(bin, args, prog);
      for (let i = 0; i < 3; i++) {
        await talk(s.port);
        await waitFor(() => s.log().split(" end ").length > i + 1, 3000);
        await Bun.sleep(50);
      }
      await stop(s);
      logs.push(norm(s.log(), s.port));
    }
    return logs;
  };

  test("allowed connections with exit codes 0 and 2", async () => {
    const [a, b] = await scenario(["-c", "7"], ["sh", "-c", 'exit "$X"'], '127.0.0.1:allow,X="2"\n');
    expect(a).toBe(b as string);
    expect(a).toContain("tcpserver: end P0 status 512\ntcpserver: status: 0/7\n");
  });

  test("denied connections", async () => {
    const [a, b] = await scenario([], ["true"], "127.0.0.:deny\n");
    expect(a).toBe(b as string);
    expect(a).toContain("tcpserver: deny P0 0:127.0.0.1:PORT :127.0.0.1::RPORT\n");
  });

  test("a program that cannot run", async () => {
    const [a, b] = await scenario([], ["./nonexistent"]);
    expect(a).toBe(b as string);
  });
});

describe.skipIf(!orig)("tcpserver: ours and Debian's give the child the same descriptors and signals", () => {
  test("fd 0 and 1 the socket, fd 2 and an inherited fd 3 passed on, nothing else; same SigIgn/SigBlk", async () => {
    const outs: string[] = [];
    for (const [, bin] of impls) {
      const d = tmp();
      const extra = openSync(join(d, "extra"), "w");
      const s = await serve(
        bin,
        ["-RHl0"],
        ["sh", "-c", "ls -l /proc/self/fd; grep -E '^Sig(Ign|Blk)' /proc/self/status"],
        { extraFd: extra },
      );
      outs.push(
        (await talk(s.port)).data
          .split("\n")
          .filter((l) => !l.startsWith("total"))
          .map((l) => l.replace(/^.*:\d\d /, ""))
          .join("\n")
          .replace(/\/proc\/\d+\/fd/, "/proc/PID/fd")
          .replace(/socket:\[\d+\]/g, "socket")
          .replace(/pipe:\[\d+\]/g, "pipe")
          .replace(d, "DIR")
          .replace(/qts-tcps-\w+/, "SERVERDIR"),
      );
      await stop(s);
    }
    expect(outs[0]).toContain("0 -> socket\n1 -> socket\n");
    expect(outs[0]).toContain("3 -> DIR/extra\n");
    expect(outs[0]).toBe(outs[1] as string);
  });
});

describe.skipIf(!orig)("tcpserver: ours and Debian's give the child the same environment", () => {
  const envs = async (opts: string[], extra: Record<string, string> = {}, rules?: string) => {
    const out: string[] = [];
    for (const [, bin] of impls) {
      const d = tmp();
      const args = [...opts];
      if (rules !== undefined) {
        await run(TCPRULES, [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
        args.push("-x", join(d, "r.cdb"));
      }
      const s = await serve(bin, args, ["env"], { env: { PATH: "/usr/bin:/bin", A: "1", ...extra, Z: "26" } });
      out.push(rmport((await talk(s.port)).data));
      await stop(s);
    }
    return out;
  };

  test("-RHl0: same variables, same order", async () => {
    const [a, b] = await envs(["-RHl0"]);
    expect(a).toBe(b as string);
    expect(a).toContain("PROTO=TCP\n");
  });

  test("stale TCPREMOTEHOST/TCPREMOTEINFO/TCPLOCALHOST inherited: removed or replaced the same way", async () => {
    const [a, b] = await envs(["-RH", "-l", "myname"], {
      TCPREMOTEHOST: "stale",
      TCPREMOTEINFO: "stale",
      TCPLOCALHOST: "stale",
      PROTO: "x",
    });
    expect(a).toBe(b as string);
    expect(a).not.toContain("stale");
    expect(a).toContain("TCPLOCALHOST=myname\n");
  });

  test("rule variables override and append in the same order", async () => {
    const [a, b] = await envs(["-RHl0"], { FOO: "old" }, `127.0.0.1:allow,FOO="new",PROTO="p",A='',NEW=/x/\n`);
    expect(a).toBe(b as string);
    expect(a).toContain("FOO=new\n");
  });

  test("-r with nothing on port 113: TCPREMOTEINFO unset, at once", async () => {
    const [a, b] = await envs(["-Hl0", "-t", "3"], { TCPREMOTEINFO: "stale" });
    expect(a).toBe(b as string);
    expect(a).not.toContain("TCPREMOTEINFO");
  });

  test("-h asks DNS for the PTR ($DNSCACHEIP), never /etc/hosts, as dns_name4 does", async () => {
    // /etc/hosts names 127.0.0.1 (localhost); DNS here gives another name, then none at all.
    const at = { host: `127.53.${1 + (process.pid % 250)}.${1 + (Date.now() % 250)}`, port: 53 };
    const withPtr = await startDns(
      { "1.0.0.127.in-addr.arpa": { PTR: ["ptr-only.example"] }, "ptr-only.example": { A: ["127.0.0.1"] } },
      at,
    );
    const [a, b] = await envs(["-hRl0", "-p"], { DNSCACHEIP: at.host });
    await withPtr.close();
    expect(a).toBe(b as string);
    expect(a).toContain("TCPREMOTEHOST=ptr-only.example\n");
    const none = await startDns({}, at);
    const [c, d] = await envs(["-hRl0"], { DNSCACHEIP: at.host });
    await none.close();
    expect(c).toBe(d as string);
    expect(c).not.toContain("TCPREMOTEHOST");
  });

  test("the cdb from our tcprules drives Debian's tcpserver, and Debian's drives ours", async () => {
    const d = tmp();
    const rules = `127.0.0.1:allow,WHO="rules"\n`;
    await run(ours("tcprules"), [join(d, "ours.cdb"), join(d, "t1")], { input: rules });
    await run(original("tcprules") as string, [join(d, "theirs.cdb"), join(d, "t2")], { input: rules });
    for (const [bin, cdb] of [
      [orig as string, join(d, "ours.cdb")],
      [ours("tcpserver"), join(d, "theirs.cdb")],
    ] as const) {
      const s = await serve(bin, ["-RHl0", "-x", cdb], ["sh", "-c", "echo $WHO"]);
      expect((await talk(s.port)).data).toBe("rules\n");
      await stop(s);
    }
  });
});

test("ident: TCPREMOTEINFO from an RFC 1413 server on port 113 (ours)", async () => {
  // Port 113 on 127.0.0.1 must be free; a tiny ident server answers with a USERID line.
  const { createServer } = await import("node:net");
  let asked = "";
  const idsrv = createServer((c) => {
    c.on("data", (d) => {
      asked += d.toString();
      c.end(`${asked.trim()} : USERID : UNIX : jo e\r\n`);
    });
  });
  const ok = await new Promise<boolean>((res) => {
    idsrv.once("error", () => res(false));
    idsrv.listen(113, "127.0.0.1", () => res(true));
  });
  if (!ok) return;
  try {
    for (const [, bin] of impls) {
      asked = "";
      const s = await serve(bin, ["-v", "-Hl0"], ["sh", "-c", 'echo "$TCPREMOTEINFO"']);
      expect((await talk(s.port)).data).toBe("joe\n");
      expect(asked).toMatch(new RegExp(`^\\d+ , ${s.port}\\r\\n$`));
      await waitFor(() => s.log().includes(" ok "), 2000);
      expect(s.log()).toMatch(/tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1:joe:\d+\n/);
      await stop(s);
    }
  } finally {
    idsrv.close();
  }
});
