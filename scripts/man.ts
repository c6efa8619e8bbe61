// SPDX-License-Identifier: MIT
// make: turns the Markdown man pages doc/man/<name>.<section>.md into roff,
// build/man/man<section>/<name>.<section>, with marked-man (spec/user-asks.md:
// "ship man pages generated from Markdown"). The first line of a source is
// ronn's header, "# name(section) -- one-line description".
//
//   bun scripts/man.ts
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Marked } from "marked";
import markedMan from "marked-man";

const root = resolve(import.meta.dir, "..");
const src = join(root, "doc", "man");
const out = join(root, "build", "man");

/** The suite a page belongs to, by name: the manual title in the page header. */
export const DAEMONTOOLS = new Set([
  "envdir",
  "envuidgid",
  "fghack",
  "multilog",
  "pgrphack",
  "readproctitle",
  "setlock",
  "setuidgid",
  "softlimit",
  "supervise",
  "svc",
  "svok",
  "svscan",
  "svscanboot",
  "svstat",
  "tai64n",
  "tai64nlocal",
]);

export function suiteOf(name: string): "daemontools" | "ucspi-tcp" | "qmail" {
  if (DAEMONTOOLS.has(name) || name.startsWith("supervise-") || name.startsWith("multilog-")) return "daemontools";
  if (name.startsWith("tcp")) return "ucspi-tcp";
  return "qmail";
}

const HEADER = /^# ([a-z0-9][a-z0-9._-]*)\(([1-8])\) -- (\S.*)$/;

export interface Page {
  name: string;
  section: string;
  file: string;
}

export function sources(dir = src): Page[] {
  if (!existsSync(dir)) return [];
  const pages: Page[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(.+)\.([1-8])\.md$/.exec(f);
    if (m?.[1] && m[2]) pages.push({ name: m[1], section: m[2], file: join(dir, f) });
  }
  return pages;
}

export function render(page: Page, text: string, version: string, date: number): string {
  const first = text.slice(0, text.indexOf("\n"));
  const h = HEADER.exec(first);
  if (!h || h[1] !== page.name || h[2] !== page.section)
    throw new Error(`${page.file}: first line must be "# ${page.name}(${page.section}) -- description"`);
  const marked = new Marked();
  // marked-man keeps source line breaks by default; ours are wrapped source lines.
  marked.use(markedMan, { breaks: false, gfm: true });
  const roff = marked.parse(text, {
    // @ts-expect-error marked-man's own options
    manVersion: `qmail-ts ${version}`,
    manual: suiteOf(page.name),
    date,
  }) as string;
  // A list item whose first source line ends in ":" is a term and its text: a tagged paragraph.
  return roff.replace(/^\.IP \\\(bu 2\n(.+):\n/gm, ".TP\n$1\n");
}

// The date of the last commit, not the build's: the same tree renders the same pages.
function sourceDate(): number {
  const r = Bun.spawnSync(["git", "-C", root, "log", "-1", "--format=%ct"], { stderr: "ignore" });
  const t = Number.parseInt(r.stdout.toString(), 10);
  return Number.isFinite(t) ? t * 1000 : Date.now();
}

if (import.meta.main) {
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
  const date = sourceDate();
  const tmp = `${out}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  let bad = 0;
  for (const page of sources()) {
    const dir = join(tmp, `man${page.section}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(
        join(dir, `${page.name}.${page.section}`),
        render(page, readFileSync(page.file, "utf8"), version, date),
      );
    } catch (e) {
      process.stderr.write(`man: ${(e as Error).message}\n`);
      bad++;
    }
  }
  if (bad) {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(1);
  }
  mkdirSync(tmp, { recursive: true });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(root, "build"), { recursive: true });
  renameSync(tmp, out);
}
