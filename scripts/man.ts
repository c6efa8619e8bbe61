// SPDX-License-Identifier: MIT
// make: turns the Markdown man pages doc/man/<name>.<section>.md into roff,
// build/man/man<section>/<name>.<section>, with marked-man, so that the
// pages are written once, in Markdown. The first line of a source is
// ronn's header, "# name(section) -- one-line description".
//
//   bun scripts/man.ts            render build/man
//   bun scripts/man.ts --index    rewrite the README's suite pages, doc/<suite>.md, from the headers
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Marked } from "marked";
import markedMan from "marked-man";

const root = resolve(import.meta.dir, "..");
const src = join(root, "doc", "man");
/** Where make puts the roff pages: man<section>/<name>.<section>. */
export const BUILT = join(root, "build", "man");
const out = BUILT;

/** The programs of a suite: its package's src/bin files. */
function programsIn(pkg: string): Set<string> {
  const dir = join(root, "packages", pkg, "src", "bin");
  return new Set(readdirSync(dir).flatMap((f) => (f.endsWith(".ts") ? [f.slice(0, -3)] : [])));
}

const DAEMONTOOLS = programsIn("daemontools");
const UCSPI = programsIn("ucspi-tcp");

export type Suite = "daemontools" | "ucspi-tcp" | "qmail";

/** The suite a page belongs to, by name (a program's, or a format's named after it): the manual title in the page header. */
export function suiteOf(name: string): Suite {
  if (name === "daemontools" || DAEMONTOOLS.has(name)) return "daemontools";
  if (name === "ucspi-tcp" || name === "tcp-environ" || UCSPI.has(name)) return "ucspi-tcp";
  return "qmail";
}

const HEADER = /^# ([a-z0-9][a-z0-9._@-]*)\(([1-8])\) -- (\S.*)$/;

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
  // marked escapes code spans for HTML and marked-man leaves the entities in; roff wants the characters.
  const ENTITY: Record<string, string> = { "&#39;": "'", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&amp;": "&" };
  return roff
    .replace(/^\.IP \\\(bu 2\n(.+):\n/gm, ".TP\n$1\n")
    .replace(/&(#39|quot|lt|gt|amp);/g, (e) => ENTITY[e] ?? e);
}

// The date of the last commit, not the build's: the same tree renders the same pages.
function sourceDate(): number {
  const r = Bun.spawnSync(["git", "-C", root, "log", "-1", "--format=%ct"], { stderr: "ignore" });
  const t = Number.parseInt(r.stdout.toString(), 10);
  return Number.isFinite(t) ? t * 1000 : Date.now();
}

const INTRO: Record<Suite, string> = {
  daemontools:
    "Service supervision and logging (daemontools 0.76): `svscan` starts a `supervise` per service directory, `svc` and `svstat` drive and read it, `multilog` keeps the logs. Overview: [daemontools(7)](man/daemontools.7.md).",
  "ucspi-tcp":
    "TCP servers and clients (ucspi-tcp 0.88): `tcpserver` runs a program per connection under the access rules that `tcprules` compiles. Overview: [ucspi-tcp(7)](man/ucspi-tcp.7.md).",
  qmail:
    "The mail transfer agent (netqmail 1.06): queue, local and remote delivery, SMTP, injection and their tools. Overview: [qmail(7)](man/qmail.7.md).",
};

/** doc/<suite>.md: one line per page of the suite, from its header, linking to the source. */
export function index(suite: Suite, pages = sources()): string {
  const lines = [
    `# ${suite}`,
    "",
    INTRO[suite],
    "",
    "Man pages (`man NAME` after `make setup`; the sources are linked):",
    "",
  ];
  const order = (p: Page) => (p.section === "1" || p.section === "8" ? 0 : 1);
  const mine = pages.filter((p) => suiteOf(p.name) === suite && p.section !== "7");
  mine.sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name));
  let formats = false;
  for (const p of mine) {
    if (order(p) === 1 && !formats) {
      lines.push("", "Files and formats:", "");
      formats = true;
    }
    const head = HEADER.exec(readFileSync(p.file, "utf8").split("\n", 1)[0] ?? "");
    lines.push(`- [${p.name}(${p.section})](man/${p.name}.${p.section}.md): ${head?.[3] ?? ""}`);
  }
  return `${lines.join("\n")}\n`;
}

export const SUITES: Suite[] = ["daemontools", "ucspi-tcp", "qmail"];

if (import.meta.main && process.argv[2] === "--index") {
  for (const s of SUITES) writeFileSync(join(root, "doc", `${s}.md`), index(s));
} else if (import.meta.main) {
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
  mkdirSync(join(root, "build"), { recursive: true });
  // Move the old tree aside first: another build may be renaming its own tree into place.
  const old = `${out}.old${process.pid}`;
  try {
    renameSync(out, old);
  } catch {}
  rmSync(old, { recursive: true, force: true });
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
}
