// SPDX-License-Identifier: MIT
// --help and --version on every program in bin/: the usage line, one sentence on what the program
// does and the man page to read on stdout and exit 0; the project's version and exit 0; anything else
// keeps the original's parsing.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ours, ROOT, run } from "../lib/harness.ts";

const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
const PROGRAMS = readFileSync(join(ROOT, "build/programs.txt"), "utf8").trim().split("\n");
const PAGES = readdirSync(join(ROOT, "doc/man"));

/** The man page of a program: NAME.SECTION.md. */
function manPageOf(name: string): string {
  const page = PAGES.find((f) => f.startsWith(`${name}.`) && /^\.[18]\.md$/.test(f.slice(name.length)));
  if (!page) throw new Error(`${name}: no man page`);
  return page;
}

/** The usage string a program exports, read from its source. */
function usageOf(name: string): string {
  for (const suite of ["daemontools", "ucspi-tcp", "qmail"]) {
    try {
      const src = readFileSync(join(ROOT, "packages", suite, "src/bin", `${name}.ts`), "utf8");
      const m = /export const usage =\s*"((?:[^"\\]|\\.)*)"/.exec(src);
      if (m?.[1] !== undefined) return JSON.parse(`"${m[1]}"`);
    } catch {}
  }
  throw new Error(`${name}: no usage export`);
}

test("every program in bin/ is covered", () => {
  expect(PROGRAMS.length).toBeGreaterThan(50);
});

describe.each(PROGRAMS)("%s", (name) => {
  test("--help: the usage line, what the program does and its man page, on stdout, exit 0", async () => {
    const r = await run(ours(name), ["--help"], { timeout: 10_000 });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const [usage, what, see, end] = r.stdout.split("\n");
    expect(usage).toBe(`usage: ${usageOf(name)}`);
    // The sentence and the page come from the man page's header line.
    const header = /^# ([^\s(]+)\((\d)\) -- (.*)$/m.exec(readFileSync(join(ROOT, "doc/man", manPageOf(name)), "utf8"));
    expect(what).toBe(`${name}: ${header?.[3]}.`);
    expect(see).toBe(`See ${name}(${header?.[2]}): man ${header?.[2]} ${name}`);
    expect(end).toBe("");
  });

  test("--version: name and version, exit 0", async () => {
    const r = await run(ours(name), ["--version"], { timeout: 10_000 });
    expect(r).toMatchObject({ code: 0, stdout: `${name} ${VERSION}\n`, stderr: "" });
  });
});

describe("qts", () => {
  test("--help and --version of the multicall binary", async () => {
    expect(await run(ours("qts"), ["--help"])).toMatchObject({
      code: 0,
      stdout:
        "usage: qts program [ arg ... ]\nqts: the multicall executable behind every qmail-ts program.\nSee qts(8): man 8 qts\n",
    });
    expect(await run(ours("qts"), ["--version"])).toMatchObject({ code: 0, stdout: `qts ${VERSION}\n` });
  });

  test("qts NAME --help is NAME's help; no name or an unknown one is a usage error, 100", async () => {
    expect((await run(ours("qts"), ["svok", "--help"])).stdout).toStartWith("usage: svok dir\nsvok: tell whether");
    const none = await run(ours("qts"), []);
    expect(none.code).toBe(100);
    expect(none.stderr).toStartWith("qts: usage: qts program [ arg ... ]\nqts: programs: envdir ");
    const bad = await run(ours("qts"), ["nosuch", "x"]);
    expect(bad.code).toBe(100);
    expect(bad.stderr).toStartWith("qts: fatal: unknown program: nosuch\n");
  });

  test("--help among other arguments is not ours: the original's parsing decides", async () => {
    // svok reads only its first argument as the dir (svok.c): "--help" is a dir that is not there.
    const r = await run(ours("svok"), ["--help", "x"]);
    expect(r).toMatchObject({ code: 111, stderr: "svok: fatal: unable to chdir to --help: file does not exist\n" });
  });
});
