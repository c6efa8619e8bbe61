// SPDX-License-Identifier: MIT
// qmail-inject: header rewriting, envelope, options, errors (qmail-inject(8), qmail-header(5), the date-localtime patch).
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, ours, run, runSync, tmp } from "../lib/harness.ts";

const inject = ours("qmail-inject");

function home(controls: Record<string, string> = { me: "me.example.com" }) {
  const h = tmp("qts-inject-");
  mkdirSync(join(h, "control"));
  mkdirSync(join(h, "bin"));
  for (const [k, v] of Object.entries(controls)) writeFileSync(join(h, "control", k), v);
  const qq = join(h, "qq");
  mkdirSync(qq);
  writeFileSync(
    join(h, "fakeqq"),
    `#!/bin/sh\ncat > "${qq}/mess"\ncat <&1 > "${qq}/env"\necho $$ > "${qq}/pid"\nexit \${QQEXIT:-0}\n`,
    { mode: 0o755 },
  );
  for (const p of ["qmail-inject", "sendmail", "qmail-qread", "qmail-smtpd", "predate"])
    symlinkSync(join(BIN, "qts"), join(h, "bin", p));
  return { h, qq, fakeqq: join(h, "fakeqq") };
}

const BASE = { PATH: "/usr/bin:/bin", TZ: "UTC" };

async function inj(h: string, args: string[], input: string, env: Record<string, string> = {}) {
  return await run(inject, args, { input, env: { ...BASE, QMAILHOME: h, ...env }, extendEnv: false });
}

/** The header with the generated Date and Message-ID replaced by placeholders. */
function norm(s: string): string {
  return s
    .replace(/^(Resent-)?Date: \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/gm, "$1Date: DATE")
    .replace(/^(Resent-)?Message-ID: <\d{14}\.\d+\.qmail@([^>]*)>$/gm, "$1Message-ID: <ID@$2>");
}

function envelope(qq: string): string[] {
  const b = readFileSync(join(qq, "env"), "latin1");
  expect(b.endsWith("\0\0")).toBe(true);
  return b.slice(0, -1).split("\0").slice(0, -1);
}

describe("qmail-inject -n", () => {
  test("adds Return-Path, Date, Message-ID, From; rewrites To; keeps the body", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "To: joe, fred@heaven\nSubject: hi there\n\nbody line\nlast line", {
      USER: "bob",
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(norm(r.stdout)).toBe(
      "Return-Path: <bob@me.example.com>\n" +
        "Date: DATE\n" +
        "Message-ID: <ID@me.example.com>\n" +
        "From: bob@me.example.com\n" +
        "To: joe@me.example.com, fred@heaven.me.example.com\n" +
        "Subject: hi there\n\nbody line\nlast line\n",
    );
  });

  test("Date is local time with the numeric offset (date-localtime patch); Message-ID stays UTC", async () => {
    const { h } = home();
    for (const [tz, off] of [
      ["America/New_York", /-0[45]00$/],
      ["Asia/Kolkata", /\+0530$/],
      ["UTC", /\+0000$/],
    ] as const) {
      const r = await inj(h, ["-n"], "To: a\n\n", { TZ: tz });
      const date = /^Date: (.*)$/m.exec(r.stdout)?.[1] ?? "";
      expect(date).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
      expect(date).toMatch(off);
      const id = /^Message-ID: <(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d+)\.qmail@me\.example\.com>$/m.exec(r.stdout);
      expect(id).not.toBeNull();
      const [, y, mo, d, hh, mi, ss] = (id as RegExpExecArray).map(Number);
      const idUtc = Date.UTC(y as number, (mo as number) - 1, d, hh, mi, ss);
      expect(Math.abs(idUtc - Date.parse(date.replace(/^(\d+) (\w+) (\d+)/, "$2 $1 $3")))).toBeLessThan(2000);
    }
  });

  test("address rewriting: defaulthost, defaultdomain, plusdomain, routes, literals, <>", async () => {
    const { h } = home({
      me: "me.example.com",
      defaulthost: "dhost.example",
      defaultdomain: "ddom.example",
      plusdomain: "plus.example",
    });
    const r = await inj(
      h,
      ["-n"],
      "To: joe, joe@heaven, joe@heaven+, <@r1,@r2:x@y.z>, u@[1.2.3.4], <>, w@[], joe@host.\n" +
        "Cc: Fred Q <fred>, (comment) sue@a.b (c2)\n" +
        "Reply-To: friends: a, b@c.d;, e\n\n",
      { USER: "bob" },
    );
    expect(r.code).toBe(0);
    expect(norm(r.stdout)).toBe(
      "Return-Path: <bob@dhost.example>\n" +
        "Date: DATE\n" +
        "Message-ID: <ID@me.example.com>\n" +
        "From: bob@dhost.example\n" +
        "To: joe@dhost.example, joe@heaven.ddom.example, joe@heaven.plus.example,\n" +
        "  <x@y.z>, u@[1.2.3.4], <>, w@[], joe@host.ddom.example\n" +
        // as token822_addrlist does, a comment before an address moves after it
        "Cc: Fred Q <fred@dhost.example>, sue@a.b (comment) (c2)\n" +
        "Reply-To: friends: a@dhost.example, b@c.d;, e@dhost.example\n\n",
    );
  });

  test("an empty group gives no recipients and no generated Cc", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "To: undisclosed-recipients: ;\n\n");
    expect(norm(r.stdout)).toBe(
      "Return-Path: <anonymous@me.example.com>\nDate: DATE\nMessage-ID: <ID@me.example.com>\n" +
        "From: anonymous@me.example.com\nTo: undisclosed-recipients: ;\n\n",
    );
  });

  test("environment overrides the control files; a missing comma is put in", async () => {
    const { h } = home({ me: "me.example.com", defaulthost: "ctl.example" });
    const r = await inj(h, ["-n"], "To: joe fred\n\n", {
      QMAILDEFAULTHOST: "envhost",
      QMAILDEFAULTDOMAIN: "envdom.example",
      QMAILIDHOST: "id.example",
      USER: "u",
    });
    expect(norm(r.stdout)).toBe(
      "Return-Path: <u@envhost.envdom.example>\nDate: DATE\nMessage-ID: <ID@id.example>\n" +
        "From: u@envhost.envdom.example\nTo: joe@envhost.envdom.example, fred@envhost.envdom.example\n\n",
    );
  });

  test("without control/me the literal names are the defaults", async () => {
    const { h } = home({});
    const r = await inj(h, ["-n"], "To: a@b\n\n", { USER: "u" });
    expect(norm(r.stdout)).toBe(
      "Return-Path: <u@defaulthost.defaultdomain>\nDate: DATE\nMessage-ID: <ID@idhost>\n" +
        "From: u@defaulthost.defaultdomain\nTo: a@b.defaultdomain\n\n",
    );
  });

  test("long address lists fold at 80 columns with two-space continuation", async () => {
    const { h } = home();
    const addrs = Array.from({ length: 8 }, (_, i) => `user${i}@host${i}.example.org`).join(", ");
    const r = await inj(h, ["-n"], `To: ${addrs}\n\n`);
    const to = /^To:.*(\n {2}.*)*$/m.exec(r.stdout)?.[0] ?? "";
    expect(to).toBe(
      "To: user0@host0.example.org, user1@host1.example.org, user2@host2.example.org,\n" +
        "  user3@host3.example.org, user4@host4.example.org, user5@host5.example.org,\n" +
        "  user6@host6.example.org, user7@host7.example.org",
    );
  });

  test("Bcc, Resent-Bcc, Return-Path and Content-Length are dropped; Cc added when no To/Cc", async () => {
    const { h } = home();
    const r = await inj(
      h,
      ["-n"],
      "Bcc: hidden\nReturn-Path: <rp@x.y>\nContent-Length: 99\nSubject: s\nX-Other: keep\n\nb\n",
    );
    expect(norm(r.stdout)).toBe(
      "Return-Path: <rp@x.y>\nDate: DATE\nMessage-ID: <ID@me.example.com>\nFrom: anonymous@me.example.com\n" +
        "Cc: recipient list not shown: ;\nSubject: s\nX-Other: keep\n\nb\n",
    );
  });

  test("Resent- fields: Resent-Date, Resent-Message-ID, Resent-From, Resent-Cc are added instead", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "Resent-Sender: x\nTo: orig\nDate: old\n\n", { USER: "bob", NAME: "Bob B" });
    expect(norm(r.stdout)).toBe(
      "Return-Path: <bob@me.example.com>\nResent-Date: DATE\nResent-Message-ID: <ID@me.example.com>\n" +
        'Resent-From: "Bob B" <bob@me.example.com>\nResent-Cc: recipient list not shown: ;\n' +
        "Resent-Sender: x@me.example.com\nTo: orig@me.example.com\nDate: old\n\n",
    );
  });

  test("From: name from QMAILNAME, MAILNAME or NAME; QMAILINJECT=c makes it a comment; odd users are quoted", async () => {
    const { h } = home();
    const from = async (env: Record<string, string>) =>
      /^From: .*$/m.exec((await inj(h, ["-n"], "To: a\n\n", env)).stdout)?.[0];
    expect(await from({ USER: "u", NAME: "N", MAILNAME: "M", QMAILNAME: "Q" })).toBe('From: "Q" <u@me.example.com>');
    expect(await from({ USER: "u", NAME: "N", MAILNAME: "M" })).toBe('From: "M" <u@me.example.com>');
    expect(await from({ USER: "u", NAME: 'Joe "J" (x)' })).toBe('From: "Joe \\"J\\" \\(x\\)" <u@me.example.com>');
    expect(await from({ USER: "u", NAME: "Joe Q", QMAILINJECT: "c" })).toBe("From: u@me.example.com (Joe Q)");
    expect(await from({ QMAILUSER: "a b", MAILUSER: "m", USER: "u", LOGNAME: "l" })).toBe('From: "a b"@me.example.com');
    expect(await from({ MAILUSER: "m", USER: "u", LOGNAME: "l", QMAILHOST: "qh.example" })).toBe("From: m@qh.example");
    expect(await from({ LOGNAME: "l", MAILHOST: "mh" })).toBe("From: l@mh.me.example.com");
    expect(await from({})).toBe("From: anonymous@me.example.com");
  });

  test("QMAILINJECT f and i delete From and Message-ID, which are then generated anew", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "From: old@x.y\nMessage-ID: <old@x>\nTo: a\n\n", { USER: "u", QMAILINJECT: "fi" });
    expect(norm(r.stdout)).toBe(
      "Return-Path: <u@me.example.com>\nDate: DATE\nMessage-ID: <ID@me.example.com>\nFrom: u@me.example.com\n" +
        "To: a@me.example.com\n\n",
    );
  });

  test("a From_ line becomes MBOX-Line; a non-header line starts the body after a blank line", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "From joe Mon Sep 26\nTo: a\nnot a header\nmore\n");
    expect(norm(r.stdout)).toBe(
      "Return-Path: <anonymous@me.example.com>\nDate: DATE\nMessage-ID: <ID@me.example.com>\n" +
        "From: anonymous@me.example.com\nMBOX-Line: From joe Mon Sep 26\nTo: a@me.example.com\n\nnot a header\nmore\n",
    );
  });

  test("end of input inside the header: no blank line; continuation lines are kept", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "Subject: one\n  two\nTo: a,\n\tb");
    expect(norm(r.stdout)).toBe(
      "Return-Path: <anonymous@me.example.com>\nDate: DATE\nMessage-ID: <ID@me.example.com>\n" +
        "From: anonymous@me.example.com\nSubject: one\n  two\nTo: a@me.example.com, b@me.example.com\n",
    );
  });

  test("QMAILMFTFILE adds Mail-Followup-To when a To/Cc address is a listed list", async () => {
    const { h } = home();
    const mft = join(h, "lists");
    writeFileSync(mft, "# lists\nList@Example.Org\n");
    const r = await inj(h, ["-n"], "To: a@x.y\nCc: list@example.org\n\n", { QMAILMFTFILE: mft });
    // finishmft lists the To/Cc addresses last first
    expect(norm(r.stdout)).toContain("Mail-Followup-To: list@example.org,\n  a@x.y\nTo: a@x.y\n");
    const r2 = await inj(h, ["-n"], "To: a@x.y\n\n", { QMAILMFTFILE: mft });
    expect(r2.stdout).not.toContain("Mail-Followup-To");
  });
});

describe("qmail-inject envelope (QMAILQUEUE)", () => {
  test("message and envelope handed to $QMAILQUEUE; args are the recipients by default", async () => {
    const { h, qq, fakeqq } = home();
    const r = await inj(h, ["x@y.z", "local"], "To: hdr@a.b\nBcc: bcc@a.b\n\nbody\n", {
      QMAILQUEUE: fakeqq,
      USER: "me",
    });
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(envelope(qq)).toEqual(["Fme@me.example.com", "Tx@y.z", "Tlocal@me.example.com"]);
    const mess = readFileSync(join(qq, "mess"), "latin1");
    expect(norm(mess)).toBe(
      "Date: DATE\nMessage-ID: <ID@me.example.com>\nFrom: me@me.example.com\nTo: hdr@a.b\n\nbody\n",
    );
    // the Message-ID's pid is qmail-inject's own
    expect(mess).toMatch(/^Message-ID: <\d{14}\.\d+\.qmail@me\.example\.com>$/m);
  });

  test("-h header only, -a args only, -H both, default header when no args; Resent-* replaces To/Cc/Bcc", async () => {
    const { h, qq, fakeqq } = home();
    const msg = "To: t@a.b, t2@a.b\nCc: c@a.b\nBcc: b@a.b\nApparently-To: ap@a.b\n\n";
    const recips = async (args: string[], m = msg) => {
      const r = await inj(h, args, m, { QMAILQUEUE: fakeqq });
      expect(r.code).toBe(0);
      return envelope(qq).slice(1);
    };
    const hdr = ["Tt2@a.b", "Tt@a.b", "Tc@a.b", "Tb@a.b", "Tap@a.b"];
    expect(await recips([])).toEqual(hdr);
    expect(await recips(["-h", "arg@x.y"])).toEqual(hdr);
    expect(await recips(["-a", "arg@x.y"])).toEqual(["Targ@x.y"]);
    expect(await recips(["arg@x.y"])).toEqual(["Targ@x.y"]);
    expect(await recips(["-H", "arg@x.y"])).toEqual(["Targ@x.y", ...hdr]);
    expect(await recips(["-a"])).toEqual([]);
    expect(await recips(["-h"], `${msg}`.replace("\n\n", "\nResent-To: r@a.b\nResent-Bcc: rb@a.b\n\n"))).toEqual([
      "Tr@a.b",
      "Trb@a.b",
    ]);
  });

  test("envelope sender: -f, then Return-Path, then QMAILSUSER@QMAILSHOST; QMAILINJECT s, r, m", async () => {
    const { h, qq, fakeqq } = home();
    const sender = async (args: string[], m: string, env: Record<string, string> = {}) => {
      const r = await inj(h, args, m, { QMAILQUEUE: fakeqq, USER: "u", ...env });
      expect(r.code).toBe(0);
      return envelope(qq)[0];
    };
    const rp = "Return-Path: <rp@x.y>\nTo: a@b.c\n\n";
    expect(await sender(["-f", "ff@x.y"], rp)).toBe("Fff@x.y");
    expect(await sender(["-f", "ff"], rp)).toBe("Fff@me.example.com");
    expect(await sender(["-f", ""], rp)).toBe("F");
    expect(await sender([], rp)).toBe("Frp@x.y");
    expect(await sender([], "Return-Path: <>\n\n")).toBe("F");
    expect(await sender([], rp, { QMAILINJECT: "s" })).toBe("Fu@me.example.com");
    expect(await sender([], "To: a\n\n", { QMAILSUSER: "su", QMAILSHOST: "sh.example" })).toBe("Fsu@sh.example");
    expect(await sender([], "To: a\n\n", { QMAILHOST: "qh.example" })).toBe("Fu@qh.example");
    expect(await sender([], "To: a\n\n", { QMAILINJECT: "r" })).toBe("Fu-@me.example.com-@[]");
    expect(await sender([], "To: a\n\n", { QMAILINJECT: "m" })).toMatch(/^Fu-\d+\.\d+@me\.example\.com$/);
  });

  test("a NUL inside a header address ends that envelope address, as with C strings", async () => {
    const { h, qq, fakeqq } = home();
    const r = await inj(h, [], "To: a\0b@x.y\n\n", { QMAILQUEUE: fakeqq });
    expect(r.code).toBe(0);
    expect(envelope(qq).slice(1)).toEqual(["Ta"]);
  });

  test("qmail-queue failures: D is permanent (100), Z temporary (111), with qmail_close's text", async () => {
    const { h, fakeqq } = home();
    const cases: [string, number, string][] = [
      ["31", 100, "qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n"],
      ["11", 100, "qmail-inject: fatal: envelope address too long for qq (#5.1.3)\n"],
      ["53", 111, "qmail-inject: fatal: qq write error or disk full (#4.3.0)\n"],
      ["81", 111, "qmail-inject: fatal: qq internal bug (#4.3.0)\n"],
      ["99", 111, "qmail-inject: fatal: qq temporary problem (#4.3.0)\n"],
    ];
    for (const [x, code, err] of cases) {
      const r = await inj(h, ["a@b.c"], "\n", { QMAILQUEUE: fakeqq, QQEXIT: x });
      expect(r).toMatchObject({ code, stderr: err });
    }
    const r = await inj(h, ["a@b.c"], "\n", { QMAILQUEUE: join(h, "nonexistent") });
    expect(r).toMatchObject({ code: 111, stderr: "qmail-inject: fatal: unable to exec qq (#4.3.0)\n" });
  });
});

describe("qmail-inject errors", () => {
  test("bad option: 100", async () => {
    const { h } = home();
    const r = await inj(h, ["-x"], "");
    expect(r).toMatchObject({ code: 100, stdout: "", stderr: "qmail-inject: illegal option -- x\n" });
  });

  test("unparsable header field: 100 with the line", async () => {
    const { h } = home();
    // inside an atom ) is just a byte (the atom becomes a quoted string); at a token's start it is an error
    const ok = await inj(h, ["-n"], "To: a)b\n\n");
    expect(ok.stdout).toContain('To: "a\\)b"@me.example.com\n');
    const r = await inj(h, ["-n"], "Subject: ok\nTo: a, )b\n\n");
    expect(r).toMatchObject({
      code: 100,
      stdout: "",
      stderr: "qmail-inject: fatal: unable to parse this line:\nTo: a, )b\n",
    });
    const r2 = await inj(h, ["-n"], 'Cc: "unterminated\n\n');
    expect(r2).toMatchObject({
      code: 100,
      stderr: 'qmail-inject: fatal: unable to parse this line:\nCc: "unterminated\n',
    });
  });

  test("unparsable recipient argument: 100", async () => {
    const { h } = home();
    const r = await inj(h, ["-n", "ok@x", "x@[bad"], "");
    expect(r).toMatchObject({
      code: 100,
      stdout: "",
      stderr: "qmail-inject: fatal: unable to parse address: x@[bad\n",
    });
  });

  test("unparsable control value: 100", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "", { QMAILDEFAULTDOMAIN: "a(b" });
    expect(r).toMatchObject({ code: 100, stderr: "qmail-inject: fatal: unable to parse this line:\n.a(b" });
  });

  test("no qmail home: 111, naming the directory", async () => {
    const r = await inj("/nonexistent/qmail", ["-n"], "");
    expect(r).toMatchObject({
      code: 111,
      stderr: "qmail-inject: fatal: unable to switch to qmail home directory /nonexistent/qmail: file does not exist\n",
    });
  });
});

describe("qmail-inject header injection is impossible", () => {
  /** Header lines of s that start a field (not continuations). */
  const fields = (s: string) =>
    s
      .slice(0, s.indexOf("\n\n") < 0 ? s.length : s.indexOf("\n\n"))
      .split("\n")
      .filter((l) => l && l[0] !== " " && l[0] !== "\t")
      .map((l) => l.slice(0, l.indexOf(":")));

  test("newlines in NAME, QMAILNAME, MAILNAME, QMAILIDHOST, QMAILDEFAULTHOST fold into their field", async () => {
    const { h, qq, fakeqq } = home();
    const evil = "Evil\nBcc: victim@evil.example\n\nbody";
    for (const env of [
      { NAME: evil },
      { QMAILNAME: evil.replace(/\n/g, "\r\n") },
      { MAILNAME: evil, QMAILINJECT: "c" },
      { QMAILIDHOST: evil },
      { QMAILDEFAULTHOST: `"${evil.replace(/\n/g, "\\\n")}"` },
      { QMAILPLUSDOMAIN: `"${evil.replace(/\n/g, "\\\n")}"`, QMAILHOST: "h+" },
    ] as Record<string, string>[]) {
      const r = await inj(h, [], "To: a@b.c\n\n", { QMAILQUEUE: fakeqq, ...env });
      const mess = readFileSync(join(qq, "mess"), "latin1");
      if (r.code === 0) {
        expect(fields(mess)).toEqual(["Date", "Message-ID", "From", "To"]);
        expect(mess).not.toMatch(/^Bcc:/m);
        expect(envelope(qq).join("\n")).not.toContain("victim");
      } else {
        // an envelope address with a newline is refused outright
        expect(r.code).toBe(100);
      }
    }
  });

  test("newlines in QMAILUSER, QMAILHOST, -f and recipient arguments are refused (100)", async () => {
    const { h, qq, fakeqq } = home();
    for (const [args, env] of [
      [[], { QMAILUSER: "u\nBcc: victim@x" }],
      [[], { QMAILHOST: "h\nBcc: victim@x" }],
      [[], { QMAILSUSER: "u\nX: y" }],
      [["-f", "s\nBcc: victim@x"], {}],
      [["ok@x.y", "r\nBcc: victim@x"], {}],
      [["-n", "ok@x.y", "r\rBcc: victim@x"], {}],
    ] as [string[], Record<string, string>][]) {
      writeFileSync(join(qq, "env"), "");
      const r = await inj(h, args, "To: a@b.c\n\n", { QMAILQUEUE: fakeqq, ...env });
      expect(r.code).toBe(100);
      expect(r.stdout).toBe("");
      expect(readFileSync(join(qq, "env"), "latin1")).toBe("");
    }
  });

  test("a folded name still reads back as one From field", async () => {
    const { h } = home();
    const r = await inj(h, ["-n"], "To: a\n\n", { NAME: "A\nB", USER: "u" });
    expect(r.stdout).toContain('From: "A\\\n B" <u@me.example.com>\n');
  });
});

describe("token822 and fold: no value can start a header line (property)", () => {
  const fc = require("fast-check") as typeof import("fast-check");
  // every line break is followed by a blank, except the final one; a CR is followed by LF or a blank
  const safeField = (s: string) =>
    /^[^\r\n]*(?:(?:\r(?=[\n \t])|\n(?=[ \t]))[^\r\n]*)*\n$/.test(s.replace(/\\\r(?=\\\n)/g, ""));
  const bytes = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 });

  test("unparse of any quoted string, comment, literal or atom", async () => {
    const { T, unparse, parse } = await import("../../packages/qmail/src/lib/inject/token822.ts");
    fc.assert(
      fc.property(bytes, fc.constantFrom(T.QUOTE, T.COMMENT, T.LITERAL, T.ATOM), (s, type) => {
        const out = unparse([
          { type: T.ATOM, s: "From" },
          { type: T.COLON, s: "" },
          { type, s },
          { type: T.LEFT, s: "" },
          { type: T.ATOM, s: "u" },
          { type: T.RIGHT, s: "" },
        ]);
        if (!safeField(out)) return false;
        // and it parses back (the way defaultfrommake re-reads its own output)
        return parse(out) !== null || type === T.ATOM;
      }),
      { numRuns: 3000 },
    );
  });

  test("fold of any generated field", async () => {
    const { fold } = await import("../../packages/qmail/src/lib/inject/header.ts");
    fc.assert(
      fc.property(bytes, (s) => safeField(fold(`X-Field: ${s}\n`).replace(/\\/g, ""))),
      { numRuns: 3000 },
    );
  });
});

describe("qmail-inject: arguments and environment byte for byte", () => {
  test("a recipient argument and $QMAILUSER that are not UTF-8 keep their bytes in the envelope and header", () => {
    const { h, qq, fakeqq } = home();
    // sh's printf makes the bytes: spawn arguments and environment are text here.
    const r = runSync(
      "/bin/sh",
      ["-c", 'QMAILUSER="$(printf "u\\351")" exec "$0" "$(printf "a\\377b@example.org")"', inject],
      {
        input: "Subject: bytes\n\nbody\n",
        env: { ...BASE, QMAILHOME: h, QMAILQUEUE: fakeqq },
        extendEnv: false,
        timeout: 20_000,
      },
    );
    expect(r.code).toBe(0);
    expect(envelope(qq)).toEqual(["Fu\xe9@me.example.com", "Ta\xffb@example.org"]);
    expect(readFileSync(join(qq, "mess"), "latin1")).toContain('\nFrom: "u\xe9"@me.example.com\n');
  });
});
