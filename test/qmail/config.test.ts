// SPDX-License-Identifier: MIT
// config, against qmail's config.sh and its helpers
// (hostname, dnsfq, dnsip, ipmeprint, dnsptr). Each case runs the real program
// in its own UTS, mount and network namespaces: its own host name, lo up with
// 127.0.0.1 and 10.9.8.7, /etc/resolv.conf bind-mounted from a temp file, and
// the test DNS server on 127.0.0.1:53 started inside the same namespace.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, ROOT, run, tmp } from "../lib/harness.ts";

// A script of its own, run by bun inside the namespaces (not a test file, so without the harness, whose
// clean-up hooks are bun:test's): it runs the program with execa, as the harness does.
const RUNNER = `
import { createSocket } from "node:dgram";
import { execa } from ${JSON.stringify(join(ROOT, "node_modules/execa/index.js"))};
import { readFileSync } from "node:fs";
import { answer } from ${JSON.stringify(join(ROOT, "test/qmail/fixtures/dnsserver.ts"))};
const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
function name(n) {
  const parts = n.split(".").filter((p) => p).flatMap((p) => [Buffer.from([p.length]), Buffer.from(p)]);
  return Buffer.concat([...parts, Buffer.from([0])]);
}
// PTR answers as the fixture's raw answer sections (0xc00c: the question's name).
const zone = spec.zone;
for (const [ip, ptr] of Object.entries(spec.ptr)) {
  const rd = name(ptr);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0xc00c, 0);
  h.writeUInt16BE(12, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt32BE(60, 6);
  h.writeUInt16BE(rd.length, 10);
  zone[ip.split(".").reverse().join(".") + ".in-addr.arpa"] = { raw: { ancount: 1, bytes: Buffer.concat([h, rd]) } };
}
const log = [];
const u = createSocket("udp4");
u.on("message", (m, r) => {
  const labels = [];
  for (let at = 12; m[at]; at += m[at] + 1) labels.push(m.subarray(at + 1, at + 1 + m[at]).toString("latin1"));
  log.push(labels.join("."));
  const a = answer(zone, m, 512);
  if (a) u.send(a, r.port, r.address);
});
await new Promise((ok) => u.bind(53, "127.0.0.1", ok));
const r = await execa(spec.prog, spec.args, {
  env: spec.env,
  extendEnv: false,
  stdin: "ignore",
  reject: false,
  timeout: 20000,
  stripFinalNewline: false,
});
const [code, stdout, stderr] = [r.exitCode ?? -1, r.stdout, r.stderr];
u.close();
process.stdout.write(JSON.stringify({ code, stdout, stderr, log: [...new Set(log)] }));
`;

const SETUP =
  'printf "%s\\n" "$1" > /proc/sys/kernel/hostname && ip link set lo up && ip addr add 10.9.8.7/32 dev lo && ' +
  'mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';

interface Case {
  host: string;
  resolv: string;
  zone: Record<string, { A?: string[]; rcode?: number }>;
  ptr: Record<string, string>;
  home: string;
  args?: string[];
}

async function scenario(c: Case): Promise<{ code: number; stdout: string; stderr: string; log: string[] }> {
  const d = tmp("qts-config-");
  writeFileSync(join(d, "runner.mjs"), RUNNER);
  writeFileSync(join(d, "resolv.conf"), c.resolv);
  const spec = {
    zone: c.zone,
    ptr: c.ptr,
    prog: ours("config"),
    args: c.args ?? [],
    env: { QMAILHOME: c.home, PATH: "/usr/bin:/bin" },
  };
  writeFileSync(join(d, "spec.json"), JSON.stringify(spec));
  const r = await run(
    "unshare",
    [
      "-u",
      "-m",
      "-n",
      "--",
      "sh",
      "-c",
      SETUP,
      "sh",
      c.host,
      join(d, "resolv.conf"),
      process.execPath,
      join(d, "runner.mjs"),
      join(d, "spec.json"),
    ],
    { timeout: 30_000 },
  );
  if (r.code !== 0) throw new Error(`scenario failed: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function homeWithControl(): string {
  const home = tmp();
  mkdirSync(join(home, "control"));
  return home;
}

const ZONE = {
  "box.example.org": { A: ["10.9.8.7"] },
  "mail.sub.example.org": { A: ["10.9.8.7", "192.0.2.25"] },
  "25.2.0.192.in-addr.arpa": { rcode: 2 },
};
const PTR = { "10.9.8.7": "Mail.Sub.Example.ORG", "127.0.0.1": "localhost" };
const SORRY =
  "Sorry, I couldn't find your host's canonical name in DNS.\nYou will have to set up control/me yourself.\n";

describe("config", () => {
  test("canonical name from A then PTR; locals from every local and canonical address's PTR; config.sh's text", async () => {
    const home = homeWithControl();
    const control = join(home, "control");
    writeFileSync(join(control, "locals"), "old.example\n");
    writeFileSync(join(control, "rcpthosts"), "old.example\n", { mode: 0o600 });
    const r = await scenario({
      host: "Box",
      resolv: "nameserver 127.0.0.1\nsearch other.test example.org\n",
      zone: ZONE,
      ptr: PTR,
      home,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      "Your hostname is box.\n" +
        "Your host's fully qualified name in DNS is mail.sub.example.org.\n" +
        "Putting mail.sub.example.org into control/me...\n" +
        "Putting sub.example.org into control/defaultdomain...\n" +
        "Putting example.org into control/plusdomain...\n" +
        " \n" +
        "Checking local IP addresses:\n" +
        "0.0.0.0: PTR lookup failed. I assume this address has no DNS name.\n" +
        "10.9.8.7: Adding Mail.Sub.Example.ORG to control/locals...\n" +
        "127.0.0.1: Adding localhost to control/locals...\n" +
        "192.0.2.25: PTR lookup failed. I assume this address has no DNS name.\n" +
        " \n" +
        "If there are any other domain names that point to you,\n" +
        `you will have to add them to ${control}/locals.\n` +
        "You don't have to worry about aliases, i.e., domains with CNAME records.\n" +
        " \n" +
        `Copying ${control}/locals to ${control}/rcpthosts...\n` +
        "Now qmail will refuse to accept SMTP messages except to those hosts.\n" +
        "Make sure to change rcpthosts if you add hosts to locals or virtualdomains!\n",
    );
    const files: Record<string, string> = {
      me: "mail.sub.example.org\n",
      defaultdomain: "sub.example.org\n",
      plusdomain: "example.org\n",
      locals: "Mail.Sub.Example.ORG\nlocalhost\n",
      rcpthosts: "Mail.Sub.Example.ORG\nlocalhost\n",
    };
    for (const [f, text] of Object.entries(files)) {
      expect({ f, text: readFileSync(join(control, f), "utf8") }).toEqual({ f, text });
      expect({ f, mode: (statSync(join(control, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: "644" });
    }
    // The short name through the search list in order (res_search); the canonical name as is.
    expect(r.log.slice(0, 4)).toEqual([
      "box.other.test",
      "box.example.org",
      "7.8.9.10.in-addr.arpa",
      "mail.sub.example.org",
    ]);
  });

  test("host name not in DNS: dnsfq's error and the advice; exit 0; no file written", async () => {
    const home = homeWithControl();
    const r = await scenario({
      host: "NoWhere",
      resolv: "nameserver 127.0.0.1\nsearch example.org\n",
      zone: ZONE,
      ptr: PTR,
      home,
    });
    expect(r).toEqual({
      code: 0,
      stdout: `Your hostname is nowhere.\n${SORRY}`,
      stderr: "config: unable to find the canonical name of nowhere in DNS: hard error\n",
      log: ["nowhere.example.org", "nowhere"],
    });
    expect(readdirSync(join(home, "control"))).toEqual([]);
  });

  test("address without a PTR name: hard error; DNS failure on the PTR: soft error", async () => {
    const zone = { ...ZONE, "a.example.org": { A: ["192.0.2.1"] }, "b.example.org": { A: ["192.0.2.25"] } };
    for (const [host, err] of [
      ["a.example.org", "hard error\n"],
      ["b.example.org", "soft error\n"],
    ] as const) {
      const home = homeWithControl();
      const r = await scenario({ host, resolv: "nameserver 127.0.0.1\n", zone, ptr: PTR, home });
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        code: 0,
        stdout: `Your hostname is ${host}.\n${SORRY}`,
        stderr: `config: unable to find the canonical name of ${host} in DNS: ${err}`,
      });
      expect(readdirSync(join(home, "control"))).toEqual([]);
    }
  });

  test("empty host name: looked up as the script does, and not found", async () => {
    const home = homeWithControl();
    const r = await scenario({ host: "", resolv: "nameserver 127.0.0.1\n", zone: ZONE, ptr: PTR, home });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      stdout: `Your hostname is .\n${SORRY}`,
      stderr: "config: unable to find the canonical name of  in DNS: hard error\n",
    });
  });

  test("no control directory: 111 at the first write; ndots and the host's own domain as search list", async () => {
    const home = join(tmp(), "none");
    const r = await scenario({
      host: "mail.sub.example.org",
      resolv: "nameserver 127.0.0.1\noptions ndots:5\n",
      zone: ZONE,
      ptr: PTR,
      home,
    });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 111,
      stdout:
        "Your hostname is mail.sub.example.org.\n" +
        "Your host's fully qualified name in DNS is mail.sub.example.org.\n" +
        "Putting mail.sub.example.org into control/me...\n",
      stderr: `config: fatal: unable to write ${home}/control/me: file does not exist\n`,
    });
    expect(r.log.slice(0, 2)).toEqual(["mail.sub.example.org.sub.example.org", "mail.sub.example.org"]);
    expect(existsSync(home)).toBe(false);
  });

  test("arguments: usage, 100, nothing looked up or written", async () => {
    const home = homeWithControl();
    const r = await run(ours("config"), ["mail.example.org"], { env: { QMAILHOME: home } });
    expect(r).toMatchObject({ code: 100, stdout: "", stderr: "config: usage: config\n" });
    expect(readdirSync(join(home, "control"))).toEqual([]);
  });
});
