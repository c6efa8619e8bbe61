// SPDX-License-Identifier: MIT
// Every program in bin/ has a man page, every page renders cleanly with man(1), carries the
// sections an administrator looks for, and make setup puts the pages where man finds them.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { QQ } from "@qts/qmail/lib/queue/qq";
import { index, render, SUITES } from "../../scripts/man.ts";
import { ROOT, run, tmp } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const SRC = join(ROOT, "doc/man");
const BUILT = join(ROOT, "build/man");
const PROGRAMS = [...readFileSync(join(ROOT, "build/programs.txt"), "utf8").trim().split("\n"), "qts"];

const DAEMONTOOLS = new Set(readdirSync(join(ROOT, "packages/daemontools/src/bin")).map((f) => f.replace(/\.ts$/, "")));
const UCSPI = new Set(readdirSync(join(ROOT, "packages/ucspi-tcp/src/bin")).map((f) => f.replace(/\.ts$/, "")));
// qmail's own split: programs a user puts in a .qmail or runs by hand are in section 1.
const QMAIL_1 = new Set([
  "bouncesaying",
  "condredirect",
  "datemail",
  "except",
  "forward",
  "maildir2mbox",
  "maildirmake",
  "mailsubj",
  "predate",
  "preline",
  "qsmhook",
  "qreceipt",
  "qbiff",
  "maildirwatch",
  "tcp-env",
  "qail",
  "elq",
  "pinq",
]);

function sectionOf(name: string): string {
  if (DAEMONTOOLS.has(name)) return "8";
  if (UCSPI.has(name)) return "1";
  return QMAIL_1.has(name) ? "1" : "8";
}

// The formats an administrator edits, and the suite overviews the pages point to (issue 12).
const FORMATS = [
  "dot-qmail.5",
  "qmail-control.5",
  "qmail-users.5",
  "envelopes.5",
  "maildir.5",
  "qmail-log.5",
  "tcp-environ.5",
  "multilog.5",
  "supervise.5",
  "daemontools.7",
  "ucspi-tcp.7",
  "qmail.7",
];

const PROGRAM_SECTIONS = ["SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT CODES", "FILES", "COMPATIBILITY", "SEE ALSO"];
const FORMAT_SECTIONS = ["SYNOPSIS", "DESCRIPTION", "FILES", "COMPATIBILITY", "SEE ALSO"];
const OVERVIEW_SECTIONS = ["DESCRIPTION", "SEE ALSO"];

const ALL = [...PROGRAMS.map((p) => `${p}.${sectionOf(p)}`), ...FORMATS];

/** The "## NAME" sections of a Markdown source, in order, with their text. */
function sections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = md.split(/^## /m).slice(1);
  for (const p of parts) {
    const nl = p.indexOf("\n");
    out.set(p.slice(0, nl).trim(), p.slice(nl + 1));
  }
  return out;
}

/** The option letters of a `getopt(argv, "...")` string in a program's source. */
function getoptLetters(name: string): string[] {
  for (const suite of ["daemontools", "ucspi-tcp", "qmail"]) {
    const f = join(ROOT, "packages", suite, "src/bin", `${name}.ts`);
    if (!existsSync(f)) continue;
    const m = /getopt\(argv, "([^"]*)"\)/.exec(readFileSync(f, "utf8"));
    return m?.[1] ? [...m[1].replace(/:/g, "")] : [];
  }
  return [];
}

test("every program in bin/ and every format has a source and a rendered page", () => {
  const missing = ALL.filter((p) => !existsSync(join(SRC, `${p}.md`)));
  expect(missing).toEqual([]);
  const unbuilt = ALL.filter((p) => !existsSync(join(BUILT, `man${p.slice(-1)}`, p)));
  expect(unbuilt).toEqual([]);
  // npm finds them through package.json's directories.man.
  expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).directories?.man).toBe("build/man");
  // bin/ itself, not only the list make wrote: a link without a page fails here.
  const bin = readdirSync(join(ROOT, "bin")).filter((f) => !f.startsWith("."));
  expect(bin.filter((f) => !PROGRAMS.includes(f))).toEqual([]);
});

describe.each(ALL)("%s", (page) => {
  const name = page.slice(0, page.lastIndexOf("."));
  const sec = page.slice(-1);
  const md = existsSync(join(SRC, `${page}.md`)) ? readFileSync(join(SRC, `${page}.md`), "utf8") : "";
  const secs = sections(md);

  test("header line and required sections, in order", () => {
    expect(md.slice(0, md.indexOf("\n"))).toMatch(new RegExp(`^# ${name.replace(/[.+]/g, "\\$&")}\\(${sec}\\) -- \\S`));
    const want = sec === "7" ? OVERVIEW_SECTIONS : sec === "5" ? FORMAT_SECTIONS : PROGRAM_SECTIONS;
    const have = [...secs.keys()].filter((s) => want.includes(s));
    expect(have).toEqual(want);
    for (const s of want) expect((secs.get(s) ?? "").trim().length).toBeGreaterThan(0);
  });

  if (sec === "1" || sec === "8") {
    test("OPTIONS names every option letter the program accepts, and --help/--version", () => {
      const opts = secs.get("OPTIONS") ?? "";
      const missing = getoptLetters(name).filter((l) => !opts.includes(`\`-${l}`));
      expect(missing).toEqual([]);
      expect(opts).toContain("`--help`");
      expect(opts).toContain("`--version`");
    });
  }

  test("man -l renders it without warnings", async () => {
    const r = await run("man", ["--warnings", "-l", join(BUILT, `man${sec}`, page)], {
      env: { MANWIDTH: "80", LANG: "C.UTF-8", MANPAGER: "cat", PAGER: "cat" },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`${name.toUpperCase()}(${sec})`);
    expect(r.stdout).toMatch(new RegExp(`\nNAME\n {7}${name.replace(/[.+]/g, "\\$&")} +- +\\S`));
    for (const s of sec === "7" ? OVERVIEW_SECTIONS : ["DESCRIPTION", "SEE ALSO"])
      expect(r.stdout).toContain(`\n${s}\n`);
  });
});

describe("make setup installs the pages", () => {
  const root = tmp();
  const home = join(root, "qmail");
  const mandir = join(root, "man");
  const env = { MANWIDTH: "80", LANG: "C.UTF-8", MANPAGER: "cat", PAGER: "cat" };

  test("qmail's pages under <home>/man, the others under --man", async () => {
    const r = await run(
      BUN,
      [join(ROOT, "scripts/setup.ts"), "--home", home, "--no-users", "--hardlink", "--man", mandir],
      {
        timeout: 60_000,
      },
    );
    // a fresh home has no control/rcpthosts: setup's only warning
    expect(r.stderr).toBe(
      `setup: warning: ${home}/control/rcpthosts is missing: qmail-smtpd will accept mail for any domain (an open relay) until config or config-fast writes it\n`,
    );
    expect(r.code).toBe(0);
    for (const s of ["man1", "man5", "man7", "man8"]) expect(statSync(join(home, "man", s)).mode & 0o7777).toBe(0o755);
    for (const p of ALL) {
      const name = p.slice(0, p.lastIndexOf("."));
      const qmailSide =
        !DAEMONTOOLS.has(name) &&
        !UCSPI.has(name) &&
        !["daemontools", "ucspi-tcp", "tcp-environ", "multilog", "supervise"].includes(name);
      const where = join(qmailSide ? join(home, "man") : mandir, `man${p.slice(-1)}`, p);
      expect(existsSync(where)).toBe(true);
      expect(statSync(where).mode & 0o777).toBe(0o644);
    }
  });

  test("MANPATH=<home>/man man qmail-local shows our page", async () => {
    const r = await run("man", ["qmail-local"], { env: { ...env, MANPATH: join(home, "man") } });
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("QMAIL-LOCAL(8)");
    expect(r.stdout).toMatch(/\nNAME\n {7}qmail-local +- +\S/);
    const w = await run("man", ["-w", "qmail-local"], { env: { ...env, MANPATH: join(home, "man") } });
    expect(w.stdout).toBe(`${join(home, "man/man8/qmail-local.8")}\n`);
  });

  test("man svc and man 5 supervise find the daemontools pages under --man", async () => {
    const e = { ...env, MANPATH: mandir };
    expect((await run("man", ["-w", "svc"], { env: e })).stdout).toBe(`${join(mandir, "man8/svc.8")}\n`);
    expect((await run("man", ["-w", "5", "supervise"], { env: e })).stdout).toBe(
      `${join(mandir, "man5/supervise.5")}\n`,
    );
    expect((await run("man", ["-w", "tcpserver"], { env: e })).stdout).toBe(`${join(mandir, "man1/tcpserver.1")}\n`);
  });
});

describe("the README's suite pages", () => {
  test.each(SUITES)("doc/%s.md lists every page of the suite with its header line", (suite) => {
    // Regenerate with: bun scripts/man.ts --index
    expect(readFileSync(join(ROOT, "doc", `${suite}.md`), "utf8")).toBe(index(suite));
  });

  test("README.md links to the three pages", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const s of SUITES) expect(readme).toContain(`(doc/${s}.md)`);
  });
});

test("qmail-queue(8) lists every exit code qmail-queue has", () => {
  const codes = sections(readFileSync(join(SRC, "qmail-queue.8.md"), "utf8")).get("EXIT CODES") ?? "";
  const missing = Object.values(QQ).filter((c) => !new RegExp(`^\\* ${c}:`, "m").test(codes));
  expect(missing).toEqual([]);
});

test("render: term lists become tagged paragraphs, code spans keep their quotes and brackets", () => {
  const md = '# t(1) -- a test\n\n## OPTIONS\n\n* `-x` *arg*:\n  Text of\n  the term.\n\nA `it\'s "q" <a> & b`.\n';
  const roff = render({ name: "t", section: "1", file: "t.1.md" }, md, "9.9", Date.UTC(2026, 0, 1));
  expect(roff).toStartWith('.TH "T" "1" "January 2026" "qmail-ts 9.9" "qmail"\n');
  expect(roff).toContain(".TP\n\\fB\\-x\\fP \\fIarg\\fR\nText of\nthe term\\.\n");
  expect(roff).toContain('\\fBit\'s "q" <a> & b\\fP');
  expect(() => render({ name: "u", section: "1", file: "u.1.md" }, md, "9.9", 0)).toThrow('first line must be "# u(1)');
});
