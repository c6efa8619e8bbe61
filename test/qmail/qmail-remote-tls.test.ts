// SPDX-License-Identifier: MIT
// qmail-remote's STARTTLS and AUTH (qmail-remote(8)): opportunistic TLS into
// our qmail-smtpd, verification through control/tlshosts/HOST.pem and
// control/tlsdestinations, deferrals where verification fails, the plain-text
// retry after a failed handshake, AUTH to a smarthost with control/remoteauth;
// and Postfix both ways: as a TLS+SASL server receiving from qmail-remote and
// as a TLS client delivering to qmail-smtpd.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { freePort, kill, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

setDefaultTimeout(60_000);

const REMOTE = ours("qmail-remote");
const SMTPD = ours("qmail-smtpd");
const TCPSERVER = "/usr/bin/tcpserver";
const POSTFIX = "/usr/sbin/postfix";

async function openssl(args: string[]): Promise<void> {
  const r = await run("openssl", args);
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

interface Pki {
  ca: string;
  /** leaf certificate + key for 127.0.0.1 and localhost, signed by ca */
  server: string;
  /** the same names, self-signed by another key */
  rogue: string;
  cert: string;
  key: string;
}

async function makePki(dir: string): Promise<Pki> {
  const p = (n: string) => join(dir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=qts test CA",
  ]);
  await openssl(["req", ...ec, "-keyout", p("srv.key"), "-out", p("srv.csr"), "-subj", "/CN=localhost"]);
  writeFileSync(p("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    p("srv.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    p("ext"),
    "-out",
    p("srv.crt"),
  ]);
  writeFileSync(p("server.pem"), readFileSync(p("srv.crt"), "latin1") + readFileSync(p("srv.key"), "latin1"));
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("rogue.key"),
    "-out",
    p("rogue.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  writeFileSync(p("rogue.pem"), readFileSync(p("rogue.crt"), "latin1") + readFileSync(p("rogue.key"), "latin1"));
  return { ca: p("ca.pem"), server: p("server.pem"), rogue: p("rogue.pem"), cert: p("srv.crt"), key: p("srv.key") };
}

let pki: Pki;
beforeAll(async () => {
  pki = await makePki(tmp("qts-pki-"));
});

const servers: number[] = [];
afterAll(() => {
  for (const p of servers) kill(p);
});

interface Smtpd {
  port: number;
  dir: string;
  out: string;
  log: () => string;
}

/** Our qmail-smtpd under Debian's tcpserver; cert: control/servercert.pem; args: its command line. */
async function smtpd(cert?: string, env: Record<string, string> = {}, args: string[] = []): Promise<Smtpd> {
  const dir = tmp("qts-rtls-smtpd-");
  mkdirSync(join(dir, "control"));
  writeFileSync(join(dir, "control", "me"), "sink.example\n");
  writeFileSync(join(dir, "control", "rcpthosts"), "test.example\n");
  if (cert) writeFileSync(join(dir, "control", "servercert.pem"), readFileSync(cert));
  const out = join(dir, "out");
  mkdirSync(out);
  const qq = join(dir, "qq");
  writeFileSync(qq, `#!/bin/sh\ncat > "${out}/msg.$$"\ncat <&1 > "${out}/env.$$"\n`, { mode: 0o755 });
  const port = await freePort();
  const logf = join(dir, "log");
  const p = start(TCPSERVER, ["-v", "-R", "-H", "-l", "0", "127.0.0.1", String(port), SMTPD, ...args], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: { file: logf },
    env: { PATH: process.env.PATH ?? "", QMAILHOME: dir, QMAILQUEUE: qq, ...env },
    extendEnv: false,
  });
  servers.push(p.pid);
  await waitFor(() => existsSync(logf) && readFileSync(logf, "latin1").includes("status: 0/"), 5000);
  return { port, dir, out, log: () => readFileSync(logf, "latin1") };
}

function messages(s: Smtpd): string[] {
  return readdirSync(s.out)
    .filter((f) => f.startsWith("msg."))
    .sort()
    .map((f) => readFileSync(join(s.out, f), "latin1"));
}

function home(controls: Record<string, string>): string {
  const dir = tmp("qts-rtls-");
  mkdirSync(join(dir, "control"));
  writeFileSync(join(dir, "control", "me"), "me.test\n");
  for (const [k, v] of Object.entries(controls)) {
    mkdirSync(join(dir, "control", k, ".."), { recursive: true });
    writeFileSync(join(dir, "control", k), v);
  }
  return dir;
}

async function remote(h: string, env: Record<string, string> = {}, rcpt = "u@test.example") {
  const r = await run(REMOTE, ["test.example", "a@me.test", rcpt], {
    input: Buffer.from("Subject: tls\n\nhello\n"),
    env: { PATH: process.env.PATH ?? "", QMAILHOME: h, ...env },
    extendEnv: false,
    encoding: "latin1",
    timeout: 30_000,
  });
  return r.stdout;
}

const TLSLINE = /TLS: TLSv1\.[23] [A-Z0-9_-]+/;

describe("qmail-remote STARTTLS", () => {
  test("opportunistic: encrypts when offered, the report says so; Received notes it at the other end", async () => {
    const s = await smtpd(pki.rogue);
    const out = await remote(home({ smtproutes: `test.example:127.0.0.1:${s.port}\n` }));
    expect(out).toMatch(
      /^r\0K127\.0\.0\.1 accepted message\.\nTLS: TLSv1\.3 TLS_[A-Z0-9_]+\.\nRemote host said: 250 ok /,
    );
    expect(messages(s)[0]).toMatch(
      /^Received: from unknown \(HELO me\.test\) \(127\.0\.0\.1\)\n {2}by 0 with ESMTPS \(TLSv1\.3 /,
    );
  });

  test("a server without STARTTLS: plain text as before, no TLS line", async () => {
    const s = await smtpd();
    const out = await remote(home({ smtproutes: `test.example:127.0.0.1:${s.port}\n` }));
    expect(out).toMatch(/^r\0K127\.0\.0\.1 accepted message\.\nRemote host said: 250 ok /);
    expect(messages(s)[0]).toContain("with SMTP;");
  });

  test("control/notlshosts/HOST: the classic HELO session", async () => {
    const s = await smtpd(pki.rogue);
    const out = await remote(home({ smtproutes: `test.example:127.0.0.1:${s.port}\n`, "notlshosts/127.0.0.1": "" }));
    expect(out).toMatch(/^r\0K127\.0\.0\.1 accepted message\.\nRemote host said: /);
    expect(messages(s)[0]).toMatch(/^Received: from unknown \(HELO me\.test\) \(127\.0\.0\.1\)\n {2}by 0 with SMTP; /);
  });

  test("control/tlshosts/HOST.pem: verified with those CAs; a certificate they did not sign defers, nothing sent", async () => {
    const good = await smtpd(pki.server);
    const ca = readFileSync(pki.ca, "latin1");
    let out = await remote(home({ smtproutes: `test.example:127.0.0.1:${good.port}\n`, "tlshosts/127.0.0.1.pem": ca }));
    expect(out).toMatch(
      /^r\0K127\.0\.0\.1 accepted message\.\nTLS: TLSv1\.3 \S+, certificate of 127\.0\.0\.1 verified\.\n/,
    );
    const rogue = await smtpd(pki.rogue);
    out = await remote(home({ smtproutes: `test.example:127.0.0.1:${rogue.port}\n`, "tlshosts/127.0.0.1.pem": ca }));
    expect(out).toMatch(
      /^ZTLS to 127\.0\.0\.1: the certificate of 127\.0\.0\.1 did not verify: \S+\. \(#4\.7\.5\)\n\0$/,
    );
    expect(messages(rogue)).toEqual([]);
  });

  test("control/tlsdestinations: verified against the system store (SSL_CERT_FILE); required TLS not offered defers", async () => {
    const good = await smtpd(pki.server);
    const h = (port: number) => home({ smtproutes: `test.example:127.0.0.1:${port}\n`, tlsdestinations: ".example\n" });
    let out = await remote(h(good.port), { SSL_CERT_FILE: pki.ca });
    expect(out).toMatch(/^r\0K127\.0\.0\.1 accepted message\.\nTLS: .*verified\.\n/);
    // the real system store does not know our test CA
    out = await remote(h(good.port), { SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt" });
    expect(out).toMatch(/^ZTLS to 127\.0\.0\.1: the certificate of 127\.0\.0\.1 did not verify/);
    const plain = await smtpd();
    out = await remote(h(plain.port), { SSL_CERT_FILE: pki.ca });
    // the last reply is the one quoted: EHLO's, without STARTTLS
    expect(out).toBe(
      "ZConnected to 127.0.0.1 but TLS is required and not offered.\n" +
        "Remote host said: 250-sink.example\n250-PIPELINING\n250-SIZE 0\n250-SMTPUTF8\n250 8BITMIME\n\0",
    );
    expect(messages(plain)).toEqual([]);
  });

  test("a handshake that fails: once more in plain text, and the report says so", async () => {
    // a server that offers STARTTLS, then answers the ClientHello with garbage; plain SMTP on the next connection
    const port = await freePort();
    const py = start(
      "python3",
      [
        "-c",
        `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${port})); s.listen(5)
print("ready", flush=True)
for n in range(2):
    c, _ = s.accept(); f = c.makefile("rb"); c.settimeout(20)
    c.sendall(b"220 fake ESMTP\\r\\n")
    data = False
    while True:
        l = f.readline()
        if not l: break
        if data:
            if l == b".\\r\\n": c.sendall(b"250 ok plain\\r\\n"); data = False
            continue
        v = l[:4].upper()
        print(n, l.decode().strip(), flush=True)
        if v == b"EHLO": c.sendall(b"250-fake\\r\\n250 STARTTLS\\r\\n")
        elif v == b"STAR": c.sendall(b"220 go ahead\\r\\n"); c.recv(4096); c.sendall(b"this is not TLS\\r\\n" * 20); break
        elif v == b"DATA": c.sendall(b"354 go\\r\\n"); data = True
        elif v == b"QUIT": c.sendall(b"221 bye\\r\\n"); break
        else: c.sendall(b"250 ok\\r\\n")
    c.close()
`,
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    servers.push(py.pid);
    await py.until("ready", 20_000);
    const out = await remote(home({ smtproutes: `test.example:127.0.0.1:${port}\n` }));
    expect(out).toBe(
      "r\0K127.0.0.1 accepted message.\nTLS: the handshake failed; sent without TLS.\nRemote host said: 250 ok plain\n\0",
    );
    await py.wait(5000);
    const text = py.stdout();
    // the first connection ended at STARTTLS; the second never tried it
    expect(text).toContain("0 STARTTLS");
    expect(text).not.toContain("1 STARTTLS");
    expect(text).toContain("1 MAIL FROM:<a@me.test>");
    expect(text).not.toContain("0 MAIL");
  });
});

describe("qmail-remote AUTH to a smarthost", () => {
  const checker = (dir: string) => {
    const f = join(dir, "checkpw");
    writeFileSync(
      f,
      `#!/usr/bin/python3
import os, sys
p = os.read(3, 512).split(b"\\0")
if p[0] == b"relayuser" and p[1] == b"pa|ss:word": os.execvp(sys.argv[1], sys.argv[1:])
sys.exit(1)
`,
      { mode: 0o755 },
    );
    return f;
  };

  test("control/remoteauth: AUTH PLAIN after STARTTLS; the smarthost relays for us", async () => {
    const ck = checker(tmp("qts-ck-"));
    const s = await smtpd(pki.rogue, {}, [ck, "true"]);
    const h = home({
      smtproutes: `test.example:127.0.0.1:${s.port}\n`,
      remoteauth: `127.0.0.1:${s.port}|relayuser|pa|ss:word\n`,
    });
    chmodSync(join(h, "control", "remoteauth"), 0o600);
    const out = await remote(h, {}, "far@elsewhere.example");
    expect(out).toMatch(/^r\0K127\.0\.0\.1 accepted message\.\nTLS: /);
    expect(messages(s)[0]).toMatch(/\(relayuser@127\.0\.0\.1\)\n {2}by 0 with ESMTPSA /);
    expect(s.log()).toContain("auth PLAIN ok: relayuser from 127.0.0.1");
  });

  test("the AUTH patch's smtproutes form; a wrong password defers; remoteauth readable by others is refused", async () => {
    const ck = checker(tmp("qts-ck-"));
    const s = await smtpd(pki.rogue, {}, [ck, "true"]);
    let out = await remote(
      home({ smtproutes: `test.example:127.0.0.1:${s.port}|relayuser|pa|ss:word\n` }),
      {},
      "x@far.example",
    );
    expect(out).toMatch(/^r\0K127\.0\.0\.1 accepted message\./);
    out = await remote(home({ smtproutes: `test.example:127.0.0.1:${s.port}|relayuser|wrong\n` }), {}, "x@far.example");
    expect(out).toBe(
      "ZConnected to 127.0.0.1 but authentication was rejected (AUTH PLAIN).\nTLS: " +
        out.split("TLS: ")[1]?.split("\n")[0] +
        "\nRemote host said: 535 authentication failed (#5.7.8)\n\0",
    );
    expect(out).toMatch(TLSLINE);
    const h = home({
      smtproutes: `test.example:127.0.0.1:${s.port}\n`,
      remoteauth: `127.0.0.1|relayuser|pa|ss:word\n`,
    });
    chmodSync(join(h, "control", "remoteauth"), 0o644);
    out = await remote(h);
    expect(out).toBe("ZUnable to read control files: control/remoteauth is readable by others. (#4.3.0)\n\0");
    expect(out).not.toContain("pa|ss");
  });

  test("AUTH LOGIN when the server offers no PLAIN (a python server)", async () => {
    const port = await freePort();
    const py = start(
      "python3",
      [
        "-c",
        `
import socket, ssl, base64
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(${JSON.stringify(pki.server)})
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${port})); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(20)
f = c.makefile("rb"); c.sendall(b"220 fake ESMTP\\r\\n")
tls = False; data = False; step = 0
while True:
    l = f.readline()
    if not l: break
    if data:
        if l == b".\\r\\n": c.sendall(b"250 ok login\\r\\n"); data = False
        continue
    v = l[:4].upper()
    if step == 1: print("user", base64.b64decode(l.strip()).decode(), flush=True); c.sendall(b"334 UGFzc3dvcmQ6\\r\\n"); step = 2; continue
    if step == 2: print("pass", base64.b64decode(l.strip()).decode(), flush=True); c.sendall(b"235 ok\\r\\n"); step = 3; continue
    print("cmd", l.decode().strip(), flush=True)
    if v == b"EHLO": c.sendall(b"250-fake\\r\\n" + (b"250 AUTH LOGIN CRAM-MD5\\r\\n" if tls else b"250 STARTTLS\\r\\n"))
    elif v == b"STAR":
        c.sendall(b"220 go\\r\\n"); c = ctx.wrap_socket(c, server_side=True); f = c.makefile("rb"); tls = True
    elif v == b"AUTH": c.sendall(b"334 VXNlcm5hbWU6\\r\\n"); step = 1
    elif v == b"DATA": c.sendall(b"354 go\\r\\n"); data = True
    elif v == b"QUIT": c.sendall(b"221 bye\\r\\n"); break
    else: c.sendall(b"250 ok\\r\\n")
c.close()
`,
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    servers.push(py.pid);
    await py.until("ready", 20_000);
    const h = home({ smtproutes: `test.example:127.0.0.1:${port}\n`, remoteauth: `127.0.0.1|relayuser|pa|ss:word\n` });
    chmodSync(join(h, "control", "remoteauth"), 0o600);
    const out = await remote(h);
    expect(out).toMatch(
      /^r\0K127\.0\.0\.1 accepted message\.\nTLS: TLSv1\.3 \S+\.\nRemote host said: 250 ok login\n\0$/,
    );
    await py.wait(5000);
    const text = py.stdout();
    expect(text).toContain("cmd AUTH LOGIN\nuser relayuser\npass pa|ss:word\ncmd MAIL FROM:<a@me.test>\n");
  });

  test("no password over plain text", async () => {
    const ck = checker(tmp("qts-ck-"));
    const s = await smtpd(undefined, { FORCETLS: "0" }, [ck, "true"]);
    const out = await remote(home({ smtproutes: `test.example:127.0.0.1:${s.port}|relayuser|pa|ss:word\n` }));
    expect(out).toStartWith(
      "ZConnected to 127.0.0.1 but no TLS to send the AUTH password over.\nRemote host said: 250-sink.example\n",
    );
    expect(existsSync(join(s.dir, "checkpw.log"))).toBe(false);
  });
});

// Postfix with a private configuration directory on ports the test picks, started and stopped with postfix -c.
describe.skipIf(!existsSync(POSTFIX) || !existsSync("/usr/sbin/saslpasswd2"))("Postfix as peer", () => {
  let dir: string;
  let conf: string;
  let pfPort: number;
  let sink: Smtpd;
  beforeAll(async () => {
    sink = await smtpd(pki.rogue);
    dir = tmp("qts-postfix-");
    // Postfix's daemons run as postfix: the temp dir must be searchable
    chmodSync(dir, 0o755);
    conf = join(dir, "conf");
    mkdirSync(join(conf, "sasl"), { recursive: true });
    mkdirSync(join(dir, "q"));
    mkdirSync(join(dir, "data"));
    pfPort = await freePort();
    writeFileSync(
      join(conf, "main.cf"),
      `compatibility_level = 3.6
queue_directory = ${dir}/q
data_directory = ${dir}/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf.example
mydomain = pf.example
mydestination = pf.example
mynetworks = 127.0.0.2/32
relayhost = [127.0.0.1]:${sink.port}
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
smtpd_tls_cert_file = ${pki.cert}
smtpd_tls_key_file = ${pki.key}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = ${conf}/sasl
smtpd_sasl_local_domain = pf.example
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
local_transport = discard:
alias_maps =
alias_database =
`,
    );
    const svc = (name: string, type: string, priv: string, wake: string, max: string, cmd: string) =>
      `${name} ${type} ${priv} - n ${wake} ${max} ${cmd}\n`;
    writeFileSync(
      join(conf, "master.cf"),
      svc(String(pfPort), "inet", "n", "-", "-", "smtpd") +
        svc("cleanup", "unix", "n", "-", "0", "cleanup") +
        svc("qmgr", "unix", "n", "300", "1", "qmgr") +
        svc("tlsmgr", "unix", "-", "1000?", "1", "tlsmgr") +
        svc("rewrite", "unix", "-", "-", "-", "trivial-rewrite") +
        svc("bounce", "unix", "-", "-", "0", "bounce") +
        svc("defer", "unix", "-", "-", "0", "bounce") +
        svc("trace", "unix", "-", "-", "0", "bounce") +
        svc("verify", "unix", "-", "-", "1", "verify") +
        svc("flush", "unix", "n", "1000?", "0", "flush") +
        svc("proxymap", "unix", "-", "-", "-", "proxymap") +
        svc("smtp", "unix", "-", "-", "-", "smtp") +
        svc("relay", "unix", "-", "-", "-", "smtp") +
        svc("error", "unix", "-", "-", "-", "error") +
        svc("retry", "unix", "-", "-", "-", "error") +
        svc("discard", "unix", "-", "-", "-", "discard") +
        svc("anvil", "unix", "-", "-", "1", "anvil") +
        svc("scache", "unix", "-", "-", "1", "scache") +
        svc("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
    );
    // Debian's Postfix reads $config_directory/sasl/smtpd.conf
    writeFileSync(
      join(conf, "sasl", "smtpd.conf"),
      `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: ${dir}/sasldb2\n`,
    );
    const sp = await run("/usr/sbin/saslpasswd2", ["-p", "-c", "-f", `${dir}/sasldb2`, "-u", "pf.example", "pfuser"], {
      input: "pf-Secret9",
    });
    if (sp.code !== 0) throw new Error(sp.stderr);
    const pw = (await run("id", ["-u", "postfix"])).stdout.trim();
    chownSync(`${dir}/sasldb2`, Number(pw), 0);
    chownSync(`${dir}/data`, Number(pw), 0);
    const st = await run(POSTFIX, ["-c", conf, "start"]);
    // postfix logs its reasons to maillog_file (or syslog, absent here)
    if (st.code !== 0)
      throw new Error(
        `postfix start: ${st.stderr}${existsSync(join(dir, "maillog")) ? readFileSync(join(dir, "maillog"), "latin1") : ""}`,
      );
    await waitFor(
      async () =>
        (await run("python3", ["-c", `import socket;socket.create_connection(("127.0.0.1",${pfPort}),1)`])).code === 0,
      10_000,
    );
  });
  afterAll(async () => {
    if (conf) await run(POSTFIX, ["-c", conf, "stop"]);
  });

  test("qmail-remote -> Postfix (STARTTLS, AUTH PLAIN) -> Postfix's client -> qmail-smtpd (STARTTLS)", async () => {
    const h = home({ smtproutes: `test.example:127.0.0.1:${pfPort}\n`, remoteauth: `127.0.0.1|pfuser|pf-Secret9\n` });
    chmodSync(join(h, "control", "remoteauth"), 0o600);
    const out = await remote(h);
    expect(out).toMatch(
      /^r\0K127\.0\.0\.1 accepted message\.\nTLS: TLSv1\.3 \S+\.\nRemote host said: 250 2\.0\.0 Ok: queued as/,
    );
    // the envelope is written after the message: then both are complete
    await waitFor(
      () => readdirSync(sink.out).some((f) => f.startsWith("env.") && statSync(join(sink.out, f)).size > 0),
      20_000,
    );
    const m = messages(sink)[0] ?? "";
    // our qmail-smtpd's line for Postfix's TLS client, then Postfix's for our authenticated TLS client
    expect(m).toMatch(
      /^Received: from unknown \(HELO pf\.example\) \(127\.0\.0\.1\)\n {2}by 0 with ESMTPS \(TLSv1\.[23] \S+ encrypted\); /,
    );
    expect(m).toMatch(/\n\tby pf\.example \(Postfix\) with ESMTPSA id /);
    const log = readFileSync(join(dir, "maillog"), "latin1");
    expect(log).toContain("sasl_method=PLAIN, sasl_username=pfuser@pf.example");
    expect(log).toMatch(/TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.[23]/);
  });

  test("a wrong password at Postfix defers", async () => {
    const h = home({ smtproutes: `test.example:127.0.0.1:${pfPort}\n`, remoteauth: `127.0.0.1|pfuser|nope\n` });
    chmodSync(join(h, "control", "remoteauth"), 0o600);
    const out = await remote(h);
    expect(out).toMatch(
      /^ZConnected to 127\.0\.0\.1 but authentication was rejected \(AUTH PLAIN\)\.\nTLS: .*\nRemote host said: 535 5\.7\.8 /,
    );
  });
});
