// SPDX-License-Identifier: MIT
// tcpserver, tcpclient and tcprules over IPv6, ours against Debian's ucspi-tcp-ipv6 both ways, on ::1,
// a link-local address with -I, and in a network namespace of our own with both families.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { kill, ours, run, runSync, type Started, start, tmp, waitFor } from "../lib/harness.ts";
import { fetchUcspi6, hasIpv6Loopback, linkLocal } from "../lib/ucspi6.ts";

const deb = hasIpv6Loopback() ? await fetchUcspi6() : undefined;
const LINK = linkLocal();
const started: number[] = [];
afterAll(() => {
  for (const p of started) kill(p);
});

interface Server {
  pid: number;
  port: number;
  log: () => string;
  proc: Started;
}

async function serve(bin: string, args: string[], host: string, prog: string[], env?: Record<string, string>) {
  const d = tmp("qts-tcp6-");
  const errFile = join(d, "stderr");
  const proc = start(bin, ["-1", ...args, host, "0", ...prog], {
    stdout: "pipe",
    stderr: { file: errFile },
    env: env ?? { PATH: "/usr/bin:/bin" },
    extendEnv: false,
    cwd: d,
  });
  started.push(proc.pid);
  const out = await proc.until("\n", 5000);
  const port = Number(out.trim());
  if (!port) throw new Error(`no port from ${bin}: ${out} ${readFileSync(errFile, "utf8")}`);
  return { pid: proc.pid, port, log: () => readFileSync(errFile, "utf8"), proc } as Server;
}

async function stop(s: Server): Promise<void> {
  kill(s.pid, "SIGTERM");
  await Promise.race([s.proc.exited, Bun.sleep(3000)]);
}

function talk(port: number, host: string, opts: { localAddress?: string } = {}): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect({ port, host, ...opts });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString());
    };
    const timer = setTimeout(done, 8000);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", done);
    s.on("error", done);
  });
}

const rmports = (s: string) => s.replace(/PORT=\d+/g, "PORT=P");
// pids and ports differ from run to run; everything else in a -v log must match byte for byte.
const normLog = (log: string) => {
  const pids = new Map<string, string>();
  return log
    .replace(/(pid|ok|deny|end) (\d+)/g, (_m, w: string, pid: string) => {
      if (!pids.has(pid)) pids.set(pid, `P${pids.size}`);
      return `${w} ${pids.get(pid)}`;
    })
    .replace(/:\d{4,5}( |\n)/g, ":PORT$1");
};

describe.skipIf(!deb)("tcpserver over IPv6: ours and Debian's ucspi-tcp-ipv6", () => {
  const both = () => [ours("tcpserver"), join(deb as string, "tcpserver")];
  type Pair = [env: string, log: string];
  const envAndLog = async (
    args: string[],
    host: string,
    client: string,
    opts = {},
    rules?: string,
  ): Promise<[Pair, Pair]> => {
    const out: [string, string][] = [];
    for (const bin of both()) {
      const a = ["-v", ...args];
      if (rules !== undefined) {
        const d = tmp();
        await run(ours("tcprules"), [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
        a.push("-x", join(d, "r.cdb"));
      }
      const s = await serve(bin, a, host, ["env"], { PATH: "/usr/bin:/bin", A: "1", Z: "26" });
      const env = rmports(await talk(s.port, client, opts));
      await waitFor(() => s.log().includes(" end "), 3000);
      await stop(s);
      out.push([env, normLog(s.log())]);
    }
    return out as [Pair, Pair];
  };

  test("on ::1: PROTO=TCP6, TCP6* beside TCP*, same order; the same -v log, colons kept", async () => {
    const [[e1, l1], [e2, l2]] = await envAndLog(["-RHl0"], "::1", "::1");
    expect(e1).toBe(e2 as string);
    expect(l1).toBe(l2 as string);
    expect(e1).toContain("PROTO=TCP6\n");
    expect(e1).toContain("TCP6REMOTEIP=::1\n");
    expect(e1).toContain("TCPREMOTEIP=::1\n");
    expect(e1).toContain("TCP6LOCALHOST=0\n");
    expect(l1).toContain("tcpserver: pid P0 from ::1\ntcpserver: ok P0 0:::1:PORT :::1::PORT\n");
  });

  test("-6: an IPv4 connection gets v4-mapped addresses and PROTO=TCP6", async () => {
    const [[e1, l1], [e2, l2]] = await envAndLog(["-6", "-RHl0"], "0", "127.0.0.1");
    expect(e1).toBe(e2 as string);
    expect(l1).toBe(l2 as string);
    expect(e1).toContain("TCPREMOTEIP=::ffff:127.0.0.1\n");
  });

  test("rules keyed by IPv6 address and by prefixes ending in ':'", async () => {
    for (const rules of [
      '::1:allow,X="exact"\n:::allow,X="prefix"\n',
      '::allow,X="short"\n:allow,X="none"\n',
      '::1:deny\n:allow,X="none"\n',
    ]) {
      const [[e1, l1], [e2, l2]] = await envAndLog(["-RHl0"], "::1", "::1", {}, rules);
      expect(e1).toBe(e2 as string);
      expect(l1).toBe(l2 as string);
    }
    const [[e]] = await envAndLog(["-RHl0"], "::1", "::1", {}, '::1:allow,X="exact"\n:::allow,X="prefix"\n');
    expect(e).toContain("X=exact\n");
    const [[p]] = await envAndLog(["-RHl0"], "::1", "::1", {}, ':::allow,X="p2"\n::allow,X="p1"\n');
    expect(p).toContain("X=p2\n");
    const [[, d]] = await envAndLog(["-RHl0"], "::1", "::1", {}, "::1:deny\n");
    expect(d).toContain("tcpserver: deny P0 0:::1:PORT :::1::PORT\n");
  });

  test.skipIf(!LINK)("-I: a link-local address with its interface; TCP6INTERFACE", async () => {
    const [ip, dev] = LINK as [string, string];
    const [[e1, l1], [e2, l2]] = await envAndLog(["-RHl0", "-I", dev], ip, `${ip}%${dev}`);
    expect(e1).toBe(e2 as string);
    expect(l1).toBe(l2 as string);
    expect(e1).toContain(`TCP6INTERFACE=${dev}\n`);
  });

  test("Debian's IPv6 tcpclient talks to ours, our tcpclient to Debian's: same environment", async () => {
    const out: string[] = [];
    for (const [server, client] of [
      [ours("tcpserver"), join(deb as string, "tcpclient")],
      [join(deb as string, "tcpserver"), ours("tcpclient")],
      [join(deb as string, "tcpserver"), join(deb as string, "tcpclient")],
    ] as const) {
      const s = await serve(server, ["-RHl0"], "::1", ["sh", "-c", "echo server $PROTO $TCPREMOTEIP"]);
      const r = await run(client, ["-RHl0", "::1", String(s.port), "sh", "-c", "cat <&6; env | sort | grep ^[PT]"], {
        env: { PATH: "/usr/bin:/bin" },
        extendEnv: false,
      });
      await stop(s);
      out.push(rmports(r.stdout));
    }
    expect(out[0]).toContain("server TCP6 ::1\n");
    expect(out[0]).toContain("PROTO=TCP6\n");
    expect(out[0]).toContain("TCPLOCALHOST=0\nTCPLOCALIP=::1\n");
    expect(out[0]).toBe(out[2] as string);
    expect(out[1]).toBe(out[2] as string);
  });

  test("tcpclient -6 to an IPv4 server, and -i with an IPv6 address: same as Debian's", async () => {
    const s = await serve(ours("tcpserver"), ["-RHl0"], "0", ["true"]);
    const out: string[] = [];
    for (const client of [ours("tcpclient"), join(deb as string, "tcpclient")]) {
      const a = await run(client, ["-6", "-RHl0", "127.0.0.1", String(s.port), "sh", "-c", "env | sort | grep ^[PT]"]);
      const b = await run(client, ["-RHl0", "-i", "::1", "::1", String(s.port), "sh", "-c", "env | sort | grep ^[PT]"]);
      out.push(rmports(a.stdout + b.stdout));
    }
    await stop(s);
    expect(out[0]).toBe(out[1] as string);
    expect(out[0]).toContain("TCPREMOTEIP=::ffff:127.0.0.1\n");
  });

  test("tcprulescheck: ours and Debian's pick the same IPv6 rule", async () => {
    const d = tmp();
    const rules = 'fd00::2:allow,X="exact"\nfd00::allow,X="p5"\nfd00:allow,X="p4"\n=h.example:deny\n:deny\n';
    await run(ours("tcprules"), [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
    for (const ip of ["fd00::2", "fd00::3", "fd00:1::3", "::1", "fd00:"]) {
      const out: string[] = [];
      for (const bin of [ours("tcprulescheck"), join(deb as string, "tcprulescheck")]) {
        const r = await run(bin, [join(d, "r.cdb")], { env: { TCPREMOTEIP: ip }, extendEnv: false });
        out.push(`${r.code} ${r.stdout}${r.stderr}`);
      }
      expect(out[0]).toBe(out[1] as string);
    }
  });

  test("tcprules: the same cdb from ours and Debian's for IPv6 rules", async () => {
    const d = tmp();
    const rules = '::1:allow,X="1"\nfd00::2:deny\nfd00::allow,X=":a:"\nx@::1:deny\n=a:b:allow\n1.2.3.4-6:allow\n';
    const a = await run(ours("tcprules"), [join(d, "a.cdb"), join(d, "a.tmp")], { input: rules });
    const b = await run(join(deb as string, "tcprules"), [join(d, "b.cdb"), join(d, "b.tmp")], { input: rules });
    expect(a).toMatchObject({ code: 0, stderr: "" });
    expect(b).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(d, "a.cdb")).equals(readFileSync(join(d, "b.cdb")))).toBe(true);
  });

  test("a malformed IPv6 literal: no address (111); an IPv6 range: unable to parse (100)", async () => {
    for (const prog of ["tcpserver", "tcpclient"]) {
      expect(await run(ours(prog), ["-RH", "1::2::3", "25", "true"])).toMatchObject({
        code: 111,
        stderr: `${prog}: fatal: no IP address for 1::2::3\n`,
      });
    }
    const d = tmp();
    for (const bin of [ours("tcprules"), join(deb as string, "tcprules")]) {
      expect(await run(bin, [join(d, "r.cdb"), join(d, "r.tmp")], { input: "fd00::1-3:allow\n" })).toMatchObject({
        code: 100,
        stderr: "tcprules: fatal: unable to parse this line: fd00::1-3:allow\n",
      });
    }
  });
});

describe.skipIf(!hasIpv6Loopback())("tcpserver: host 0 takes both families", () => {
  test("127.0.0.1 gets 0.88's variables, ::1 the IPv6 ones; -4 listens on IPv4 only", async () => {
    const s = await serve(ours("tcpserver"), ["-RHl0"], "0", ["sh", "-c", "echo $PROTO $TCPREMOTEIP"]);
    expect(await talk(s.port, "127.0.0.1")).toBe("TCP 127.0.0.1\n");
    expect(await talk(s.port, "::1")).toBe("TCP6 ::1\n");
    await stop(s);
    const s4 = await serve(ours("tcpserver"), ["-4", "-RHl0"], "0", ["sh", "-c", "echo $PROTO"]);
    expect(await talk(s4.port, "127.0.0.1")).toBe("TCP\n");
    expect(await talk(s4.port, "::1")).toBe("");
    await stop(s4);
  });
});

// A namespace of our own: global IPv6 addresses without touching the host's network.
const canUnshare = runSync("unshare", ["-n", "true"]).code === 0;
describe.skipIf(!canUnshare)("tcpserver and tcpclient in a network namespace with both families", () => {
  test("2001:db8::1 and 127.0.0.1 on one tcpserver; a rule on the prefix 2001:db8:", async () => {
    const d = tmp();
    await run(ours("tcprules"), [join(d, "r.cdb"), join(d, "r.tmp")], {
      input: '2001:db8::allow,NET="doc"\n127.:allow,NET="lo4"\n:deny\n',
    });
    const script = [
      "ip link set lo up",
      "ip -6 addr add 2001:db8::1/128 dev lo nodad",
      `${ours("tcpserver")} -1 -RHl0 -x r.cdb 0 0 sh -c 'echo $PROTO $TCPREMOTEIP $NET' > port &`,
      "i=0; while [ ! -s port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done",
      `for h in 2001:db8::1 2001:db8:0:0:0:0:0:1 127.0.0.1 ::1; do ${ours("tcpclient")} -RHl0 $h $(cat port) sh -c 'cat <&6'; done`,
      "kill $!",
    ].join("\n");
    const r = await run("timeout", ["30", "unshare", "-n", "sh", "-c", script], { cwd: d });
    expect(r.stdout).toBe("TCP6 2001:db8::1 doc\nTCP6 2001:db8::1 doc\nTCP 127.0.0.1 lo4\n");
  });
});
