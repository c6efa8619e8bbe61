// SPDX-License-Identifier: MIT
// qmail-smtpd's STARTTLS (RFC 3207), implicit TLS (SMTPS=1, RFC 8314) and
// SMTP AUTH (RFC 4954) through a checkpassword-interface program, under
// Debian's tcpserver, with real peers: openssl s_client, swaks, python3's
// smtplib and ssl, and bad input (qmail-smtpd(8)).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, kill, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

setDefaultTimeout(60_000);

const SMTPD = ours("qmail-smtpd");
const TCPSERVER = "/usr/bin/tcpserver";
const PASSWORD = "s3cret-Pa55";

interface Home {
  dir: string;
  out: string;
  qq: string;
  checker: string;
  cert: string;
}

/** A self-signed certificate and key for CN, in one PEM file (servercert.pem's shape). */
export async function selfSigned(dir: string, cn = "localhost", name = "servercert.pem"): Promise<string> {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const r = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    crt,
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    `subjectAltName=DNS:${cn}`,
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  const pem = join(dir, name);
  writeFileSync(pem, readFileSync(crt, "latin1") + readFileSync(key, "latin1"));
  return pem;
}

let certDir: string;
let certPem: string;
beforeAll(async () => {
  certDir = tmp("qts-tlscert-");
  certPem = await selfSigned(certDir);
});

function makeHome(tls = true): Home {
  const dir = tmp("qts-smtpd-tls-");
  mkdirSync(join(dir, "control"));
  writeFileSync(join(dir, "control", "me"), "test.example\n");
  writeFileSync(join(dir, "control", "rcpthosts"), "test.example\n");
  writeFileSync(join(dir, "control", "timeoutsmtpd"), "3\n");
  if (tls) writeFileSync(join(dir, "control", "servercert.pem"), readFileSync(certPem));
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "fakeqq");
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg.$$"\ncat <&1 > "${out}/env.$$"\nexit 0\n`, { mode: 0o755 });
  // a checkpassword-interface program: name\0password\0timestamp\0 on fd 3 (CRAM-MD5:
  // name\0challenge\0digest\0); on success it runs its arguments, else exits 1
  const checker = join(dir, "checkpw");
  writeFileSync(
    checker,
    `#!/usr/bin/python3
import hmac, os, sys
d = b""
while True:
    b = os.read(3, 512)
    if not b: break
    d += b
with open(${JSON.stringify(join(dir, "checker.log"))}, "ab") as f: f.write(d.replace(b"\\0", b"|") + b"\\n")
p = d.split(b"\\0")
pw = b${JSON.stringify(PASSWORD)}
if len(p) < 3 or p[0] != b"alice": sys.exit(1)
if p[1] == pw or (p[1].startswith(b"<") and hmac.compare_digest(hmac.new(pw, p[1], "md5").hexdigest().encode(), p[2])):
    os.execvp(sys.argv[1], sys.argv[1:])
sys.exit(1)
`,
    { mode: 0o755 },
  );
  return { dir, out, qq, checker, cert: join(dir, "control", "servercert.pem") };
}

function queued(h: Home): { msg: string; env: string }[] {
  const r: { msg: string; env: string }[] = [];
  for (const f of readdirSync(h.out).sort())
    if (f.startsWith("env."))
      r.push({
        env: readFileSync(join(h.out, f), "latin1"),
        msg: readFileSync(join(h.out, `msg.${f.slice(4)}`), "latin1"),
      });
  return r;
}

interface Server {
  port: number;
  pid: number;
  log: () => string;
}
const servers: number[] = [];
afterAll(() => {
  for (const p of servers) kill(p);
});

async function serve(
  h: Home,
  env: Record<string, string> = {},
  args: string[] = [h.checker, "true"],
  prog = TCPSERVER,
): Promise<Server> {
  const port = await freePort();
  const logf = join(h.dir, "tcpserver.log");
  const p = start(prog, ["-v", "-R", "-H", "-l", "0", "127.0.0.1", String(port), SMTPD, ...args], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: { file: logf },
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h.dir, QMAILQUEUE: h.qq, ...env },
    extendEnv: false,
  });
  servers.push(p.pid);
  await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 5000);
  return { port, pid: p.pid, log: () => readFileSync(logf, "latin1") };
}

/** Runs a python3 program (bounded); its stdout. */
async function py(code: string, timeoutMs = 30_000): Promise<string> {
  const r = await run("python3", ["-c", code], { timeout: timeoutMs });
  if (r.code !== 0) throw new Error(`python3 exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Python helpers: a raw line-level SMTP client that can switch to TLS at any point. */
const PYLIB = `
import socket, ssl, sys, base64, time
def ctx():
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    return c
class C:
    def __init__(self, port, tls=False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls: self.s = ctx().wrap_socket(self.s)
        self.buf = b""
    def send(self, b): self.s.sendall(b if isinstance(b, bytes) else b.encode())
    def reply(self):
        out = b""
        while True:
            while b"\\n" not in self.buf:
                d = self.s.recv(65536)
                if not d: return out.decode() + "<EOF>"
                self.buf += d
            line, self.buf = self.buf.split(b"\\n", 1)
            out += line + b"\\n"
            if len(line) < 4 or line[3:4] != b"-": return out.decode()
    def cmd(self, c): self.send(c + "\\r\\n"); return self.reply()
    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r.startswith("220"), r
        assert self.buf == b"", self.buf
        self.s = ctx().wrap_socket(self.s)
        return r
    def rest(self):
        try:
            while True:
                d = self.s.recv(65536)
                if not d: break
                self.buf += d
        except Exception as e: return self.buf.decode() + "<" + type(e).__name__ + ">"
        return self.buf.decode() + "<EOF>"
`;

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");

describe("qmail-smtpd STARTTLS", () => {
  let h: Home;
  let srv: Server;
  beforeAll(async () => {
    h = makeHome();
    srv = await serve(h);
  });

  test("EHLO offers STARTTLS, and AUTH only once TLS is on; the session forgets everything (RFC 3207 4.2)", async () => {
    const out = await py(`${PYLIB}
c = C(${srv.port})
print(c.reply(), end="")
print(c.cmd("EHLO before.example"), end="")
print(c.cmd("MAIL FROM:<early@x>"), end="")
print(c.starttls(), end="")
print(c.cmd("RCPT TO:<u@test.example>"), end="")
print(c.cmd("EHLO after.example"), end="")
print(c.cmd("STARTTLS"), end="")
print(c.cmd("QUIT"), end="")
print(c.rest())
`);
    expect(out).toBe(
      "220 test.example ESMTP\r\n" +
        "250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        "250 ok\r\n" +
        "220 ready for tls\r\n" +
        // the MAIL of the plain-text part is forgotten
        "503 MAIL first (#5.5.1)\r\n" +
        "250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-AUTH LOGIN PLAIN\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        // STARTTLS twice: not offered any more, the TLS patch's 502
        "502 unimplemented (#5.5.1)\r\n" +
        "221 test.example\r\n<EOF>\n",
    );
  });

  test("commands pipelined after STARTTLS in plain text are discarded, never run (CVE-2011-0411)", async () => {
    const before = queued(h).length;
    const out = await py(`${PYLIB}
c = C(${srv.port})
c.reply()
c.send("EHLO x\\r\\nSTARTTLS\\r\\nMAIL FROM:<evil@x>\\r\\nRCPT TO:<u@test.example>\\r\\nDATA\\r\\nSubject: injected\\r\\n\\r\\n.\\r\\n")
r = c.reply(); r = c.reply()
print(r, end="")
c.s = ctx().wrap_socket(c.s)
c.buf = b""
print(c.cmd("RCPT TO:<u@test.example>"), end="")
print(c.cmd("DATA"), end="")
print(c.cmd("QUIT"), end="")
`);
    // exactly one reply to the whole plain-text packet after the EHLO; in TLS, no MAIL is known
    expect(out).toBe("220 ready for tls\r\n503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n221 test.example\r\n");
    expect(queued(h).length).toBe(before);
  });

  test("STARTTLS with an argument: 501; a client that never starts the handshake: the session ends at the timeout", async () => {
    const out = await py(`${PYLIB}
c = C(${srv.port})
c.reply()
print(c.cmd("STARTTLS now"), end="")
print(c.cmd("STARTTLS"), end="")
t = time.time()
print(c.rest())
print(time.time() - t < 20)
`);
    expect(out).toBe("501 Syntax error (no parameters allowed) (#5.5.4)\r\n220 ready for tls\r\n<EOF>\nTrue\n");
  });

  test("garbage instead of a TLS handshake: the connection closes, nothing else is said", async () => {
    const out = await py(`${PYLIB}
c = C(${srv.port})
c.reply()
c.cmd("STARTTLS")
c.send(b"\\x16\\x03\\x01\\x00\\x05hello garbage\\r\\nMAIL FROM:<a@b>\\r\\n" * 10)
print(repr(c.rest()))
`);
    // OpenSSL may answer with a TLS alert record (binary, starts 0x15); never an SMTP reply
    expect(out).not.toMatch(/[0-9]{3} /);
    expect(out).toMatch(/<EOF>|<ConnectionResetError>/);
    await waitFor(() => srv.log().includes("TLS failed"), 5000);
    expect(srv.log()).toContain("TLS failed from 127.0.0.1");
  });

  test("openssl s_client -starttls smtp: TLS 1.3 and 1.2 negotiated, 1.1 refused", async () => {
    for (const [flag, want] of [
      ["-tls1_3", "TLSv1.3"],
      ["-tls1_2", "TLSv1.2"],
    ] as const) {
      const r = await run(
        "openssl",
        [
          "s_client",
          "-starttls",
          "smtp",
          flag,
          "-connect",
          `127.0.0.1:${srv.port}`,
          "-servername",
          "localhost",
          "-ign_eof",
        ],
        { input: "EHLO ssl.example\r\nQUIT\r\n", timeout: 20_000 },
      );
      expect(r.stdout).toContain(`Protocol  : ${want}`);
      expect(r.stdout).toContain("250-AUTH LOGIN PLAIN");
      expect(r.stdout).toContain("221 test.example");
    }
    const old = await run(
      "openssl",
      ["s_client", "-starttls", "smtp", "-tls1_1", "-connect", `127.0.0.1:${srv.port}`],
      {
        input: "QUIT\r\n",
        timeout: 20_000,
      },
    );
    expect(old.stdout).not.toContain("221 test.example");
    expect(old.stdout).toMatch(/Cipher is \(NONE\)|no peer certificate available/);
  });

  test("a client certificate no one asked for changes nothing: no relaying granted", async () => {
    const junk = await selfSigned(tmp("qts-junkcert-"), "mallory.example", "junk.pem");
    const r = await run(
      "openssl",
      ["s_client", "-starttls", "smtp", "-cert", junk, "-connect", `127.0.0.1:${srv.port}`, "-ign_eof", "-quiet"],
      { input: "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@other.example>\r\nQUIT\r\n", timeout: 20_000 },
    );
    expect(r.stdout).toContain(
      "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n221 test.example",
    );
  });

  test("python smtplib: starttls, login, relaying as an authenticated client; Received notes TLS and the name", async () => {
    const before = queued(h).length;
    const out = await py(`
import smtplib, ssl
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", ${srv.port}, local_hostname="py.example", timeout=20)
s.starttls(context=c)
print(s.login("alice", ${JSON.stringify(PASSWORD)}))
print(s.sendmail("alice@test.example", ["far@other.example"], "Subject: tls\\r\\n\\r\\nhi\\r\\n"))
print(s.sock.version(), s.sock.cipher()[0])
s.quit()
`);
    const [login, refused, proto] = out.trim().split("\n");
    expect(login).toBe("(235, b'ok, go ahead (#2.0.0)')");
    expect(refused).toBe("{}");
    const [version, cipher] = (proto as string).split(" ");
    const q = queued(h).slice(before);
    expect(q.length).toBe(1);
    expect(q[0]?.env).toBe("Falice@test.example\0Tfar@other.example\0\0");
    expect(q[0]?.msg).toMatch(
      new RegExp(
        `^Received: from unknown \\(HELO py\\.example\\) \\(alice@127\\.0\\.0\\.1\\)\\n  by 0 with ESMTPSA \\(${version?.replace(".", "\\.")} ${cipher} encrypted\\); `,
      ),
    );
    expect(srv.log()).toContain("auth PLAIN ok: alice from 127.0.0.1");
  });

  test("a 4 MB message over TLS arrives byte for byte", async () => {
    const before = queued(h).length;
    const out = await py(`
import smtplib, ssl, random
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
random.seed(7)
lines = ["".join(random.choice("abc .xyz") for _ in range(random.randint(0, 200))) for _ in range(40000)]
body = "Subject: big\\r\\n\\r\\n" + "\\r\\n".join(lines) + "\\r\\n"
s = smtplib.SMTP("127.0.0.1", ${srv.port}, local_hostname="big.example", timeout=30)
s.starttls(context=c)
print(s.sendmail("a@b", ["u@test.example"], body.encode()))
s.quit()
open(${JSON.stringify(join(h.dir, "big.expected"))}, "w").write(body.replace("\\r\\n", "\\n"))
`);
    expect(out).toBe("{}\n");
    const q = queued(h).slice(before);
    expect(q.length).toBe(1);
    const msg = q[0]?.msg ?? "";
    expect(msg.slice(msg.indexOf("Subject: big"))).toBe(readFileSync(join(h.dir, "big.expected"), "latin1"));
  });

  test("swaks --tls with --auth PLAIN and LOGIN", async () => {
    for (const mech of ["PLAIN", "LOGIN"]) {
      const r = await run(
        "swaks",
        [
          "-s",
          "127.0.0.1",
          "-p",
          String(srv.port),
          "--tls",
          "-a",
          mech,
          "-au",
          "alice",
          "-ap",
          PASSWORD,
          "-t",
          "u@test.example",
          "-f",
          "alice@test.example",
        ],
        { input: "", timeout: 30_000, env: { PATH: process.env.PATH ?? "" } },
      );
      expect(r.stdout + r.stderr).toContain("<~  235 ok, go ahead (#2.0.0)");
      expect(r.stdout + r.stderr).toMatch(/<~ {2}250 ok \d+ qp \d+/);
    }
  });
});

describe("qmail-smtpd AUTH", () => {
  test("not offered, and answered 538, before STARTTLS; 502 with no checkpassword program", async () => {
    const h = makeHome();
    const srv = await serve(h);
    const bare = await serve(makeHome(), {}, []);
    const out = await py(`${PYLIB}
c = C(${srv.port}); c.reply()
print(c.cmd("AUTH PLAIN " + base64.b64encode(b"\\0alice\\0${PASSWORD}").decode()), end="")
c = C(${bare.port}); c.reply()
c.starttls()
print(c.cmd("EHLO x"), end="")
print(c.cmd("AUTH PLAIN"), end="")
`);
    expect(out).toBe(
      "538 encryption required for requested authentication mechanism (#5.7.11)\r\n" +
        "250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        "502 unimplemented (#5.5.1)\r\n",
    );
    expect(existsSync(join(h.dir, "checker.log"))).toBe(false);
  });

  test("SMTPAUTH=!: MAIL before AUTH is refused; REQUIRETLS: MAIL before STARTTLS is refused", async () => {
    const h = makeHome();
    const srv = await serve(h, { SMTPAUTH: "!", FORCETLS: "0", REQUIRETLS: "" });
    const out = await py(`${PYLIB}
c = C(${srv.port}); c.reply()
print(c.cmd("EHLO x"), end="")
print(c.cmd("MAIL FROM:<a@b>"), end="")
c.starttls()
print(c.cmd("MAIL FROM:<a@b>"), end="")
print(c.cmd("AUTH LOGIN " + base64.b64encode(b"alice").decode()), end="")
print(c.cmd(base64.b64encode(b"${PASSWORD}").decode()), end="")
print(c.cmd("AUTH PLAIN"), end="")
print(c.cmd("MAIL FROM:<a@b>"), end="")
print(c.cmd("AUTH PLAIN"), end="")
`);
    expect(out).toBe(
      "250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        "530 Must issue a STARTTLS command first (#5.7.0)\r\n" +
        "530 authentication required (#5.7.1)\r\n" +
        "334 UGFzc3dvcmQ6\r\n" +
        "235 ok, go ahead (#2.0.0)\r\n" +
        "503 you're already authenticated (#5.5.0)\r\n" +
        "250 ok\r\n" +
        "503 you're already authenticated (#5.5.0)\r\n",
    );
  });

  test("CRAM-MD5 with SMTPAUTH=+cram, through a checker that supports it", async () => {
    const h = makeHome();
    const srv = await serve(h, { SMTPAUTH: "+cram" });
    const out = await py(`${PYLIB}
import hmac
c = C(${srv.port}, tls=False); c.reply(); c.starttls()
print(c.cmd("EHLO x").splitlines()[3])
r = c.cmd("AUTH CRAM-MD5")
ch = base64.b64decode(r[4:].strip())
print(ch.startswith(b"<") and ch.endswith(b"@test.example>"))
print(c.cmd(base64.b64encode(b"alice " + hmac.new(b"${PASSWORD}", ch, "md5").hexdigest().encode()).decode()), end="")
`);
    expect(out).toBe("250-AUTH LOGIN PLAIN CRAM-MD5\nTrue\n235 ok, go ahead (#2.0.0)\r\n");
    // swaks computes the digest itself
    const r = await run(
      "swaks",
      [
        "-s",
        "127.0.0.1",
        "-p",
        String(srv.port),
        "--tls",
        "-a",
        "CRAM-MD5",
        "-au",
        "alice",
        "-ap",
        PASSWORD,
        "-t",
        "u@test.example",
        "-f",
        "alice@test.example",
      ],
      { input: "", timeout: 30_000 },
    );
    expect(r.stdout + r.stderr).toContain("<~  235 ok, go ahead (#2.0.0)");
  });

  test("bad input: not base64, cancelled, unknown mechanism, a 10 MB AUTH line, an authzid not ours", async () => {
    const h = makeHome();
    const srv = await serve(h, { FORCETLS: "0" });
    const out = await py(`${PYLIB}
c = C(${srv.port}); c.reply()
print(c.cmd("AUTH PLAIN not*base64!"), end="")
print(c.cmd("AUTH XOAUTH2 abc"), end="")
print(c.cmd("AUTH LOGIN"), end="")
print(c.cmd("*"), end="")
c.send("AUTH PLAIN " + "A" * (10 << 20) + "\\r\\n")
print(c.reply(), end="")
print(c.cmd("NOOP"), end="")
c = C(${srv.port}); c.reply()
print(c.cmd("AUTH PLAIN " + base64.b64encode(b"bob\\0alice\\0${PASSWORD}").decode()), end="")
print(c.cmd("QUIT"), end="")
`);
    expect(out).toBe(
      "501 malformed auth input (#5.5.4)\r\n" +
        "504 auth type unimplemented (#5.5.1)\r\n" +
        "334 VXNlcm5hbWU6\r\n" +
        "501 auth exchange cancelled (#5.0.0)\r\n" +
        "501 malformed auth input (#5.5.4)\r\n" +
        "250 ok\r\n" +
        "535 authentication failed (#5.7.8)\r\n" +
        "221 test.example\r\n",
    );
    // the malformed ones never reached the checker
    expect(existsSync(join(h.dir, "checker.log"))).toBe(false);
  });

  test("wrong passwords: 535, the third ends the connection; no password in the log", async () => {
    const h = makeHome();
    const srv = await serve(h, { FORCETLS: "0" });
    const out = await py(`${PYLIB}
c = C(${srv.port}); c.reply()
for pw in [b"wrong1", b"wrong2", b"wrong3"]:
    print(c.cmd("AUTH PLAIN " + base64.b64encode(b"\\0alice\\0" + pw).decode()), end="")
print(c.rest())
`);
    expect(out).toBe(`${"535 authentication failed (#5.7.8)\r\n".repeat(3)}<EOF>\n`);
    const log = srv.log();
    expect(log).toMatch(/^qmail-smtpd: info: pid \d+ auth PLAIN failed: alice from 127\.0\.0\.1$/m);
    expect(log).not.toContain("wrong");
    expect(log).not.toContain(b64("\0alice\0wrong1"));
    // the checker saw name, password and a timestamp
    expect(readFileSync(join(h.dir, "checker.log"), "latin1")).toMatch(/^alice\|wrong1\|\d+\|\n/);
  });

  test("no core file once a password may be in memory: RLIMIT_CORE 0 after the first AUTH", async () => {
    const h = makeHome();
    const srv = await serve(h, { FORCETLS: "0" });
    const out = await py(`${PYLIB}
import re
c = C(${srv.port}); c.reply()
pid = re.findall(r"tcpserver: pid (\\d+) from", open(${JSON.stringify(join(h.dir, "tcpserver.log"))}).read())[-1]
import resource
# as a run script with softlimit -c would leave it
resource.prlimit(int(pid), resource.RLIMIT_CORE, (1 << 20, 1 << 20))
core = lambda: [l.split()[4] for l in open("/proc/%s/limits" % pid) if l.startswith("Max core file size")][0]
before = core()
c.cmd("AUTH PLAIN " + base64.b64encode(b"\\0alice\\0${PASSWORD}").decode())
print(before != "0", core())
`);
    expect(out).toBe("True 0\n");
  });

  test("a checker that cannot run: 454, temporary", async () => {
    const h = makeHome();
    const srv = await serve(h, { FORCETLS: "0" }, [join(h.dir, "missing-checkpassword"), "true"]);
    const out = await py(`${PYLIB}
c = C(${srv.port}); c.reply()
print(c.cmd("AUTH PLAIN " + base64.b64encode(b"\\0alice\\0x").decode()), end="")
print(c.cmd("MAIL FROM:<a@b>"), end="")
print(c.cmd("RCPT TO:<x@other.example>"), end="")
`);
    expect(out).toBe(
      "454 temporary authentication failure (#4.3.0)\r\n250 ok\r\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    );
  });
});

describe("qmail-smtpd SMTPS=1 (implicit TLS, RFC 8314)", () => {
  test("TLS before the greeting: python SMTP_SSL and swaks --tlsc", async () => {
    const h = makeHome();
    const srv = await serve(h, { SMTPS: "1", SMTPAUTH: "!" });
    const out = await py(`
import smtplib, ssl
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", ${srv.port}, local_hostname="ssl.example", timeout=20, context=c)
s.ehlo()
print(sorted(s.esmtp_features))
print(s.login("alice", ${JSON.stringify(PASSWORD)})[0])
print(s.sendmail("alice@test.example", ["far@other.example"], "Subject: smtps\\r\\n\\r\\nhi\\r\\n"))
s.quit()
`);
    expect(out).toBe("['8bitmime', 'auth', 'pipelining', 'size', 'smtputf8']\n235\n{}\n");
    const r = await run(
      "swaks",
      [
        "-s",
        "127.0.0.1",
        "-p",
        String(srv.port),
        "--tlsc",
        "-a",
        "LOGIN",
        "-au",
        "alice",
        "-ap",
        PASSWORD,
        "-t",
        "u@test.example",
        "-f",
        "alice@test.example",
      ],
      { input: "", timeout: 30_000 },
    );
    expect(r.stdout + r.stderr).toContain("<~  235 ok, go ahead (#2.0.0)");
    const q = queued(h);
    expect(q.length).toBe(2);
    expect(q[0]?.msg ?? "").toMatch(/with ESMTPSA \(TLSv1\.3 TLS_[A-Z0-9_]+ encrypted\); /);
  });

  test("a plain-text client on the SMTPS port gets no greeting and is dropped", async () => {
    const h = makeHome();
    const srv = await serve(h, { SMTPS: "1" });
    const out = await py(`${PYLIB}
c = C(${srv.port})
c.send("EHLO x\\r\\nMAIL FROM:<a@b>\\r\\n")
print(repr(c.rest()))
`);
    expect(out).not.toMatch(/220|250/);
  });
});

/** Clients that leave a TLS session without QUIT (SMTPS or after STARTTLS): each ends it at once. */
async function leaveWithoutQuit(prog: string, env: Record<string, string>): Promise<void> {
  const tls = env.SMTPS ? "True" : "False";
  const h = makeHome();
  // a session that missed the end would wait for this long
  writeFileSync(join(h.dir, "control", "timeoutsmtpd"), "600\n");
  const srv = await serve(h, env, [h.checker, "true"], prog);
  const out = await py(`${PYLIB}
c = C(${srv.port}, tls=${tls}); c.reply()
if not ${tls}: c.starttls()
print(c.cmd("MAIL FROM:<a@b>"), end="")
c.s.close()
`);
  expect(out).toBe("250 ok\r\n");
  // and a client that goes away right after the handshake, before a byte of SMTP (as qmail-remote
  // does when the certificate does not verify), or in the middle of it
  await py(`${PYLIB}
c = C(${srv.port}, tls=${tls})
if not ${tls}: c.reply(); c.starttls()
c.s.close()
c = C(${srv.port})
if not ${tls}: c.reply(); c.cmd("STARTTLS")
c.send(b"\\x16\\x03\\x01\\x00\\xf0\\x01\\x00\\x00\\xec\\x03\\x03")
c.s.close()
`);
  const ended = await waitFor(() => (srv.log().match(/tcpserver: end \d+ status 256/g) ?? []).length >= 3, 15_000);
  expect(ended).toBe(true);
  kill(srv.pid);
}

describe("the end of a TLS connection", () => {
  test("a TLS client that leaves without QUIT ends the session at once, under our tcpserver too", async () => {
    for (const prog of [TCPSERVER, ours("tcpserver")])
      for (const env of [{ SMTPS: "1" }, {}] as Record<string, string>[]) await leaveWithoutQuit(prog, env);
  });
});

describe("the plain path", () => {
  test("without servercert.pem or a checkpassword program: the classic EHLO, STARTTLS and AUTH unimplemented", async () => {
    const h = makeHome(false);
    const r = await run(SMTPD, [], {
      input: Buffer.from("EHLO x\r\nSTARTTLS\r\nAUTH PLAIN\r\nQUIT\r\n"),
      env: { QMAILHOME: h.dir, QMAILQUEUE: h.qq },
      extendEnv: false,
    });
    const out = r.stdout;
    expect(out).toBe(
      "220 test.example ESMTP\r\n250-test.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n" +
        "502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n221 test.example\r\n",
    );
  });
});

describe("service/submission and service/smtps (scripts/services.ts --submission)", () => {
  test("rendered with down files; the run scripts serve AUTH-only submission and implicit TLS", async () => {
    const t = tmp("qts-subm-");
    const H = join(t, "qmail");
    const S = join(t, "service");
    const bun = join(import.meta.dir, "../../node_modules/.bin/bun");
    const root = join(import.meta.dir, "../..");
    const st = await run(bun, [join(root, "scripts/setup.ts"), "--home", H, "--ids-user", "root", "--hardlink"]);
    expect(st.code).toBe(0);
    writeFileSync(join(H, "control", "me"), "test.example\n");
    writeFileSync(join(H, "control", "rcpthosts"), "test.example\n");
    writeFileSync(join(H, "control", "servercert.pem"), readFileSync(certPem));
    const h = makeHome();
    const [sub, smtps] = [await freePort(), await freePort()];
    const sv = await run(bun, [
      join(root, "scripts/services.ts"),
      ...["--home", H, "--service", S, "--down", "--submission", "--no-switch", "--ip", "127.0.0.1"],
      ...["--port", String(await freePort()), "--submission-port", String(sub), "--smtps-port", String(smtps)],
      ...["--checkpassword", h.checker],
    ]);
    expect(sv.stdout).toBe(
      `services: ${S}: qmail smtpd smtpd/log pop3d pop3d/log qmqpd qmqpd/log qmtpd qmtpd/log submission submission/log smtps smtps/log authd authd/log (down)\n`,
    );
    for (const d of ["submission", "submission/log", "smtps", "smtps/log"])
      expect(existsSync(join(S, d, "down"))).toBe(true);
    const runScript = readFileSync(join(S, "submission", "run"), "latin1");
    expect(runScript).toContain("SMTPAUTH='!'");
    expect(runScript).toContain(`qmail-smtpd ${h.checker} true 2>&1`);
    expect(readFileSync(join(S, "smtps", "run"), "latin1")).toContain("SMTPS=1 SMTPAUTH='!'");
    expect(readFileSync(join(H, "control", "tcp.submission"), "latin1")).toBe(":allow\n");
    // run both as supervise would (QMAILQUEUE: the test's queue stand-in)
    const env = { PATH: process.env.PATH ?? "", QMAILQUEUE: h.qq };
    for (const svc of ["submission", "smtps"]) {
      const p = start(
        "sh",
        ["-c", `sed 's|^exec env - |exec env - QMAILQUEUE="$QMAILQUEUE" |' ./run > ./run.test && exec sh ./run.test`],
        {
          cwd: join(S, svc),
          env,
          extendEnv: false,
          stdout: "ignore",
          stderr: "ignore",
        },
      );
      servers.push(p.pid);
    }
    const up = (port: number) =>
      waitFor(
        async () =>
          (await run("python3", ["-c", `import socket;socket.create_connection(("127.0.0.1",${port}),1)`])).code === 0,
        15_000,
      );
    expect(await up(sub)).toBe(true);
    expect(await up(smtps)).toBe(true);
    const out = await py(`${PYLIB}
c = C(${sub}); c.reply()
print(c.cmd("MAIL FROM:<a@b>"), end="")
c.starttls()
print(c.cmd("MAIL FROM:<a@b>"), end="")
print(c.cmd("AUTH PLAIN " + base64.b64encode(b"\\0alice\\0${PASSWORD}").decode()), end="")
print(c.cmd("MAIL FROM:<a@b>"), end="")
print(c.cmd("RCPT TO:<far@other.example>"), end="")
c = C(${smtps}, tls=True)
print(c.reply(), end="")
print(c.cmd("MAIL FROM:<a@b>"), end="")
`);
    expect(out).toBe(
      "530 authentication required (#5.7.1)\r\n" +
        "530 authentication required (#5.7.1)\r\n" +
        "235 ok, go ahead (#2.0.0)\r\n250 ok\r\n250 ok\r\n" +
        "220 test.example ESMTP\r\n530 authentication required (#5.7.1)\r\n",
    );
  });
});
