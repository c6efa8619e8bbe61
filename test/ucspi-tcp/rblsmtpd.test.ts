// SPDX-License-Identifier: MIT
// rblsmtpd against Debian's, byte for byte: replies, log lines, exit codes and
// what reaches smtpd. Every case runs in its own mount and network namespace:
// lo up, /etc/resolv.conf bind-mounted to "nameserver 127.0.0.1", and the test
// DNS server (test/qmail/fixtures/dnsserver.ts) answering the RBL zones on
// 127.0.0.1:53 and, with other answers, on 127.0.0.2:53 (for $DNSCACHEIP).
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { freePort, original, ours, ROOT, run, start, tmp, waitFor } from "../lib/harness.ts";

// A script of its own, run by bun inside the namespaces (not a test file, so without the harness, whose
// clean-up hooks are bun:test's): it runs the program with execa, as the harness does.
const RUNNER = `
import { createSocket } from "node:dgram";
import { execa } from ${JSON.stringify(join(ROOT, "node_modules/execa/index.js"))};
import { readFileSync } from "node:fs";
import { answer } from ${JSON.stringify(join(ROOT, "test/qmail/fixtures/dnsserver.ts"))};
const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const log = [];
const servers = [];
for (const [ip, zone] of Object.entries(spec.zones)) {
  const u = createSocket("udp4");
  u.on("message", (m, r) => {
    const labels = [];
    for (let at = 12; m[at]; at += m[at] + 1) labels.push(m.subarray(at + 1, at + 1 + m[at]).toString("latin1"));
    log.push(ip + " " + labels.join("."));
    const a = answer(zone, m, 512);
    if (a) u.send(a, r.port, r.address);
  });
  await new Promise((ok) => u.bind(53, ip, ok));
  servers.push(u);
}
const out = [];
for (const c of spec.cases) {
  log.length = 0;
  const p = execa(c.prog, c.args, {
    env: c.env,
    extendEnv: false,
    input: Buffer.from(c.input, "latin1"),
    encoding: "latin1",
    reject: false,
    timeout: 20000,
    stripFinalNewline: false,
  });
  const r = await p;
  out.push({ code: r.exitCode ?? -1, pid: p.pid, stdout: r.stdout, stderr: r.stderr, log: [...log] });
}
for (const u of servers) u.close();
process.stdout.write(JSON.stringify(out));
`;

const SETUP = 'ip link set lo up && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"';

interface Case {
  args: string[];
  env?: Record<string, string>;
  input?: string;
}
interface Result {
  code: number;
  pid: number;
  stdout: string;
  stderr: string;
  log: string[];
}

const LONG = "x".repeat(250);
const ZONES = {
  "127.0.0.1": {
    // 127.0.0.2 is listed in rbl.test (two records, two strings in the first) and allowed in ok.test.
    "2.0.0.127.rbl.test": { TXT: [["Listed, ", "see http://rbl.test/"], [" \x01\xe9 and more"]], A: ["127.0.0.2"] },
    "2.0.0.127.ok.test": { A: ["127.0.0.2"] },
    // Answers too big for UDP, and no TCP server: the lookups fail at once.
    "2.0.0.127.fail.test": {
      A: Array.from({ length: 40 }, (_, i) => `127.0.1.${i}`),
      TXT: [[LONG.slice(0, 200)], [LONG.slice(0, 200)], [LONG.slice(0, 200)]],
    },
    "2.0.0.127.long.test": { TXT: [[LONG.slice(0, 200), LONG.slice(200)]] },
    // A TXT record with no text lists nobody.
    "2.0.0.127.empty.test": { TXT: [[""]] },
    // 127.0.0.3 is in no list (NXDOMAIN), nor is an address without a TXT record.
    "4.0.0.127.rbl.test": { A: ["127.0.0.2"] },
  },
  "127.0.0.2": {
    "2.0.0.127.rbl.test": { TXT: [["Listed by the other server"]] },
  },
};

async function scenario(cases: Case[], prog: string): Promise<Result[]> {
  const d = tmp("qts-rbl-");
  writeFileSync(join(d, "runner.mjs"), RUNNER);
  writeFileSync(join(d, "resolv.conf"), "nameserver 127.0.0.1\n");
  const spec = {
    zones: ZONES,
    cases: cases.map((c) => ({
      prog,
      args: c.args,
      env: { PATH: "/usr/bin:/bin", TCPREMOTEIP: "127.0.0.2", ...c.env },
      input: c.input ?? "",
    })),
  };
  writeFileSync(join(d, "spec.json"), JSON.stringify(spec));
  const r = await run(
    "unshare",
    [
      "-m",
      "-n",
      "--",
      "sh",
      "-c",
      SETUP,
      "sh",
      join(d, "resolv.conf"),
      process.execPath,
      join(d, "runner.mjs"),
      join(d, "spec.json"),
    ],
    { timeout: 120_000 },
  );
  if (r.code !== 0) throw new Error(`scenario failed: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const SMTPD = ["sh", "-c", 'echo "smtpd ran: $*"; env | grep ^RBLSMTPD || true', "sh", "arg"];
const SESSION = "HELO x\r\nmail FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nnoop\r\nehlo y\r\nrset\r\nvrfy z\nQuit\r\n";
const reply = (code: string, text: string) =>
  `220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n${code} ${text}\r\n${code} ${text}\r\n` +
  `250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n${code} ${text}\r\n221 rblsmtpd.local\r\n`;
const LISTED = "Listed, see http://rbl.test/ ?? and more";

const CASES: { name: string; c: Case; want: Partial<Omit<Result, "pid">> }[] = [
  {
    name: "listed: 451 with the TXT text, logged; the fake session",
    c: { args: ["-r", "rbl.test", ...SMTPD], input: SESSION },
    want: { code: 0, stdout: reply("451", LISTED), stderr: `rblsmtpd: 127.0.0.2 pid PID: 451 ${LISTED}\n` },
  },
  {
    name: "-b: 553",
    c: { args: ["-b", "-r", "rbl.test", ...SMTPD], input: SESSION },
    want: { code: 0, stdout: reply("553", LISTED), stderr: `rblsmtpd: 127.0.0.2 pid PID: 553 ${LISTED}\n` },
  },
  {
    name: "not listed: smtpd runs with the environment unchanged",
    c: { args: ["-b", "-r", "rbl.test", ...SMTPD], env: { TCPREMOTEIP: "127.0.0.3" }, input: SESSION },
    want: { code: 0, stdout: "smtpd ran: arg\n", stderr: "", log: ["127.0.0.1 3.0.0.127.rbl.test"] },
  },
  {
    name: "an address without TXT is not listed",
    c: { args: ["-r", "rbl.test", ...SMTPD], env: { TCPREMOTEIP: "127.0.0.4" } },
    want: { code: 0, stdout: "smtpd ran: arg\n" },
  },
  {
    name: "an empty TXT record lists nobody",
    c: { args: ["-r", "empty.test", ...SMTPD] },
    want: { code: 0, stdout: "smtpd ran: arg\n" },
  },
  {
    name: "-a first: an anti-RBL answer lets the client through, the RBL is not asked",
    c: { args: ["-a", "ok.test", "-r", "rbl.test", ...SMTPD] },
    want: { code: 0, stdout: "smtpd ran: arg\n", log: ["127.0.0.1 2.0.0.127.ok.test"] },
  },
  {
    name: "-r first: the RBL decides before -a is asked",
    c: { args: ["-r", "rbl.test", "-a", "ok.test", ...SMTPD], input: "QUIT\r\n" },
    want: { code: 0, stdout: "220 rblsmtpd.local\r\n221 rblsmtpd.local\r\n", log: ["127.0.0.1 2.0.0.127.rbl.test"] },
  },
  {
    name: "the text is cut at 200 bytes",
    c: { args: ["-t", "0", "-r", "long.test", ...SMTPD] },
    want: { code: 0, stdout: `451 ${LONG.slice(0, 200)}\r\n` },
  },
  {
    name: "-t 0: the reply alone, no session",
    c: { args: ["-t", "0", "-b", "-r", "rbl.test", ...SMTPD], input: SESSION },
    want: { code: 0, stdout: `553 ${LISTED}\r\n` },
  },
  {
    name: "-t 1: the session ends silently when the client says nothing",
    c: { args: ["-t", "1", "-r", "rbl.test", ...SMTPD] },
    want: { code: 0, stdout: "220 rblsmtpd.local\r\n" },
  },
  {
    name: "RBLSMTPD empty: smtpd runs, nothing is looked up",
    c: { args: ["-r", "rbl.test", ...SMTPD], env: { RBLSMTPD: "" } },
    want: { code: 0, stdout: "smtpd ran: arg\nRBLSMTPD=\n", log: [] },
  },
  {
    name: "RBLSMTPD=-text: 553 with the text, nothing looked up",
    c: { args: ["-r", "rbl.test", ...SMTPD], env: { RBLSMTPD: "-Go away \u00e9" }, input: SESSION },
    want: { code: 0, stdout: reply("553", "Go away ??"), log: [] },
  },
  {
    name: "RBLSMTPD=text: 451 even with -b",
    c: { args: ["-b", "-t", "0", ...SMTPD], env: { RBLSMTPD: "Slow down" } },
    want: { code: 0, stdout: "451 Slow down\r\n", stderr: "rblsmtpd: 127.0.0.2 pid PID: 451 Slow down\n" },
  },
  {
    name: "no -r: no list is asked",
    c: { args: SMTPD },
    want: { code: 0, stdout: "smtpd ran: arg\n", log: [] },
  },
  {
    name: "$DNSCACHEIP names the server",
    c: { args: ["-t", "0", "-r", "rbl.test", ...SMTPD], env: { DNSCACHEIP: "127.0.0.2" } },
    want: { code: 0, stdout: "451 Listed by the other server\r\n", log: ["127.0.0.2 2.0.0.127.rbl.test"] },
  },
  {
    name: "$DNSCACHEIP without an address: /etc/resolv.conf's server",
    c: { args: ["-t", "0", "-r", "rbl.test", ...SMTPD], env: { DNSCACHEIP: "none" } },
    want: { code: 0, stdout: `451 ${LISTED}\r\n`, log: ["127.0.0.1 2.0.0.127.rbl.test"] },
  },
  {
    name: "a failed lookup: fail open by default",
    c: { args: ["-r", "fail.test", ...SMTPD] },
    want: { code: 0, stdout: "smtpd ran: arg\n" },
  },
  {
    name: "-c: a failed RBL lookup blocks with 451 even with -b",
    c: { args: ["-c", "-b", "-t", "0", "-r", "fail.test", ...SMTPD] },
    want: { code: 0, stdout: "451 temporary RBL lookup error\r\n" },
  },
  {
    name: "-c: a failed anti-RBL lookup lets nobody through; a listing after it gets 451 even with -b",
    c: { args: ["-c", "-b", "-t", "0", "-a", "fail.test", "-r", "rbl.test", ...SMTPD] },
    want: { code: 0, stdout: `451 ${LISTED}\r\n` },
  },
  {
    name: "-c: a failed anti-RBL lookup alone decides nothing: smtpd runs",
    c: { args: ["-c", "-a", "fail.test", ...SMTPD] },
    want: { code: 0, stdout: "smtpd ran: arg\n" },
  },
  {
    name: "-C after -c: fail open again; a failed anti-RBL lookup lets the client through",
    c: { args: ["-c", "-C", "-a", "fail.test", "-r", "rbl.test", ...SMTPD] },
    want: { code: 0, stdout: "smtpd ran: arg\n" },
  },
  {
    name: "usage",
    c: { args: ["-r", "rbl.test"] },
    want: {
      code: 100,
      stdout: "",
      stderr: "rblsmtpd: usage: rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]\n",
    },
  },
  {
    name: "unable to run smtpd",
    c: { args: ["/nonexistent/smtpd"], env: { TCPREMOTEIP: "127.0.0.3" } },
    want: { code: 111, stderr: "rblsmtpd: fatal: unable to run /nonexistent/smtpd: file does not exist\n" },
  },
];

const mask = (r: Result) => ({ ...r, stderr: r.stderr.replaceAll(` pid ${r.pid}:`, " pid PID:") });

describe("rblsmtpd", async () => {
  const mine = await scenario(
    CASES.map((x) => x.c),
    ours("rblsmtpd"),
  );
  const orig = original("rblsmtpd");
  const theirs = orig
    ? await scenario(
        CASES.map((x) => x.c),
        orig,
      )
    : undefined;
  CASES.forEach(({ name, want }, i) => {
    test(name, () => {
      const r = mask(mine[i] as Result);
      expect(r).toMatchObject(want);
      if (theirs) {
        const t = mask(theirs[i] as Result);
        expect({ ...r, pid: 0 }).toEqual({ ...t, pid: 0 });
      }
    });
  });
});

// The article's use: tcpserver -x with a rule that sets RBLSMTPD for a client, rblsmtpd before the
// SMTP server. Ours and Debian's rblsmtpd under our tcpserver, each rule compiled by our tcprules.
describe.each([
  ["ours", ours("rblsmtpd")],
  ...(original("rblsmtpd") ? [["original", original("rblsmtpd") as string]] : []),
])("rblsmtpd (%s) under tcpserver, RBLSMTPD from the rules", (_w, bin) => {
  async function talk(rule: string, lines: string[]): Promise<{ got: string }> {
    const d = tmp("qts-rbl-rules-");
    const rules = await run(ours("tcprules"), [join(d, "rules.cdb"), join(d, "rules.tmp")], { input: rule });
    if (rules.code !== 0) throw new Error(rules.stderr);
    const port = await freePort();
    const p = start(
      ours("tcpserver"),
      [
        "-RHl0",
        "-x",
        join(d, "rules.cdb"),
        "127.0.0.1",
        String(port),
        bin,
        "sh",
        "-c",
        'echo "220 real smtpd"; read line; echo "got $line"',
      ],
      { env: { PATH: "/usr/bin:/bin" }, extendEnv: false, stdout: "ignore", stderr: "pipe" },
    );
    try {
      const sock = await waitFor(
        () =>
          new Promise<Socket | undefined>((ok) => {
            const s = connect(port, "127.0.0.1");
            s.once("connect", () => ok(s));
            s.once("error", () => ok(undefined));
          }),
        10_000,
      );
      if (!sock) throw new Error("tcpserver did not start");
      const chunks: Buffer[] = [];
      sock.on("data", (x) => {
        chunks.push(x as Buffer);
        if (chunks.length === 1) sock.write(lines.join(""));
      });
      await new Promise((ok) => sock.once("close", ok));
      return { got: Buffer.concat(chunks).toString("latin1") };
    } finally {
      p.kill();
    }
  }

  test("a rule with RBLSMTPD=-text: 553 for RCPT, the real server never runs", async () => {
    const r = await talk('127.0.0.1:allow,RBLSMTPD="-Go away, spammer"\n:allow\n', [
      "HELO x\r\n",
      "MAIL FROM:<a@b>\r\n",
      "RCPT TO:<c@d>\r\n",
      "QUIT\r\n",
    ]);
    expect(r.got).toBe(
      "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 Go away, spammer\r\n221 rblsmtpd.local\r\n",
    );
  });

  test("a rule with RBLSMTPD empty: the real server runs", async () => {
    const r = await talk('127.0.0.1:allow,RBLSMTPD=""\n', ["HELO x\r\n"]);
    expect(r.got).toBe("220 real smtpd\ngot HELO x\r\n");
  });
});
