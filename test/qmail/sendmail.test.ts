// SPDX-License-Identifier: MIT
// sendmail: netqmail's sendmail.c interface, and a real MUA (Debian's bsd-mailx) sending through it.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, ours, run, tmp, waitFor } from "../lib/harness.ts";

const sendmail = ours("sendmail");
const BASE = { PATH: "/usr/bin:/bin", TZ: "UTC" };

/** A qmail home whose bin/ programs are scripts recording how sendmail ran them. */
function fakeHome() {
  const h = tmp("qts-sendmail-");
  const out = join(h, "out");
  mkdirSync(join(h, "bin"), { recursive: true });
  mkdirSync(out);
  for (const p of ["qmail-inject", "qmail-smtpd", "qmail-qread"])
    writeFileSync(
      join(h, "bin", p),
      `#!/bin/sh\nprintf '%s\\n' "$0" "$@" > "${out}/args"\nenv > "${out}/env"\npwd > "${out}/cwd"\ncat > "${out}/in"\necho ran ${p}\n`,
      { mode: 0o755 },
    );
  const args = () => readFileSync(join(out, "args"), "latin1").split("\n").slice(0, -1);
  const env = () => {
    const e: Record<string, string> = {};
    for (const l of readFileSync(join(out, "env"), "latin1").split("\n")) {
      const i = l.indexOf("=");
      if (i > 0) e[l.slice(0, i)] = l.slice(i + 1);
    }
    return e;
  };
  return { h, out, args, env };
}

async function sm(h: string, args: string[], env: Record<string, string> = {}, input = "") {
  return await run(sendmail, args, { input, env: { ...BASE, QMAILHOME: h, ...env }, extendEnv: false });
}

describe("sendmail options", () => {
  test("runs bin/qmail-inject -a -- args from the qmail home", async () => {
    const f = fakeHome();
    const r = await sm(f.h, ["a@b.c", "d"], {}, "msg\n");
    expect(r).toMatchObject({ code: 0, stdout: "ran qmail-inject\n", stderr: "" });
    expect(f.args()).toEqual(["bin/qmail-inject", "-a", "--", "a@b.c", "d"]);
    expect(readFileSync(join(f.out, "cwd"), "latin1")).toBe(`${f.h}\n`);
    expect(readFileSync(join(f.out, "in"), "latin1")).toBe("msg\n");
  });

  test("-t gives -H; ignored options are ignored, -E/-J swallow the rest of their word", async () => {
    const f = fakeHome();
    const r = await sm(f.h, [
      "-i",
      "-oi",
      "-oem",
      "-v",
      "-m",
      "-e",
      "x",
      "-x",
      "-B",
      "8BITMIME",
      "-psmtp:host",
      "-Efoo",
      "-Jt",
      "-bm",
      "-t",
      "--",
      "-r@x",
    ]);
    expect(r.code).toBe(0);
    expect(f.args()).toEqual(["bin/qmail-inject", "-H", "--", "-r@x"]);
  });

  test("-F sets MAILNAME; -f passes -f and sets QMAILUSER/QMAILHOST, unsetting the name and host variables", async () => {
    const f = fakeHome();
    await sm(f.h, ["-F", "Full Name", "x"], { NAME: "n" });
    expect(f.env()).toMatchObject({ MAILNAME: "Full Name", NAME: "n" });
    const env = { QMAILNAME: "q", MAILNAME: "m", NAME: "n", QMAILHOST: "qh", MAILHOST: "mh", QMAILUSER: "qu" };
    await sm(f.h, ["-Fname", "-fjoe@ex.org", "x"], env);
    expect(f.args()).toEqual(["bin/qmail-inject", "-a", "-f", "joe@ex.org", "--", "x"]);
    const e = f.env();
    expect(e).toMatchObject({ QMAILUSER: "joe", QMAILHOST: "ex.org" });
    for (const k of ["QMAILNAME", "MAILNAME", "NAME", "MAILHOST"]) expect(e[k]).toBeUndefined();
    await sm(f.h, ["-f", "a@b@c", "x"], env);
    expect(f.env()).toMatchObject({ QMAILUSER: "a@b", QMAILHOST: "c" });
    await sm(f.h, ["-f", "plain", "x"], env);
    expect(f.env().QMAILUSER).toBe("plain");
    expect(f.env().QMAILHOST).toBeUndefined();
  });

  test("-bs runs bin/qmail-smtpd with the faked TCP environment unless PROTO is set", async () => {
    const f = fakeHome();
    const r = await sm(f.h, ["-bs"], {}, "HELO x\r\n");
    expect(r).toMatchObject({ code: 0, stdout: "ran qmail-smtpd\n" });
    expect(f.args()).toEqual(["bin/qmail-smtpd"]);
    expect(readFileSync(join(f.out, "in"), "latin1")).toBe("HELO x\r\n");
    expect(f.env()).toMatchObject({
      RELAYCLIENT: "",
      DATABYTES: "0",
      PROTO: "TCP",
      TCPLOCALIP: "127.0.0.1",
      TCPLOCALHOST: "localhost",
      TCPREMOTEIP: "127.0.0.1",
      TCPREMOTEHOST: "localhost",
      TCPREMOTEINFO: "sendmail-bs",
    });
    await sm(f.h, ["-bs"], { PROTO: "TCP", TCPREMOTEIP: "10.1.2.3" });
    expect(f.env().TCPREMOTEIP).toBe("10.1.2.3");
    expect(f.env().RELAYCLIENT).toBeUndefined();
  });

  test("-bp runs bin/qmail-qread at once", async () => {
    const f = fakeHome();
    const r = await sm(f.h, ["-bp", "-Q"]);
    expect(r).toMatchObject({ code: 0, stdout: "ran qmail-qread\n" });
    expect(f.args()).toEqual(["bin/qmail-qread"]);
  });

  test("usage errors: 100", async () => {
    const f = fakeHome();
    const usage = "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n";
    expect(await sm(f.h, ["-bz"])).toMatchObject({ code: 100, stdout: "", stderr: usage });
    expect(await sm(f.h, ["-q"])).toMatchObject({ code: 100, stderr: `sendmail: illegal option -- q\n${usage}` });
    expect(await sm(f.h, ["-f"])).toMatchObject({
      code: 100,
      stderr: `sendmail: option requires an argument -- f\n${usage}`,
    });
    expect(existsSync(join(f.out, "args"))).toBe(false);
  });

  test("no qmail home, or no qmail-inject: 111", async () => {
    expect(await sm("/nonexistent/qmail", ["x"])).toMatchObject({
      code: 111,
      stderr: "sendmail: fatal: unable to switch to qmail home directory /nonexistent/qmail: file does not exist\n",
    });
    const h = tmp();
    expect(await sm(h, ["x"])).toMatchObject({
      code: 111,
      stderr: `sendmail: fatal: unable to run qmail-inject (${h}/bin/qmail-inject): file does not exist\n`,
    });
    expect(await sm(h, ["-bs"])).toMatchObject({
      code: 111,
      stderr: `sendmail: fatal: unable to run qmail-smtpd (${h}/bin/qmail-smtpd): file does not exist\n`,
    });
    expect(await sm(h, ["-bp"])).toMatchObject({
      code: 111,
      stderr: `sendmail: fatal: unable to run qmail-qread (${h}/bin/qmail-qread): file does not exist\n`,
    });
  });
});

/** A home with our real qmail-inject and a QMAILQUEUE script capturing message and envelope. */
function realHome() {
  const h = tmp("qts-sendmail-real-");
  mkdirSync(join(h, "control"), { recursive: true });
  mkdirSync(join(h, "bin"));
  writeFileSync(join(h, "control", "me"), "mx.example.net\n");
  for (const p of ["qmail-inject", "sendmail"]) symlinkSync(join(BIN, "qts"), join(h, "bin", p));
  const qq = join(h, "qq");
  mkdirSync(qq);
  writeFileSync(
    join(h, "capture"),
    `#!/bin/sh\ncat > "${qq}/mess.tmp"\ncat <&1 > "${qq}/env"\nmv "${qq}/mess.tmp" "${qq}/mess"\n`,
    {
      mode: 0o755,
    },
  );
  return { h, qq, capture: join(h, "capture") };
}

function envelope(qq: string): string[] {
  const b = readFileSync(join(qq, "env"), "latin1");
  return b.slice(0, -1).split("\0").slice(0, -1);
}

describe("sendmail under other names", () => {
  test("mailq runs bin/qmail-qread; newaliases refuses with 100", async () => {
    const f = fakeHome();
    const env = { env: { ...BASE, QMAILHOME: f.h }, extendEnv: false, input: "" };
    expect(await run(ours("mailq"), [], env)).toMatchObject({ code: 0, stdout: "ran qmail-qread\n" });
    expect(f.args()).toEqual(["bin/qmail-qread"]);
    expect(await run(ours("newaliases"), [], env)).toMatchObject({
      code: 100,
      stderr: "sendmail: fatal: please use fastforward/newaliases instead\n",
    });
  });

  test("a bad option names the program as called (sgetopt's optprogname), the usage line stays sendmail's", async () => {
    const f = fakeHome();
    const env = { env: { ...BASE, QMAILHOME: f.h }, extendEnv: false, input: "" };
    const usage = "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n";
    expect(await run(ours("mailq"), ["-q"], env)).toMatchObject({
      code: 100,
      stderr: `mailq: illegal option -- q\n${usage}`,
    });
    expect(await run(ours("newaliases"), ["-f"], env)).toMatchObject({
      code: 100,
      stderr: `newaliases: option requires an argument -- f\n${usage}`,
    });
  });
});

describe("sendmail through qmail-inject to QMAILQUEUE", () => {
  test("-t -f: header recipients plus arguments, sender from -f, From from -f", async () => {
    const { h, qq, capture } = realHome();
    const r = await sm(
      h,
      ["-t", "-oi", "-f", "bounce@lists.example", "extra"],
      { QMAILQUEUE: capture, USER: "u" },
      "To: a@b.c\nSubject: s\n\nbody\n",
    );
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(envelope(qq)).toEqual(["Fbounce@lists.example", "Textra@mx.example.net", "Ta@b.c"]);
    const mess = readFileSync(join(qq, "mess"), "latin1");
    expect(mess).toMatch(
      /^Date: .*\nMessage-ID: <\d{14}\.\d+\.qmail@mx\.example\.net>\nFrom: bounce@lists\.example\nTo: a@b\.c\nSubject: s\n\nbody\n$/,
    );
  });
});

test("sendmail -bs speaks SMTP through our qmail-smtpd on stdin/stdout and queues", async () => {
  const { h, qq, capture } = realHome();
  symlinkSync(join(BIN, "qts"), join(h, "bin", "qmail-smtpd"));
  const r = await sm(
    h,
    ["-bs"],
    { QMAILQUEUE: capture },
    "HELO client\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n",
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(
    /^220 mx\.example\.net ESMTP\r\n250 mx\.example\.net\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok \d+ qp \d+\r\n221 mx\.example\.net\r\n$/,
  );
  expect(envelope(qq)).toEqual(["Fa@b.c", "Tx@y.z"]);
  // the faked TCP environment of -bs shows in the Received line
  expect(readFileSync(join(qq, "mess"), "latin1")).toMatch(
    /^Received: from localhost \(HELO client\) \(sendmail-bs@127\.0\.0\.1\)\n {2}by localhost with SMTP; .*\nSubject: t\n\nhi\n$/,
  );
});

// bsd-mailx from Debian, unpacked (not installed: it would pull in an MTA), pointed at our sendmail.
const mailxDir = tmp("qts-mailx-");
let mailx: string | undefined;
let mailxLib = "";
beforeAll(async () => {
  for (const pkg of ["bsd-mailx", "liblockfile1"]) {
    const r = await run("apt-get", ["download", pkg], { cwd: mailxDir, timeout: 60_000 });
    if (r.code !== 0) return;
  }
  const r = await run("sh", ["-c", 'for f in *.deb; do dpkg -x "$f" root || exit 1; done'], { cwd: mailxDir });
  if (r.code !== 0) return;
  const bin = join(mailxDir, "root/usr/bin/bsd-mailx");
  if (existsSync(bin)) {
    mailx = bin;
    mailxLib = join(mailxDir, "root/usr/lib/x86_64-linux-gnu");
  }
}, 120_000);

describe("a real MUA: bsd-mailx -> our sendmail -> qmail-inject -> QMAILQUEUE", () => {
  test("envelope and headers as qmail would queue them", async () => {
    if (!mailx) {
      console.warn("bsd-mailx could not be fetched (apt-get download); MUA test not run");
      return;
    }
    const { h, qq, capture } = realHome();
    const rc = join(mailxDir, "mailrc");
    writeFileSync(rc, `set sendmail=${join(h, "bin", "sendmail")}\n`);
    const r = await run(
      mailx,
      ["-s", "Greetings from mailx", "-r", "Ann Sender <ann@src.example>", "bob@dst.example", "carol"],
      {
        input: "Hello Bob,\n.\nbye\n",
        env: {
          ...BASE,
          HOME: mailxDir,
          MAILRC: rc,
          LD_LIBRARY_PATH: mailxLib,
          QMAILHOME: h,
          QMAILQUEUE: capture,
          USER: "tester",
        },
        extendEnv: false,
      },
    );
    expect(r.code).toBe(0);
    // mailx hands the message to sendmail in the background
    expect(await waitFor(() => existsSync(join(qq, "mess")), 10_000)).toBe(true);
    // mailx runs `sendmail -i -t -f ann@src.example`: header recipients, -f sender
    const env = envelope(qq);
    expect(env[0]).toBe("Fann@src.example");
    expect(env.slice(1).sort()).toEqual(["Tbob@dst.example", "Tcarol@mx.example.net"]);
    const mess = readFileSync(join(qq, "mess"), "latin1");
    const head = mess.slice(0, mess.indexOf("\n\n") + 1);
    expect(head).toMatch(/^Date: \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000\n/);
    expect(head).toMatch(/\nMessage-ID: <\d{14}\.\d+\.qmail@mx\.example\.net>\n/);
    expect(head).toContain("\nFrom: Ann Sender <ann@src.example>\n");
    // the To line as mailx wrote it (its order varies), rewritten; the envelope lists a field's addresses last first
    const to = /\nTo: (.*)\n/.exec(head)?.[1] ?? "";
    expect(["carol@mx.example.net, bob@dst.example", "bob@dst.example, carol@mx.example.net"]).toContain(to);
    expect(env.slice(1)).toEqual(
      to
        .split(", ")
        .reverse()
        .map((a) => `T${a}`),
    );
    expect(head).toContain("\nSubject: Greetings from mailx\n");
    expect(mess.slice(mess.indexOf("\n\n") + 2)).toBe("Hello Bob,\n.\nbye\n");
  }, 30_000);
});
