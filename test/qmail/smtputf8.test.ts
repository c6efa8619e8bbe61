// SPDX-License-Identifier: MIT
// SMTPUTF8 (RFC 6531): qmail-smtpd offers it and takes UTF-8 addresses (an overlong sequence is
// refused), qmail-local delivers to a UTF-8 local part, qmail-remote uses it only with servers that
// offer it and bounces with 5.6.7 otherwise; both directions against a private Postfix with
// smtputf8_enable.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, start, tmp, waitFor } from "../lib/harness.ts";
import { havePostfix, type Postfix, startPostfix } from "../lib/postfix.ts";
import { GID, makeHome, runLocal, UID } from "./fixtures/local-user.ts";

setDefaultTimeout(90_000);

// Byte strings: one char per byte, as the programs see them.
const u8 = (s: string) => Buffer.from(s, "utf8").toString("latin1");
const JOSE = u8("jösé");
const UNI = u8("ünï");
// An overlong encoding of '/' (C0 AF): not UTF-8 (RFC 3629 section 3).
const OVERLONG = "\xc0\xafx";

function qhome(controls: Record<string, string>) {
  const dir = tmp("qts-u8-");
  mkdirSync(join(dir, "control"));
  for (const [k, v] of Object.entries(controls)) writeFileSync(join(dir, "control", k), v, "latin1");
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "fakeqq");
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg.$$"\ncat <&1 > "${out}/env.$$"\n`, { mode: 0o755 });
  return { dir, out, qq };
}

function queued(out: string): { msg: string; env: string }[] {
  return readdirSync(out)
    .filter((f) => f.startsWith("env."))
    .map((f) => ({
      env: readFileSync(join(out, f), "latin1"),
      msg: readFileSync(join(out, `msg.${f.slice(4)}`), "latin1"),
    }));
}

async function smtpd(h: ReturnType<typeof qhome>, input: string) {
  const r = await run(ours("qmail-smtpd"), [], {
    input: Buffer.from(input, "latin1"),
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: h.qq, TCPREMOTEIP: "127.0.0.1" },
    extendEnv: false,
    encoding: "latin1",
    timeout: 15000,
  });
  return r.stdout;
}

describe("qmail-smtpd: SMTPUTF8", () => {
  test("offered in EHLO; UTF-8 sender and recipient queued byte for byte; Received says UTF8SMTP", async () => {
    const h = qhome({ me: "q.test", rcpthosts: "q.test\n" });
    const out = await smtpd(
      h,
      `EHLO c\r\nMAIL FROM:<${UNI}@c.test> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<${JOSE}@q.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n`,
    );
    expect(out).toContain("250-SIZE 0\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok ");
    const [m] = queued(h.out);
    expect(m?.env).toBe(`F${UNI}@c.test\0T${JOSE}@q.test\0\0`);
    expect(m?.msg).toMatch(/^Received: from unknown \(HELO c\) \(127\.0\.0\.1\)\n {2}by unknown with UTF8SMTP; /);
  });

  test("an overlong UTF-8 sequence under SMTPUTF8: 553 #5.6.7 at MAIL and at RCPT; without SMTPUTF8, bytes pass as in qmail", async () => {
    const h = qhome({ me: "q.test", rcpthosts: "q.test\n" });
    const out = await smtpd(
      h,
      `EHLO c\r\nMAIL FROM:<${OVERLONG}@c.test> SMTPUTF8\r\nMAIL FROM:<a@c.test> SMTPUTF8\r\nRCPT TO:<${OVERLONG}@q.test>\r\nRCPT TO:<\xed\xa0\x80@q.test>\r\nRCPT TO:<${JOSE}@q.test>\r\n` +
        `MAIL FROM:<a@c.test>\r\nRCPT TO:<${OVERLONG}@q.test>\r\nQUIT\r\n`,
    );
    const bad = "553 sorry, that address is not valid UTF-8 (#5.6.7)";
    expect(out.split("\r\n").slice(6, 13)).toEqual([bad, "250 ok", bad, bad, "250 ok", "250 ok", "250 ok"]);
  });
});

describe("qmail-local: a UTF-8 local part", () => {
  test("~alias/.qmail-jösé delivers; Delivered-To and Return-Path keep the bytes", async () => {
    const h = makeHome();
    const box = join(h.dir, "box");
    for (const s of ["", "/tmp", "/new", "/cur"]) {
      mkdirSync(box + s, { mode: 0o700 });
      chownSync(box + s, UID, GID);
    }
    h.put(Buffer.from(".qmail-jösé", "utf8").toString(), "./box/\n");
    const r = await runLocal(h, { user: "alias", local: "jösé", dash: "-", ext: "jösé", sender: "ünï@c.test" });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    const [f] = readdirSync(join(box, "new"));
    const msg = readFileSync(join(box, "new", f as string), "latin1");
    expect(msg).toStartWith(`Return-Path: <${UNI}@c.test>\nDelivered-To: ${JOSE}@example.com\n`);
  });
});

async function remote(dir: string, args: string[], env: Record<string, string> = {}) {
  const r = await run(
    ours("qmail-remote"),
    args.map((a) => Buffer.from(a, "latin1").toString("utf8")),
    {
      input: Buffer.from("Subject: utf8\n\nhi\n"),
      env: { PATH: process.env.PATH ?? "", QMAILHOME: dir, ...env },
      extendEnv: false,
      encoding: "latin1",
      timeout: 30000,
    },
  );
  return r.stdout;
}

describe("qmail-remote: SMTPUTF8", () => {
  test("an address that is neither ASCII nor UTF-8 (overlong): D #5.6.7, no connection made", async () => {
    const h = qhome({ me: "q.test", smtproutes: "pf.test:127.0.0.1:1\n" });
    // printf writes the bytes C0 AF: an argument that is not UTF-8
    const r = await run(
      "sh",
      ["-c", `exec "$0" pf.test a@q.test "$(printf '\\300\\257x@pf.test')" </dev/null`, ours("qmail-remote")],
      {
        env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir },
      },
    );
    const out = r.stdout;
    expect(out).toBe("DSorry, an address is neither ASCII nor valid UTF-8, so SMTPUTF8 cannot carry it. (#5.6.7)\n\0");
  });
});

const postfixes: Postfix[] = [];
afterAll(async () => {
  for (const p of postfixes) await p.stop();
});

describe.skipIf(!havePostfix())("against Postfix with smtputf8_enable", () => {
  test("qmail-remote to Postfix: EHLO, MAIL ... SMTPUTF8, delivered with the bytes intact", async () => {
    const pf = await startPostfix({ domain: "pf.test", smtputf8: true });
    postfixes.push(pf);
    const h = qhome({ me: "q.test", smtproutes: `pf.test:127.0.0.1:${pf.port}\n` });
    const out = await remote(h.dir, ["pf.test", `${UNI}@q.test`, `${JOSE}@pf.test`]);
    expect(out).toStartWith("r\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued as ");
    const got = await waitFor(() => {
      try {
        return readdirSync(join(pf.maildir, "new"))[0];
      } catch {
        return undefined;
      }
    }, 20_000);
    const msg = readFileSync(join(pf.maildir, "new", got as string), "latin1");
    expect(msg).toContain(`Return-Path: <${UNI}@q.test>\n`);
    expect(msg).toContain(`Delivered-To: ${JOSE}@pf.test\n`);
    expect(msg).toMatch(/with UTF8SMTP/);
    // ASCII-only mail goes without SMTPUTF8 (with EHLO since opportunistic STARTTLS needs its keywords)
    const ascii = await remote(h.dir, ["pf.test", "a@q.test", "plain@pf.test"]);
    expect(ascii).toStartWith("r\0K127.0.0.1 accepted message.");
    expect(pf.log()).toContain("from=<a@q.test>");
  });

  test("Postfix without SMTPUTF8: D #5.6.7, nothing sent; ASCII mail still goes", async () => {
    const pf = await startPostfix({ domain: "pf.test", smtputf8: false });
    postfixes.push(pf);
    const h = qhome({ me: "q.test", smtproutes: `pf.test:127.0.0.1:${pf.port}\n` });
    const out = await remote(h.dir, ["pf.test", "a@q.test", `${JOSE}@pf.test`]);
    expect(out).toBe(
      "DConnected to 127.0.0.1 but it does not offer SMTPUTF8, which the non-ASCII addresses need (#5.6.7).\n\0",
    );
    expect(await remote(h.dir, ["pf.test", "a@q.test", "plain@pf.test"])).toStartWith(
      "r\0K127.0.0.1 accepted message.",
    );
  });

  test("Postfix to our qmail-smtpd: it sends SMTPUTF8, we queue the UTF-8 envelope", async () => {
    const h = qhome({ me: "q.test", rcpthosts: "q.test\n" });
    const srv = start(ours("tcpserver"), ["-1", "-RHl0", "127.0.0.1", "0", ours("qmail-smtpd")], {
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: h.qq },
      extendEnv: false,
    });
    const port = Number((await srv.until("\n", 5000)).trim());
    const pf = await startPostfix({ domain: "pf.test", smtputf8: true, relayPort: port });
    postfixes.push(pf);
    const py = `
import smtplib
s = smtplib.SMTP("127.0.0.1", ${pf.port}, timeout=20)
s.ehlo("py.test")
s.sendmail("ünï@py.test", ["jösé@q.test"], "Subject: über\\r\\n\\r\\nhi\\r\\n".encode("utf-8"), mail_options=["SMTPUTF8"])
s.quit()
print("sent")
`;
    const r = await run("python3", ["-c", py]);
    expect(r.stdout).toBe("sent\n");
    // complete once the envelope's final NUL is there
    const got = await waitFor(() => queued(h.out).find((q) => q.env.endsWith("\0\0")), 30_000);
    srv.kill("SIGTERM");
    expect(got?.env).toBe(`F${UNI}@py.test\0T${JOSE}@q.test\0\0`);
    expect(got?.msg).toMatch(/^Received: from unknown \(HELO pf\.test\) \(127\.0\.0\.1\)\n {2}by 0 with UTF8SMTP; /);
    expect(got?.msg).toContain(`Subject: ${u8("über")}\n`);
  });
});
