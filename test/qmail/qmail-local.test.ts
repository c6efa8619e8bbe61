// SPDX-License-Identifier: MIT
// qmail-local against qmail-local(8), dot-qmail(5) and netqmail's TEST.deliver,
// run as an unprivileged uid (setpriv) on real homes, files and maildirs.
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { flock, LOCK_EX } from "@qts/sys/flock";
import { ours, runSync } from "../lib/harness.ts";
import { GID, injected, makeHome, runLocal, UID } from "./fixtures/local-user.ts";

const hasPython = runSync("python3", ["-c", "import mailbox"]).code === 0;
const FROMLINE = /^From alice@ex\.org [A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4}\n/;

function maildir(h: ReturnType<typeof makeHome>, name = "Maildir"): string {
  const d = join(h.dir, name);
  for (const s of ["", "/tmp", "/new", "/cur"]) mkdirSync(d + s, { mode: 0o700 });
  for (const s of ["", "/tmp", "/new", "/cur"]) chownSync(d + s, UID, GID);
  return d;
}

describe("TEST.deliver scenarios against qmail-local", () => {
  test("D3/PIC.local2local: no ~/.qmail -> defaultdelivery ./Mailbox, mbox format", async () => {
    const h = makeHome();
    const r = await runLocal(h, { message: "To: me@domain\n\n" });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    const box = h.read("Mailbox");
    expect(box).toMatch(FROMLINE);
    expect(box.replace(FROMLINE, "")).toBe(
      "Return-Path: <alice@ex.org>\nDelivered-To: joe@example.com\nTo: me@domain\n\n\n",
    );
    expect(statSync(join(h.dir, "Mailbox")).mode & 0o777).toBe(0o600);
    expect(statSync(join(h.dir, "Mailbox")).uid).toBe(UID);
  });

  test("D4: alias user, ext with no .qmail file: 100 Sorry, no mailbox here by that name", async () => {
    const h = makeHome();
    const r = await runLocal(h, { user: "alias", local: "nonexistent", dash: "-", ext: "nonexistent" });
    expect(r).toEqual({ code: 100, out: "Sorry, no mailbox here by that name. (#5.1.1)\n" });
    expect(existsSync(join(h.dir, "Mailbox"))).toBe(false);
  });

  test("D6: POSTmaster -> ~alias/.qmail-postmaster (empty: defaultdelivery)", async () => {
    const h = makeHome();
    h.put(".qmail-postmaster", "");
    const r = await runLocal(h, { user: "alias", local: "POSTmaster", dash: "-", ext: "POSTmaster" });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    expect(h.read("Mailbox")).toContain("Delivered-To: POSTmaster@example.com\n");
  });

  test("D8: me-groups -> ~me/.qmail-groups program, run with the user's uid and only its gid", async () => {
    const h = makeHome();
    h.put(".qmail-groups", "|id -u > MYUID; id -G > MYGROUPS; exit 0\n");
    const r = await runLocal(h, { user: "me", local: "me-groups", dash: "-", ext: "groups", message: "" });
    expect(r).toEqual({ code: 0, out: "did 0+0+1\n" });
    expect(h.read("MYUID")).toBe(`${UID}\n`);
    expect(h.read("MYGROUPS")).toBe(`${GID}\n`);
  });

  test("I-maildir: ./Maildir/ -> one file in new/ named <time>.<pid>.<host>, no From_, no quoting, tmp/ empty", async () => {
    const h = makeHome();
    maildir(h);
    h.put(".qmail", "./Maildir/\n");
    const msg = "Subject: x\n\nFrom the start\n>From already\n";
    const before = Math.floor(Date.now() / 1000);
    const r = await runLocal(h, { message: msg });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    const names = readdirSync(join(h.dir, "Maildir/new"));
    expect(names.length).toBe(1);
    const [t, pid, host] = (names[0] as string).split(".");
    expect(Number(t)).toBeGreaterThanOrEqual(before);
    expect(Number(pid)).toBeGreaterThan(0);
    expect((names[0] as string).endsWith(`.${hostname().slice(0, 64)}`)).toBe(true);
    expect(host).toBeDefined();
    expect(readdirSync(join(h.dir, "Maildir/tmp"))).toEqual([]);
    const file = join(h.dir, "Maildir/new", names[0] as string);
    expect(readFileSync(file, "latin1")).toBe(`Return-Path: <alice@ex.org>\nDelivered-To: joe@example.com\n${msg}`);
    expect(statSync(file).uid).toBe(UID);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test.skipIf(!hasPython)("I-maildir: a real Maildir reader (python3 mailbox) sees the message", async () => {
    const h = makeHome();
    maildir(h);
    h.put(".qmail", "./Maildir/\n");
    await runLocal(h, { message: "Subject: one\n\nbody 1\n" });
    await runLocal(h, { message: "Subject: two\n\nbody 2\n" });
    const py = runSync(
      "python3",
      [
        "-c",
        "import mailbox,sys\nmd=mailbox.Maildir(sys.argv[1],create=False)\n" +
          "for k in sorted(md.keys(), key=lambda k: md[k]['Subject']):\n" +
          " m=md[k]; print(m['Subject'], m['Return-Path'], m['Delivered-To'], m.get_subdir(), repr(m.get_payload()))",
        join(h.dir, "Maildir"),
      ],
      { timeout: 20_000 },
    );
    expect(py.stderr).toBe("");
    expect(py.stdout).toBe(
      "one <alice@ex.org> joe@example.com new 'body 1\\n'\ntwo <alice@ex.org> joe@example.com new 'body 2\\n'\n",
    );
  });

  test("I-maildir: without the trailing slash the maildir is an mbox path, and fails", async () => {
    const h = makeHome();
    maildir(h);
    h.put(".qmail", "./Maildir\n");
    const r = await runLocal(h);
    expect(r).toEqual({ code: 111, out: "Unable to open ./Maildir: is a directory. (#4.2.1)\n" });
  });

  test("PIC.local2ext: fred-sos -> ~fred/.qmail-sos -> ./Extramail", async () => {
    const h = makeHome();
    h.put(".qmail-sos", "./Extramail\n");
    const r = await runLocal(h, { user: "fred", local: "fred-sos", dash: "-", ext: "sos" });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    expect(h.read("Extramail")).toContain("Delivered-To: fred-sos@example.com\n");
  });

  test("PIC.local2virt: fred-dude (virtual dude@tommy.gov) -> ~fred/.qmail-default -> ./Mail.tommy", async () => {
    const h = makeHome();
    h.put(".qmail-default", "./Mail.tommy\n|echo DEFAULT=$DEFAULT\n");
    const r = await runLocal(h, { user: "fred", local: "fred-dude", dash: "-", ext: "dude", host: "tommy.gov" });
    expect(r).toEqual({ code: 0, out: "DEFAULT=dude\ndid 1+0+1\n" });
    expect(h.read("Mail.tommy")).toContain("Delivered-To: fred-dude@tommy.gov\n");
  });

  test("I-alias: ~alias/.qmail-default catches unknown addresses", async () => {
    const h = makeHome();
    h.put(".qmail-default", "./catchall\n");
    const r = await runLocal(h, { user: "alias", local: "whoever", dash: "-", ext: "whoever" });
    expect(r).toEqual({ code: 0, out: "did 1+0+0\n" });
    expect(h.read("catchall")).toContain("Delivered-To: whoever@example.com\n");
  });
});

describe(".qmail lookup order and DEFAULT", () => {
  const order = [".qmail-a-b-c", ".qmail-a-b-default", ".qmail-a-default", ".qmail-default"];
  test.each([0, 1, 2, 3])("ext a-b-c: the first existing of %#", async (first) => {
    const h = makeHome();
    for (const f of order.slice(first)) h.put(f, `|echo ${f} DEFAULT=\${DEFAULT-unset}\n`);
    const r = await runLocal(h, { local: "joe-a-b-c", dash: "-", ext: "a-b-c" });
    const dflt = ["unset", "c", "b-c", "a-b-c"][first];
    expect(r).toEqual({ code: 0, out: `${order[first]} DEFAULT=${dflt}\ndid 0+0+1\n` });
  });

  test("ext is lowercased and dots become colons", async () => {
    const h = makeHome();
    h.put(".qmail-foo:bar", "|echo hit $EXT\n");
    const r = await runLocal(h, { local: "joe-Foo.Bar", dash: "-", ext: "Foo.Bar" });
    expect(r).toEqual({ code: 0, out: "hit Foo.Bar\ndid 0+0+1\n" });
  });

  test("a name that itself ends in default sets DEFAULT from it", async () => {
    const h = makeHome();
    h.put(".qmail-x-default", "|echo DEFAULT=$DEFAULT\n");
    const r = await runLocal(h, { local: "joe-x-default", dash: "-", ext: "x-default" });
    expect(r).toEqual({ code: 0, out: "DEFAULT=default\ndid 0+0+1\n" });
  });

  test("an extension cannot climb out of the home (.. becomes ::)", async () => {
    const h = makeHome();
    writeFileSync(join(h.dir, "../.qmail-evil"), "|echo escaped\n");
    writeFileSync(join(h.dir, "../evil"), "|echo escaped\n");
    for (const ext of ["../evil", "/../../evil", "x/../../evil"]) {
      const r = await runLocal(h, { local: `joe-${ext}`, dash: "-", ext });
      expect(r).toEqual({ code: 100, out: "Sorry, no mailbox here by that name. (#5.1.1)\n" });
    }
  });

  test("a .qmail that is not a regular file counts as missing", async () => {
    const h = makeHome();
    mkdirSync(join(h.dir, ".qmail-dir"));
    h.put(".qmail-default", "|echo default\n");
    const r = await runLocal(h, { local: "joe-dir", dash: "-", ext: "dir" });
    expect(r).toEqual({ code: 0, out: "default\ndid 0+0+1\n" });
  });

  test("an unreadable .qmail defers with the open error", async () => {
    const h = makeHome();
    writeFileSync(join(h.dir, ".qmail-secret"), "|echo no\n", { mode: 0o600 });
    const r = await runLocal(h, { local: "joe-secret", dash: "-", ext: "secret" });
    expect(r).toEqual({ code: 111, out: "Unable to open .qmail-secret: access denied. (#4.3.0)\n" });
  });

  test("an empty .qmail means defaultdelivery; a bare user tries .qmail only, then .qmaildefault", async () => {
    const h = makeHome();
    h.put(".qmail", "");
    expect(await runLocal(h, { aliasempty: "|echo empty-means-default" })).toEqual({
      code: 0,
      out: "empty-means-default\ndid 0+0+1\n",
    });
    const h2 = makeHome();
    h2.put(".qmail-default", "|echo not-for-bare-user\n");
    expect(await runLocal(h2, { aliasempty: "|echo aliasempty" })).toEqual({ code: 0, out: "aliasempty\ndid 0+0+1\n" });
  });

  test("multi-line defaultdelivery", async () => {
    const h = makeHome();
    const r = await runLocal(h, { aliasempty: "./Mailbox\n|echo second line\n" });
    expect(r).toEqual({ code: 0, out: "second line\ndid 1+0+1\n" });
  });
});

describe("permissions (checkhome, dot-qmail(5))", () => {
  test("world-writable home: 111", async () => {
    const h = makeHome(0o757);
    expect(await runLocal(h)).toEqual({ code: 111, out: "Uh-oh: home directory is writable. (#4.7.0)\n" });
  });

  test("group-writable home is allowed (conf-patrn 002)", async () => {
    const h = makeHome(0o775);
    expect(await runLocal(h)).toEqual({ code: 0, out: "did 1+0+0\n" });
  });

  test("sticky home: deferred; with -n only a warning", async () => {
    const h = makeHome(0o1755);
    expect(await runLocal(h)).toEqual({
      code: 111,
      out: "Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n",
    });
    expect(await runLocal(h, { opts: ["-n", "--"] })).toEqual({
      code: 0,
      out: "Warning: home directory is sticky.\nmbox ./Mailbox\ndid 1+0+0\n",
    });
  });

  test("world-writable .qmail: 111", async () => {
    const h = makeHome();
    h.put(".qmail", "./Mailbox\n", 0o646);
    expect(await runLocal(h)).toEqual({ code: 111, out: "Uh-oh: .qmail file is writable. (#4.7.0)\n" });
  });

  test("user-execute bit: forward-only; a file or program line defers", async () => {
    const h = makeHome();
    h.put(".qmail-f", "./Mailbox\n", 0o744);
    h.put(".qmail-p", "|true\n", 0o744);
    h.put(".qmail-w", "&bob@x.org\n", 0o744);
    expect(await runLocal(h, { ext: "f", dash: "-" })).toEqual({
      code: 111,
      out: "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n",
    });
    expect(await runLocal(h, { ext: "p", dash: "-" })).toEqual({
      code: 111,
      out: "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n",
    });
    const r = await runLocal(h, { ext: "w", dash: "-" });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^did 0\+1\+0\nqp \d+\n$/);
  });

  test("+list makes the rest forward-only", async () => {
    const h = makeHome();
    h.put(".qmail", "|echo before\n+list\n|echo after\n");
    expect(await runLocal(h)).toEqual({
      code: 111,
      out: "before\nUh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n",
    });
  });

  test("home missing: 111 Unable to switch to", async () => {
    const h = makeHome();
    const r = await runLocal({ ...h, dir: join(h.dir, "nope") });
    expect(r).toEqual({ code: 111, out: `Unable to switch to ${h.dir}/nope: file does not exist. (#4.3.0)\n` });
  });

  test("never as root: no file or program is handled as uid 0", async () => {
    const h = makeHome();
    h.put(".qmail", "|touch ROOTWASHERE\n");
    const r = await runLocal(h, { uid: 0 });
    expect(r).toEqual({ code: 111, out: "Not allowed to perform deliveries as root. (#4.3.0)\n" });
    expect(existsSync(join(h.dir, "ROOTWASHERE"))).toBe(false);
  });
});

describe(".qmail lines", () => {
  test("blank first line: 111; later blank lines, comments and trailing blanks are fine", async () => {
    const h = makeHome();
    h.put(".qmail", "\n./Mailbox\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n" });
    h.put(".qmail", "   \t\n./Mailbox\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n" });
    h.put(".qmail", "# c\n\n./box  \t\n\n|echo x \t\n#./not");
    expect(await runLocal(h)).toEqual({ code: 0, out: "x\ndid 1+0+1\n" });
    expect(existsSync(join(h.dir, "box"))).toBe(true);
  });

  test("-n prints what would be done, touching nothing", async () => {
    const h = makeHome();
    h.put(".qmail", "./Maildir/\n/abs/mbox\n|prog arg\n&a@b\nc@d\n+list\n# x\n");
    const r = await runLocal(h, { opts: ["-n", "--"] });
    expect(r).toEqual({
      code: 0,
      out: "maildir ./Maildir/\nmbox /abs/mbox\nprogram prog arg\nforward a@b\nforward c@d\ndid 2+2+1\n",
    });
    expect(injected(h)).toEqual([]);
  });

  test("usage: wrong argument count, relative home, bad option: 100", async () => {
    const usage = "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty\n";
    const h = makeHome();
    const run = (args: string[]) => runSync("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", ours("qmail-local"), ...args]);
    expect(run(["a", "/", "c", "d", "e", "f", "g"])).toMatchObject({ code: 100, stdout: usage });
    expect(run(["a", "/", "c", "d", "e", "f", "g", "h", "i"])).toMatchObject({ code: 100, stdout: usage });
    expect(run(["a", "rel", "c", "d", "e", "f", "g", "h"])).toMatchObject({ code: 100, stdout: usage });
    expect(run(["-x", "a", h.dir, "c", "d", "e", "f", "g", "h"])).toMatchObject({
      code: 100,
      stdout: `qmail-local: illegal option -- x\n${usage}`,
    });
  });

  test("a message that cannot be read: 111 with the read error", async () => {
    const h = makeHome();
    expect(await runLocal(h, { stdinPath: h.dir })).toEqual({
      code: 111,
      out: "Unable to read message: is a directory. (#4.3.0)\n",
    });
  });

  test("stdin that cannot be rewound: 111", async () => {
    const h = makeHome();
    expect(await runLocal(h, { pipe: true })).toEqual({ code: 111, out: "Unable to rewind message. (#4.3.0)\n" });
  });
});

describe("Delivered-To loop detection", () => {
  test("our own Delivered-To line in the header: 100", async () => {
    const h = makeHome();
    const r = await runLocal(h, { message: "Received: x\nDelivered-To: joe@example.com\nSubject: s\n\nbody\n" });
    expect(r).toEqual({ code: 100, out: "This message is looping: it already has my Delivered-To line. (#5.4.6)\n" });
    expect(existsSync(join(h.dir, "Mailbox"))).toBe(false);
  });

  test("the same line in the body, another address, or another case: delivered", async () => {
    const h = makeHome();
    for (const m of [
      "Subject: s\n\nDelivered-To: joe@example.com\n",
      "Delivered-To: bob@example.com\n\n",
      "delivered-to: joe@example.com\n\n",
      "Delivered-To: joe@example.com \n\n",
    ]) {
      expect(await runLocal(h, { message: m })).toEqual({ code: 0, out: "did 1+0+0\n" });
    }
    expect(await runLocal(h, { message: "X: y\n\nDelivered-To: joe@example.com\n", opts: ["-n", "--"] })).toEqual({
      code: 0,
      out: "mbox ./Mailbox\ndid 1+0+0\n",
    });
  });

  test("-n skips the check", async () => {
    const h = makeHome();
    const r = await runLocal(h, { message: "Delivered-To: joe@example.com\n\n", opts: ["-n", "--"] });
    expect(r).toEqual({ code: 0, out: "mbox ./Mailbox\ndid 1+0+0\n" });
  });
});

describe("environment and header lines (qmail-command(8))", () => {
  test("every variable", async () => {
    const h = makeHome();
    const vars = [
      "HOST",
      "HOME",
      "USER",
      "LOCAL",
      "RECIPIENT",
      "DTLINE",
      "SENDER",
      "RPLINE",
      "EXT",
      "EXT2",
      "EXT3",
      "EXT4",
      "HOST2",
      "HOST3",
      "HOST4",
      "DEFAULT",
      "NEWSENDER",
    ];
    h.put(".qmail-list-default", `|for v in ${vars.join(" ")}; do printf '%s=[%s]\\n' $v "$(printenv $v)"; done\n`);
    const r = await runLocal(h, {
      user: "joe",
      local: "joe-list-a-b-c",
      dash: "-",
      ext: "list-a-b-c",
      host: "mail.example.co.uk",
      sender: "alice@ex.org",
    });
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "HOST=[mail.example.co.uk]",
        `HOME=[${h.dir}]`,
        "USER=[joe]",
        "LOCAL=[joe-list-a-b-c]",
        "RECIPIENT=[joe-list-a-b-c@mail.example.co.uk]",
        "DTLINE=[Delivered-To: joe-list-a-b-c@mail.example.co.uk]",
        "SENDER=[alice@ex.org]",
        "RPLINE=[Return-Path: <alice@ex.org>]",
        "EXT=[list-a-b-c]",
        "EXT2=[a-b-c]",
        "EXT3=[b-c]",
        "EXT4=[c]",
        "HOST2=[mail.example.co]",
        "HOST3=[mail.example]",
        "HOST4=[mail]",
        "DEFAULT=[a-b-c]",
        "NEWSENDER=[alice@ex.org]",
        "did 0+0+1",
        "",
      ].join("\n"),
    );
  });

  test("short ext and host: EXTn empty, HOSTn the whole host; UFLINE is a From_ line", async () => {
    const h = makeHome();
    h.put(
      ".qmail",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
      '|printf \'[%s][%s][%s][%s][%s][%s][%s]\' "$EXT" "$EXT2" "$EXT4" "$HOST2" "$HOST4" "${DEFAULT-unset}" "$UFLINE"\n',
    );
    const r = await runLocal(h, { host: "localhost" });
    expect(r.out).toMatch(
      /^\[\]\[\]\[\]\[localhost\]\[localhost\]\[unset\]\[From alice@ex\.org .{24}\n\]did 0\+0\+1\n$/,
    );
  });

  test("Return-Path quoting, empty sender, From_ sender with blanks", async () => {
    const h = makeHome();
    const cases: [string, string, string][] = [
      ["", "Return-Path: <>", "From MAILER-DAEMON "],
      ["#@[]", "Return-Path: <#@[]>", "From #@[] "],
      ["a b@x.org", 'Return-Path: <"a b"@x.org>', "From a-b@x.org "],
      ['a"b\\c@x', 'Return-Path: <"a\\"b\\\\c"@x>', 'From a"b\\c@x '],
      ["a.@x", 'Return-Path: <"a."@x>', "From a.@x "],
      ["a..b@x", 'Return-Path: <"a..b"@x>', "From a..b@x "],
      ["noat", "Return-Path: <noat>", "From noat "],
      ["x@y@z", 'Return-Path: <"x@y"@z>', "From x@y@z "],
      ["a\tb\nc@x", 'Return-Path: <"a\tb\\_c"@x>', "From a-b-c@x "],
    ];
    for (const [sender, rp, uf] of cases) {
      const r = await runLocal(h, { sender, message: "" });
      expect(r.code).toBe(0);
      const box = h.read("Mailbox").split("\n");
      expect(box.at(-5)?.startsWith(uf)).toBe(true);
      expect(box.at(-4)).toBe(rp);
    }
  });
});

describe("program delivery", () => {
  test("stdin is the message, rewound, without added lines, even after an mbox line", async () => {
    const h = makeHome();
    h.put(".qmail", "./Mailbox\n|cat > copy1\n|cat > copy2\n");
    const msg = "A: b\n\nFrom x\n";
    expect(await runLocal(h, { message: msg })).toEqual({ code: 0, out: "did 1+0+2\n" });
    expect(h.read("copy1")).toBe(msg);
    expect(h.read("copy2")).toBe(msg);
  });

  test("SIGPIPE is default in the program", async () => {
    const h = makeHome();
    h.put(".qmail", "|grep SigIgn /proc/self/status\n");
    expect(await runLocal(h)).toEqual({ code: 0, out: "SigIgn:\t0000000000000000\ndid 0+0+1\n" });
  });

  test.each([
    [0, 0],
    [100, 100],
    [64, 100],
    [65, 100],
    [70, 100],
    [76, 100],
    [77, 100],
    [78, 100],
    [112, 100],
    [111, 111],
    [1, 111],
    [2, 111],
    [75, 111],
    [101, 111],
  ])("exit %d -> %d, output is the report", async (code, want) => {
    const h = makeHome();
    h.put(".qmail", `|echo said $SENDER; exit ${code}\n./Mailbox\n`);
    const r = await runLocal(h);
    expect(r).toEqual({ code: want, out: want === 0 ? "said alice@ex.org\ndid 1+0+1\n" : "said alice@ex.org\n" });
    expect(existsSync(join(h.dir, "Mailbox"))).toBe(want === 0);
  });

  test("exit 99: later lines skipped, earlier forwards still sent", async () => {
    const h = makeHome();
    h.put(".qmail", "&first@x.org\n|exit 99\n./Mailbox\n&second@x.org\n");
    const r = await runLocal(h);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^did 0\+1\+1\nqp \d+\n$/);
    expect(existsSync(join(h.dir, "Mailbox"))).toBe(false);
    expect(injected(h).map((i) => i.env)).toEqual(["Falice@ex.org\0Tfirst@x.org\0\0"]);
  });

  test("a crashed program: 111 Aack, child crashed", async () => {
    const h = makeHome();
    h.put(".qmail", "|kill -9 $$\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Aack, child crashed. (#4.3.0)\n" });
  });

  test("a failure stops at once: earlier lines were delivered, later not", async () => {
    const h = makeHome();
    h.put(".qmail", "./first\n|exit 100\n./second\n");
    expect(await runLocal(h)).toEqual({ code: 100, out: "" });
    expect(existsSync(join(h.dir, "first"))).toBe(true);
    expect(existsSync(join(h.dir, "second"))).toBe(false);
  });
});

describe("big messages", () => {
  test.skipIf(!existsSync("/usr/bin/time"))(
    "60 MB through maildir, mbox, program and forward: streamed (bounded memory), a clean report",
    async () => {
      const h = makeHome();
      maildir(h);
      h.put(".qmail", "./Maildir/\n./Mailbox\n|wc -c\n&big@x.org\n");
      writeFileSync(join(h.dir, "../qqnull.sh"), "#!/bin/sh\nwc -c > $QQDIR/size\ncat <&1 > /dev/null\n", {
        mode: 0o755,
      });
      const body = `${"z".repeat(99)}\n`.repeat(600_000);
      const msg = `Subject: big\n\n${body}`;
      const rss = join(h.dir, "../rss");
      const r = await runLocal(h, {
        message: msg,
        env: { QMAILQUEUE: join(h.dir, "../qqnull.sh") },
        wrap: ["/usr/bin/time", "-o", rss, "-f", "%M"],
        timeoutMs: 60_000,
      });
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^${msg.length}\\ndid 2\\+1\\+1\\nqp \\d+\\n$`));
      expect(readFileSync(join(h.qq, "size"), "utf8").trim()).toBe(
        String(msg.length + "Delivered-To: joe@example.com\n".length),
      );
      expect(statSync(join(h.dir, "Mailbox")).size).toBeGreaterThan(msg.length);
      const [n] = readdirSync(join(h.dir, "Maildir/new"));
      expect(statSync(join(h.dir, "Maildir/new", n as string)).size).toBe(
        msg.length + "Return-Path: <alice@ex.org>\nDelivered-To: joe@example.com\n".length,
      );
      // Bun itself needs about 40 MB; a message held in memory would add at least its 60 MB.
      const kb = Number(readFileSync(rss, "utf8").trim());
      expect(kb).toBeLessThan(100_000);
    },
    60_000,
  );
});

describe("forwarding (NEWSENDER)", () => {
  test("all forwards in one injection: DTLINE + message, sender, recipients in order; qp reported", async () => {
    const h = makeHome();
    h.put(".qmail", "&a@x.org\nb@y.org\n# c@z.org\n&c@z.org  \n");
    const msg = "Subject: fw\n\nFrom body\n";
    const r = await runLocal(h, { message: msg });
    expect(r.code).toBe(0);
    const qp = /^did 0\+3\+0\nqp (\d+)\n$/.exec(r.out);
    expect(qp).not.toBeNull();
    const inj = injected(h);
    expect(inj).toEqual([
      { msg: `Delivered-To: joe@example.com\n${msg}`, env: "Falice@ex.org\0Ta@x.org\0Tb@y.org\0Tc@z.org\0\0" },
    ]);
    expect(readdirSync(h.qq)).toContain(`env.${qp?.[1]}`);
  });

  test.each([
    ["none", [], "alice@ex.org"],
    ["-owner", [".qmail-list-owner"], "joe-list-owner@example.com"],
    [
      "-owner and -owner-default",
      [".qmail-list-owner", ".qmail-list-owner-default"],
      "joe-list-owner-@example.com-@[]",
    ],
  ])("NEWSENDER with %s", async (_what, files, want) => {
    const h = makeHome();
    h.put(".qmail-list", "&m@x.org\n|echo $NEWSENDER\n");
    for (const f of files as string[]) h.put(f, "");
    const r = await runLocal(h, { local: "joe-list", dash: "-", ext: "list" });
    expect(r.out.split("\n")[0]).toBe(want as string);
    expect(injected(h)[0]?.env).toBe(`F${want}\0Tm@x.org\0\0`);
  });

  test("-owner rules never apply to bounces (empty or #@[] sender)", async () => {
    for (const sender of ["", "#@[]"]) {
      const h = makeHome();
      h.put(".qmail-list", "&m@x.org\n");
      h.put(".qmail-list-owner", "");
      await runLocal(h, { local: "joe-list", dash: "-", ext: "list", sender });
      expect(injected(h)[0]?.env).toBe(`F${sender}\0Tm@x.org\0\0`);
    }
  });

  test.each([
    ["31", 100, "Unable to forward message: mail server permanently rejected message (#5.3.0).\n"],
    ["11", 100, "Unable to forward message: envelope address too long for qq (#5.1.3).\n"],
    ["53", 111, "Unable to forward message: qq write error or disk full (#4.3.0).\n"],
    ["71", 111, "Unable to forward message: mail server temporarily rejected message (#4.3.0).\n"],
  ])("qmail-queue exit %s -> %d", async (qqexit, code, text) => {
    const h = makeHome();
    h.put(".qmail", "&a@x.org\n");
    expect(await runLocal(h, { env: { QQEXIT: qqexit } })).toEqual({ code: code as number, out: text as string });
  });

  test("qmail-queue cannot be run: 111", async () => {
    const h = makeHome();
    h.put(".qmail", "&a@x.org\n");
    expect(await runLocal(h, { env: { QMAILQUEUE: "/nonexistent/qq" } })).toEqual({
      code: 111,
      out: "Unable to forward message: unable to exec qq (#4.3.0).\n",
    });
  });
});

describe("mbox", () => {
  test("From_ quoting, final newline added, blank separator, appends", async () => {
    const h = makeHome();
    h.put("Mailbox", "old\n", 0o600);
    const msg = "From: x\nFromage: y\n\nFrom a\n>From b\n>>From c\n From d\nFrom";
    expect(await runLocal(h, { message: msg })).toEqual({ code: 0, out: "did 1+0+0\n" });
    const box = h.read("Mailbox");
    expect(box.startsWith("old\nFrom alice@ex.org ")).toBe(true);
    expect(box.slice(box.indexOf("Return-Path"))).toBe(
      "Return-Path: <alice@ex.org>\nDelivered-To: joe@example.com\n" +
        "From: x\nFromage: y\n\n>From a\n>>From b\n>>>From c\n From d\nFrom\n\n",
    );
  });

  test.skipIf(!hasPython)("a real mbox reader (python3 mailbox.mbox) splits the messages", async () => {
    const h = makeHome();
    await runLocal(h, { message: "Subject: one\n\nFrom me\nbye\n" });
    await runLocal(h, { message: "Subject: two\n\nno newline at end", sender: "" });
    const py = runSync(
      "python3",
      [
        "-c",
        "import mailbox,sys\nfor m in mailbox.mbox(sys.argv[1]):\n print(m['Subject'], m.get_from()[:13], repr(m.get_payload()))",
        join(h.dir, "Mailbox"),
      ],
      { timeout: 20_000 },
    );
    expect(py.stderr).toBe("");
    expect(py.stdout).toBe("one alice@ex.org  '>From me\\nbye\\n'\ntwo MAILER-DAEMON 'no newline at end\\n'\n");
  });

  test("long lines and many '>' stream through", async () => {
    const h = makeHome();
    const long = "x".repeat(300_000);
    const gts = ">".repeat(70_000);
    const msg = `S: 1\n\n${long}\n${gts}From y\n${gts}Frox\n`;
    expect(await runLocal(h, { message: msg })).toEqual({ code: 0, out: "did 1+0+0\n" });
    const box = h.read("Mailbox");
    expect(box.endsWith(`S: 1\n\n${long}\n>${gts}From y\n${gts}Frox\n\n`)).toBe(true);
  });

  test("waits for a flock held by someone else", async () => {
    const h = makeHome();
    h.put("Mailbox", "", 0o600);
    const held = openSync(join(h.dir, "Mailbox"), "r");
    flock(held, LOCK_EX);
    setTimeout(() => closeSync(held), 1200);
    const t0 = Date.now();
    expect(await runLocal(h)).toEqual({ code: 0, out: "did 1+0+0\n" });
    expect(Date.now() - t0).toBeGreaterThan(1100);
    expect(h.read("Mailbox")).toContain("Delivered-To: joe@example.com\n");
  });

  test("unopenable mbox: 111 with the open error", async () => {
    const h = makeHome();
    h.put(".qmail", "./nodir/box\n");
    expect(await runLocal(h)).toEqual({
      code: 111,
      out: "Unable to open ./nodir/box: file does not exist. (#4.2.1)\n",
    });
  });
});

describe("maildir (maildir(5))", () => {
  test("no such maildir: Unable to chdir to maildir", async () => {
    const h = makeHome();
    h.put(".qmail", "./Nope/\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Unable to chdir to maildir. (#4.2.1)\n" });
  });

  test("a file, or a directory the user cannot search: Unable to chdir to maildir", async () => {
    const h = makeHome();
    h.put("plain", "");
    h.put(".qmail", "./plain/\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Unable to chdir to maildir. (#4.2.1)\n" });
    const d = maildir(h);
    chmodSync(d, 0o600);
    h.put(".qmail", "./Maildir/\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Unable to chdir to maildir. (#4.2.1)\n" });
  });

  test("maildir without new/: temporary error, nothing left in tmp/", async () => {
    const h = makeHome();
    const d = maildir(h);
    runSync("rmdir", [join(d, "new")]);
    h.put(".qmail", "./Maildir/\n");
    expect(await runLocal(h)).toEqual({ code: 111, out: "Temporary error on maildir delivery. (#4.3.0)\n" });
    expect(readdirSync(join(d, "tmp"))).toEqual([]);
  });

  test("the same maildir twice in one .qmail: two distinct files", async () => {
    const h = makeHome();
    const d = maildir(h);
    h.put(".qmail", "./Maildir/\n./Maildir/\n");
    expect(await runLocal(h, { timeoutMs: 30_000 })).toEqual({ code: 0, out: "did 2+0+0\n" });
    expect(readdirSync(join(d, "new")).length).toBe(2);
  }, 30_000);
});

const hasStrace = runSync("strace", ["-V"]).code === 0;

describe.skipIf(!hasStrace)("durability, seen with strace", () => {
  function trace(h: ReturnType<typeof makeHome>): string[] {
    const out = join(h.dir, "../strace.out");
    const r = runSync(
      "sh",
      [
        "-c",
        `exec strace -f -qq -e trace=openat,write,fsync,close,link,unlink,flock,ftruncate -o ${out} setpriv --reuid=${UID} --regid=${GID} --clear-groups ${ours("qmail-local")} -- joe ${h.dir} joe '' '' example.com a@b ./Mailbox < ${join(h.dir, "../m")}`,
      ],
      { timeout: 20_000 },
    );
    expect(r.stdout).toBe("did 1+0+0\n");
    return readFileSync(out, "utf8")
      .split("\n")
      .map((l) => l.replace(/^\d+\s+/, ""));
  }

  test("maildir: O_EXCL create, write, fsync, close, link into new/, fsync new/, unlink tmp", () => {
    const h = makeHome();
    maildir(h);
    h.put(".qmail", "./Maildir/\n");
    writeFileSync(join(h.dir, "../m"), "Subject: s\n\nbody\n");
    const lines = trace(h);
    const open = lines.findIndex((l) => /^openat\(AT_FDCWD, "\.\/Maildir\/tmp\/.*O_CREAT\|O_EXCL/.test(l));
    expect(open).toBeGreaterThanOrEqual(0);
    const fd = /= (\d+)$/.exec(lines[open] as string)?.[1];
    const name = /"\.\/Maildir\/tmp\/([^"]+)"/.exec(lines[open] as string)?.[1];
    const seq = lines
      .slice(open)
      .filter(
        (l) =>
          l.includes(`(${fd},`) ||
          l.includes(`(${fd})`) ||
          l.includes(name as string) ||
          l.startsWith(`openat(AT_FDCWD, "./Maildir/new"`),
      );
    const kinds = seq.map((l) => l.slice(0, l.indexOf("(")));
    const at = (k: string, from = 0) => kinds.indexOf(k, from);
    expect(at("write")).toBeGreaterThan(0);
    expect(at("fsync")).toBeGreaterThan(at("write"));
    expect(at("close")).toBeGreaterThan(at("fsync"));
    expect(at("link")).toBeGreaterThan(at("close"));
    const dirOpen = seq.findIndex((l) => l.startsWith(`openat(AT_FDCWD, "./Maildir/new"`));
    expect(dirOpen).toBeGreaterThan(at("link"));
    const dirFd = /= (\d+)$/.exec(seq[dirOpen] as string)?.[1];
    const dirSync = lines.findIndex((l, i) => i > open && new RegExp(`^fsync\\(${dirFd}\\)\\s+= 0$`).test(l));
    expect(dirSync).toBeGreaterThan(open);
    const unlink = lines.findIndex((l) => l.startsWith(`unlink("./Maildir/tmp/${name}")`));
    expect(unlink).toBeGreaterThan(dirSync);
  });

  test("mbox: O_APPEND open, flock, writes, fsync", () => {
    const h = makeHome();
    writeFileSync(join(h.dir, "../m"), "Subject: s\n\nbody\n");
    const lines = trace(h);
    const open = lines.findIndex((l) => l.startsWith('openat(AT_FDCWD, "./Mailbox"') && l.includes("O_APPEND"));
    expect(open).toBeGreaterThanOrEqual(0);
    const fd = /= (\d+)$/.exec(lines[open] as string)?.[1];
    const mine = lines.slice(open).filter((l) => l.includes(`(${fd},`) || l.includes(`(${fd})`));
    const kinds = mine.map((l) => l.slice(0, l.indexOf("(")));
    expect(kinds.slice(0, 2)).toEqual(["flock", "write"]);
    expect(kinds.indexOf("fsync")).toBeGreaterThan(kinds.lastIndexOf("write"));
    expect(kinds.indexOf("close")).toBeGreaterThan(kinds.indexOf("fsync"));
  });
});
