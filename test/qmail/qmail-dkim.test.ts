// SPDX-License-Identifier: MIT
// qmail-dkim and dknewkey: signatures checked by an independent verifier, Debian's python3-dkim
// (`dkimverify`), which finds the key's TXT record through a DNS server of our own in a network and
// mount namespace of its own (resolv.conf bound over). rsa-sha256 and ed25519-sha256; a message that
// goes on through qmail-remote (dot-stuffed, 8-bit) and our qmail-smtpd; folded headers; no key; a
// key with the wrong mode.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, runSync, start, tmp } from "../lib/harness.ts";

setDefaultTimeout(60_000);

const DKIMVERIFY = "/usr/bin/dkimverify";
const canNs = runSync("unshare", ["-n", "-m", "true"]).code === 0;
const TXTDNS = join(import.meta.dir, "fixtures/txtdns.py");

interface Home {
  dir: string;
  qq: string;
  out: string;
}

function home(): Home {
  const dir = tmp("qts-dkim-");
  mkdirSync(join(dir, "control"));
  writeFileSync(join(dir, "control/me"), "mail.example.org\n");
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "fakeqq");
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg"\ncat <&1 > "${out}/env"\nexit \${QQEXIT:-0}\n`, { mode: 0o755 });
  return { dir, qq, out };
}

/** dknewkey's zone line as a txtdns.py record line. */
function record(zone: string): string {
  const name = zone.split(" ")[0] as string;
  const text = [...zone.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
  return `${name}\t${text}\n`;
}

async function newKey(h: Home, rel: string, type = "rsa"): Promise<string> {
  const r = await run(ours("dknewkey"), ["-t", type, join(h.dir, rel)]);
  expect(r).toMatchObject({ code: 0, stderr: "" });
  return record(r.stdout);
}

/** qmail-dkim with the message on fd 0 and the envelope on fd 1, handing on to the fake queue. */
async function dkim(h: Home, msg: Buffer | string, envelope: string, env: Record<string, string> = {}) {
  const d = tmp();
  writeFileSync(join(d, "msg"), msg);
  writeFileSync(join(d, "env"), envelope, "latin1");
  return await run("sh", ["-c", `exec "${ours("qmail-dkim")}" < msg 1< env`], {
    cwd: d,
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, DKIMQUEUE: h.qq, ...env },
    extendEnv: false,
  });
}

/** dkimverify on the message, with records served by txtdns.py inside namespaces of its own. */
async function verify(message: Buffer, records: string): Promise<{ code: number; out: string }> {
  const d = tmp();
  writeFileSync(join(d, "records"), records);
  writeFileSync(join(d, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n");
  writeFileSync(join(d, "msg"), message);
  const script = [
    "mount --bind resolv.conf /etc/resolv.conf || exit 90",
    "ip link set lo up",
    `python3 ${TXTDNS} records > dns.out 2>&1 &`,
    "i=0; while ! grep -q ready dns.out && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done",
    `${DKIMVERIFY} < msg; rc=$?`,
    "kill $!",
    "exit $rc",
  ].join("\n");
  const r = await run("timeout", ["30", "unshare", "-n", "-m", "sh", "-c", script], { cwd: d });
  return { code: r.code, out: r.stdout + r.stderr };
}

const ENV = "Fjoe@example.org\0Tu@remote.example\0Tv@remote.example\0\0";
const FOLDED =
  "From: Joe Sender\n  <joe@example.org>\nTo: u@remote.example,\n\tv@remote.example\nSubject: a   subject\n" +
  " folded  over\tthree\n lines \nDate: Mon, 7 Dec 2026 05:00:00 +0000\nMessage-ID: <1@example.org>\n\n";

describe.skipIf(!canNs || !existsSync(DKIMVERIFY))("qmail-dkim: signatures dkimverify accepts", () => {
  for (const type of ["rsa", "ed25519"]) {
    test(`${type}: folded headers, spaces, 8-bit body; the envelope passed on unchanged`, async () => {
      const h = home();
      const rec = await newKey(h, "control/domainkeys/example.org/default", type);
      const body = Buffer.from("line  with   spaces  \n\t tabbed\n\xe9t\xe9 en fran\xe7ais\n\n\n", "latin1");
      const msg = Buffer.concat([Buffer.from(FOLDED, "latin1"), body]);
      const r = await dkim(h, msg, ENV);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const out = readFileSync(join(h.out, "msg"));
      expect(out.toString("latin1")).toStartWith(
        `DKIM-Signature: v=1; a=${type}-sha256; c=relaxed/relaxed; d=example.org;\n\ts=default; t=`,
      );
      // the original message follows the signature byte for byte
      expect(out.subarray(out.length - msg.length).equals(msg)).toBe(true);
      expect(readFileSync(join(h.out, "env"), "latin1")).toBe(ENV);
      const v = await verify(out, rec);
      expect(v).toEqual({ code: 0, out: "signature ok\n" });
      // and a changed body fails
      const bad = Buffer.from(out.toString("latin1").replace("fran\xe7ais", "francais"), "latin1");
      expect((await verify(bad, rec)).code).not.toBe(0);
    });
  }

  test("on through qmail-remote (dot-stuffed on the wire) and our qmail-smtpd: still verifies", async () => {
    const h = home();
    const rec = await newKey(h, "control/domainkeys/example.org/default");
    const msg = Buffer.from(
      `${FOLDED}.a line with a leading dot\n..two dots\n.\n\xe9t\xe9 8-bit \xff bytes\nend\n`,
      "latin1",
    );
    expect((await dkim(h, msg, ENV)).code).toBe(0);
    const signed = readFileSync(join(h.out, "msg"));
    // our qmail-smtpd under our tcpserver, queueing into a second fake queue
    const h2 = home();
    writeFileSync(join(h2.dir, "control/rcpthosts"), "remote.example\n");
    const srv = start(ours("tcpserver"), ["-1", "-RHl0", "127.0.0.1", "0", ours("qmail-smtpd")], {
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: process.env.PATH ?? "", QMAILHOME: h2.dir, QMAILQUEUE: h2.qq },
      extendEnv: false,
    });
    const port = Number((await srv.until("\n", 5000)).trim());
    writeFileSync(join(h.dir, "control/smtproutes"), `remote.example:127.0.0.1:${port}\n`);
    const d = tmp();
    writeFileSync(join(d, "signed"), signed);
    const r = await run(
      "sh",
      ["-c", `exec "${ours("qmail-remote")}" remote.example joe@example.org u@remote.example < signed`],
      { cwd: d, env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir }, extendEnv: false },
    );
    srv.kill("SIGTERM");
    expect(r.stdout).toStartWith("r\0K127.0.0.1 accepted message.");
    const got = readFileSync(join(h2.out, "msg"));
    expect(got.toString("latin1")).toStartWith("Received: from unknown (HELO mail.example.org) (127.0.0.1)\n");
    expect(got.subarray(got.length - signed.length).equals(signed)).toBe(true);
    expect(await verify(got, rec)).toEqual({ code: 0, out: "signature ok\n" });
  });

  test("DKIMSIGN: % is the From domain, the file's name the selector; absolute or relative to the home", async () => {
    const h = home();
    const rec = await newKey(h, "keys/example.org.sel2024");
    for (const sign of ["keys/%.sel2024", join(h.dir, "keys/%.sel2024")]) {
      const r = await dkim(h, `${FOLDED}body\n`, ENV, { DKIMSIGN: sign });
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const out = readFileSync(join(h.out, "msg"));
      expect(out.toString("latin1")).toContain("s=example.org.sel2024;");
      if (sign.startsWith("/")) continue;
      // dknewkey named the domain after the key's directory (keys): publish under example.org
      const v = await verify(
        out,
        rec.replace(/^example\.org\.sel2024\._domainkey\.keys\./, "example.org.sel2024._domainkey.example.org."),
      );
      expect(v).toEqual({ code: 0, out: "signature ok\n" });
    }
  });
});

describe("qmail-dkim: what goes unsigned, and bad input", () => {
  test("no key for the domain: passed on unsigned, byte for byte", async () => {
    const h = home();
    const msg = `${FOLDED}body\n`;
    const r = await dkim(h, msg, ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(h.out, "msg"), "latin1")).toBe(msg);
    expect(readFileSync(join(h.out, "env"), "latin1")).toBe(ENV);
  });

  test("a From domain that would leave control/domainkeys: unsigned; no From: the envelope sender's domain", async () => {
    const h = home();
    await newKey(h, "control/domainkeys/example.org/default");
    const evil = "From: x@../../../../etc\nSubject: s\n\nbody\n";
    expect((await dkim(h, evil, ENV)).code).toBe(0);
    expect(readFileSync(join(h.out, "msg"), "latin1")).toBe(evil);
    expect((await dkim(h, "Subject: s\n\nbody\n", ENV)).code).toBe(0);
    expect(readFileSync(join(h.out, "msg"), "latin1")).toContain("d=example.org;");
  });

  test("a key group or others can read: 55, nothing handed on, a message saying why", async () => {
    const h = home();
    await newKey(h, "control/domainkeys/example.org/default");
    const key = join(h.dir, "control/domainkeys/example.org/default");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    for (const mode of [0o640, 0o604, 0o660]) {
      chmodSync(key, mode);
      const r = await dkim(h, `${FOLDED}body\n`, ENV);
      expect(r.code).toBe(55);
      expect(r.stderr).toBe(
        `qmail-dkim: fatal: key ${key} is accessible to group or others (mode ${mode.toString(8)}): chmod 600 it\n`,
      );
      expect(existsSync(join(h.out, "msg"))).toBe(false);
    }
    writeFileSync(key, "not a key\n", { mode: 0o600 });
    chmodSync(key, 0o600);
    expect(await dkim(h, `${FOLDED}body\n`, ENV)).toMatchObject({
      code: 55,
      stderr: `qmail-dkim: fatal: unable to parse key ${key}\n`,
    });
  });

  test("a bad envelope: 91; the next queue's exit code comes back unchanged", async () => {
    const h = home();
    expect((await dkim(h, "x\n", "Tu@x\0\0")).code).toBe(91);
    expect((await dkim(h, "x\n", "Fa@b\0Tu@x\0")).code).toBe(91);
    expect((await dkim(h, "x\n", ENV, { QQEXIT: "71" })).code).toBe(71);
    expect((await dkim(h, "x\n", ENV, { QQEXIT: "31" })).code).toBe(31);
  });

  test("qmail-smtpd with QMAILQUEUE=qmail-dkim: signed, and the queue's refusal reported", async () => {
    const h = home();
    await newKey(h, "control/domainkeys/example.org/default");
    writeFileSync(join(h.dir, "control/rcpthosts"), "remote.example\n");
    const session = async (env: Record<string, string>) => {
      const p = await run(ours("qmail-smtpd"), [], {
        input: Buffer.from(
          "HELO c\r\nMAIL FROM:<joe@example.org>\r\nRCPT TO:<u@remote.example>\r\nDATA\r\nFrom: joe@example.org\r\n\r\nhi\r\n.\r\nQUIT\r\n",
        ),
        env: {
          PATH: process.env.PATH ?? "",
          QMAILHOME: h.dir,
          QMAILQUEUE: ours("qmail-dkim"),
          DKIMQUEUE: h.qq,
          ...env,
        },
        extendEnv: false,
      });
      return p.stdout;
    };
    expect(await session({})).toMatch(/\r\n250 ok \d+ qp \d+\r\n221 /);
    expect(readFileSync(join(h.out, "msg"), "latin1")).toStartWith("DKIM-Signature: v=1; a=rsa-sha256;");
    expect(await session({ QQEXIT: "31" })).toContain("\r\n554 mail server permanently rejected message (#5.3.0)\r\n");
  });
});

describe("dknewkey", () => {
  test("makes a 0600 key in a 0700 directory, keeps an existing one, prints the same record each time", async () => {
    const d = tmp();
    const key = join(d, "control/domainkeys/example.net/mail");
    const a = await run(ours("dknewkey"), [key]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(
      /^mail\._domainkey\.example\.net\. IN TXT \( "v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+" "[A-Za-z0-9+/=]+" \)\n$/,
    );
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, "control/domainkeys/example.net")).mode & 0o777).toBe(0o700);
    const b = await run(ours("dknewkey"), ["-t", "ed25519", key]);
    expect(b.stdout).toBe(a.stdout);
    const e = await run(ours("dknewkey"), ["-t", "ed25519", "-d", "example.com", join(d, "ed")]);
    expect(e.stdout).toMatch(
      /^ed\._domainkey\.example\.com\. IN TXT \( "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=" \)\n$/,
    );
    expect(await run(ours("dknewkey"), ["-t", "dsa", key])).toMatchObject({
      code: 100,
      stderr: "dknewkey: usage: dknewkey [ -t rsa|ed25519 ] [ -b bits ] [ -d domain ] keyfile\n",
    });
  });
});
