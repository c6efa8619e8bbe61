// SPDX-License-Identifier: MIT
// The man pages quote our programs' exact texts: diagnostics, usage lines, SMTP replies, qmail-send's
// log lines, svstat's forms, reports and bounce texts. Each quoted text (a code span with its *italic*
// metavariables, or an example line in a code block) must still be what the code says: its literal
// pieces must occur in the string literals of the program's source and the libraries it imports,
// and every usage line must be what the program prints. CLAIMS_LIST=1 lists what is checked.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Lexer, type Token, type Tokens } from "marked";
import ts from "typescript";
import { ROOT, run, tmp } from "../lib/harness.ts";

const DOC = join(ROOT, "doc/man");
const PAGES = readdirSync(DOC)
  .filter((f) => f.endsWith(".md"))
  .sort();
const SUITES = ["daemontools", "ucspi-tcp", "qmail"];
const PROGRAMS = SUITES.flatMap((s) =>
  readdirSync(join(ROOT, "packages", s, "src/bin")).map((f) => f.replace(/\.ts$/, "")),
);

// Texts that cannot be checked against a literal, each with the reason. Key: page, then the claim.
const EXCEPTIONS: Record<string, string> = {
  // Examples with a concrete value where the message has the directory, file or host name.
  "config.8.md Your hostname is box.": "example host box",
  "config.8.md Putting example.org into control/plusdomain*...*": "example domain",
  "qmail-showctl.8.md user-ext delimiter: -.": "the compiled-in delimiter, a constant",
  "multilog.8.md multilog: fatal: unable to lock directory ./main: temporary failure": "example ./main",
  "setlock.8.md setlock: fatal: unable to lock lk: temporary failure": "example file lk",
  // Not ours: the greeting of a server that refuses mail, as qmail-remote meets it.
  "qmail-remote.8.md 554 no SMTP service here": "a remote server's reply",
  // C qmail-send's lines that the page says ours never logs.
  "qmail-log.5.md warning: trouble in select": "named as absent",
  "qmail-log.5.md alert: unable to switch back": "named as absent",
};

/** packages/<suite>/src/bin/<name>.ts, or undefined. */
function binFile(name: string): string | undefined {
  for (const s of SUITES) {
    const f = join(ROOT, "packages", s, "src/bin", `${name}.ts`);
    if (existsSync(f)) return f;
  }
  return undefined;
}

// ---- the sources: every string literal, per file, in order, with the files a program imports.

interface Src {
  /** The file's literals joined by \u0001, so a text may run across adjacent literals (die's parts). */
  stream: string;
  imports: string[];
}
const srcCache = new Map<string, Src>();

function resolveImport(from: string, spec: string): string | undefined {
  let f: string;
  if (spec.startsWith(".")) f = resolve(dirname(from), spec);
  else {
    const m = /^@qts\/([^/]+)\/(.+)$/.exec(spec);
    if (!m) return undefined;
    f = join(ROOT, "packages", m[1] as string, "src", m[2] as string);
  }
  if (!f.endsWith(".ts")) f += ".ts";
  return existsSync(f) ? f : undefined;
}

function source(file: string): Src {
  const hit = srcCache.get(file);
  if (hit) return hit;
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const lits: string[] = [];
  const imports: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      const spec = (n.moduleSpecifier as ts.StringLiteral).text;
      const f = resolveImport(file, spec);
      if (f) imports.push(f);
      return;
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      const f = a && ts.isStringLiteral(a) ? resolveImport(file, a.text) : undefined;
      if (f) imports.push(f);
      return;
    }
    if (
      ts.isStringLiteral(n) ||
      ts.isNoSubstitutionTemplateLiteral(n) ||
      ts.isTemplateHead(n) ||
      ts.isTemplateMiddle(n) ||
      ts.isTemplateTail(n)
    )
      lits.push(n.text);
    n.forEachChild(visit);
  };
  visit(sf);
  const s = { stream: lits.join("\u0001"), imports };
  srcCache.set(file, s);
  return s;
}

/** A program's file and everything it imports from our packages, transitively. */
function closure(files: string[]): string[] {
  const seen = new Set<string>();
  const todo = [...files];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...source(f).imports);
  }
  return [...seen];
}

const ALL_SOURCES = SUITES.flatMap((s) => {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(".ts")) files.push(join(d, e.name));
    }
  };
  walk(join(ROOT, "packages", s, "src"));
  return files;
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether text occurs in the literals of files, allowing it to run across adjacent literals. */
function inSources(text: string, files: string[]): boolean {
  const re = new RegExp([...text].map(escapeRe).join("\u0001*"));
  return files.some((f) => re.test(source(f).stream)) || composed(text, files);
}

const pooled = new Map<string, string>();

/**
 * Whether text is a run of pieces of literals joined where a literal ends: how code builds a message
 * from a template and the values it is given (`unable to run ${what}` with "qmail-qread",
 * "451 " + "Zqq read error".slice(1), join(dir, "lock")).
 */
function composed(text: string, files: string[]): boolean {
  const key = files.join("\n");
  let pool = pooled.get(key);
  if (pool === undefined) {
    pool = `\u0001${files.map((f) => source(f).stream).join("\u0001")}\u0001`;
    pooled.set(key, pool);
  }
  const p = pool;
  const n = text.length;
  // reach[i]: a piece ends at i at the end of a literal, where the code puts in a value (or i is 0).
  // The first piece is the end of a literal of 3 characters or more, or a whole literal (svstat's
  // `${dir}: ${show(dir)}`); the others a whole literal (a value such as "qmail-qread"), a literal's
  // start of 4 characters or more, or 8 characters or more of one.
  // Only the last piece may stop inside a literal.
  const reach = new Uint8Array(n + 1);
  reach[0] = 1;
  for (let i = 0; i < n; i++) if (reach[i]) reachFrom(p, text, i, reach);
  return reach[n] !== 0;
}

/** Marks in reach each end j of a piece of text that starts at i, in the literals' pool p (composed()). */
function reachFrom(p: string, text: string, i: number, reach: Uint8Array): void {
  const n = text.length;
  if (text[i] === "/" && i > 0) reach[i + 1] = 1; // a path joined by path.join
  for (let j = i + 1; j <= n; j++) {
    const seg = text.slice(i, j);
    if (!p.includes(seg)) break;
    if (j < n && !p.includes(`${seg}\u0001`)) continue;
    if (pieceOk(p, seg, i === 0, j === n)) reach[j] = 1;
  }
}

/** Whether seg, ending a literal (or text), may be a piece: the first, a later one, or the last. */
function pieceOk(p: string, seg: string, first: boolean, last: boolean): boolean {
  const whole = p.includes(`\u0001${seg}\u0001`);
  if (first) return seg.length >= 3 || (whole && seg.length >= 2);
  const starts = p.includes(`\u0001${seg}`);
  return seg.length >= 8 || (whole && seg.length >= 2) || (starts && (seg.length >= 4 || last));
}

// DJB's error_str wordings: dieSys/warnSys append ": <one of these>" to the literal parts.
const ERRSTR = new Set(
  source(join(ROOT, "packages/core/src/errstr.ts"))
    .stream.split("\u0001")
    .filter((s) => / /.test(s)),
);

/** The piece of text not found, or undefined when every piece is there. */
function missingPiece(piece: string, files: string[]): string | undefined {
  const p = piece.trim();
  if (p === "" || inSources(p, files)) return undefined;
  const m = /^(.*): ([^:]+?)\.?$/.exec(p);
  if (m && ERRSTR.has(m[2] as string)) return missingPiece(m[1] as string, files);
  // dieSys/warnSys add the ": " before the error; a path is joined to the directory before it.
  if (p.endsWith(":") && missingPiece(p.slice(0, -1), files) === undefined) return undefined;
  if (p.startsWith("/") && missingPiece(p.slice(1), files) === undefined) return undefined;
  return p;
}

// ---- the claims in the pages.

type Part = { lit: string } | { meta: string; upper?: boolean };
interface Claim {
  page: string;
  line: number;
  text: string;
  parts: Part[];
}

// Placeholders written in capitals in a few pages (`svc: warning: unable to control DIR: ...`).
const UPPER_META = /\b(DIR|FILE|NAME|PID|HOST|ADDR|ERROR|REASON)\b|\.\.\./g;

function splitUpper(s: string): Part[] {
  const out: Part[] = [];
  let at = 0;
  for (const m of s.matchAll(UPPER_META)) {
    out.push({ lit: s.slice(at, m.index) }, { meta: m[0], upper: true });
    at = (m.index as number) + m[0].length;
  }
  out.push({ lit: s.slice(at) });
  return out;
}

// In an example (a code block) the values are concrete: numbers, addresses, paths stand for the metavariables.
function values(line: string): Part[] {
  // An SMTP reply's code and its (#5.7.1) are text, not values.
  const code = /^[2345]\d\d[- ]?/.exec(line)?.[0] ?? "";
  const out: Part[] = [{ lit: code }];
  let at = code.length;
  for (const m of line.slice(at).matchAll(/[^\s:]*([0-9@<>/=]|\w\.\w)[^\s:]*/g)) {
    if (/^\(#\d\.\d\.\d+\)\.?$/.test(m[0])) continue;
    const i = (m.index as number) + code.length;
    out.push(...splitUpper(line.slice(at, i)), { meta: m[0] });
    at = i + m[0].length;
  }
  out.push(...splitUpper(line.slice(at)));
  return out;
}

function unescapeHtml(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

function text(parts: Part[]): string {
  return parts.map((p) => ("lit" in p ? p.lit : `*${p.meta}*`)).join("");
}

/** Runs of code spans and italics (with only spaces between) in a list of inline tokens. */
function runs(tokens: Token[]): { parts: Part[]; raw: string }[] {
  const out: { parts: Part[]; raw: string }[] = [];
  let cur: Part[] = [];
  let raw = "";
  const flush = (): void => {
    while (cur.length > 0 && "lit" in (cur.at(-1) as Part) && (cur.at(-1) as { lit: string }).lit.trim() === "")
      cur.pop();
    if (cur.some((p) => "lit" in p)) out.push({ parts: cur, raw });
    cur = [];
    raw = "";
  };
  let prev = "";
  for (const t of tokens) {
    // Two code spans with only a space between are two quotes.
    if (t.type === "codespan" && prev === "codespan") flush();
    if (t.type !== "text" || !/^\s+$/.test(t.raw)) prev = t.type;
    const part = runPart(t, cur);
    if (part === false) {
      flush();
      continue;
    }
    if (t.type === "codespan" && cur.length === 0) raw = t.raw;
    cur.push(...part);
  }
  flush();
  return out;
}

/** What token t adds to the run cur, or false when it ends the run. */
function runPart(t: Token, cur: Part[]): Part[] | false {
  if (t.type === "codespan") return splitUpper(unescapeHtml((t as Tokens.Codespan).text));
  if (t.type === "em") return cur.length > 0 ? [{ meta: (t as Tokens.Em).text }] : [];
  if (t.type === "text" && cur.length > 0 && /^\s+$/.test(t.raw)) return [{ lit: " " }];
  if (t.type === "text" && cur.length > 0 && t.raw === "'") return [{ lit: "'" }]; // some pages write `isn`'`t`
  return false;
}

function claimsOf(page: string): Claim[] {
  const md = readFileSync(join(DOC, page), "utf8");
  const lineAt = (i: number): number => (i < 0 ? 0 : md.slice(0, i).split("\n").length);
  // A list item's raw text has lost its indentation: find a multi-line span by its first line.
  const find = (raw: string, base: number): number => md.indexOf(raw.split("\n")[0] as string, base);
  const out: Claim[] = [];
  let offset = 0;
  const add = (parts: Part[], at: number): void => {
    // Merge adjacent literals; a claim starts with literal text.
    const merged: Part[] = [];
    for (const p of parts) {
      const last = merged.at(-1);
      if (last && "lit" in last && "lit" in p) last.lit += p.lit;
      else merged.push({ ...p });
    }
    out.push({ page, line: lineAt(at), text: text(merged).trim(), parts: merged });
  };
  // An example's lines, each found in the page from base on.
  const code = (t: Tokens.Code, base: number): void => {
    let at = base;
    for (const l of t.text.split("\n")) {
      at = md.indexOf(l, at);
      add(values(l), at);
    }
  };
  const walk = (tokens: Token[], base: number): void => {
    for (const t of tokens) {
      const inner = (t as { tokens?: Token[] }).tokens;
      if (t.type === "code") code(t as Tokens.Code, base);
      else if (t.type === "list") {
        for (const item of (t as Tokens.List).items) walk(item.tokens, find(item.raw, base));
      } else if (inner) {
        for (const r of runs(inner)) add(r.parts, find(r.raw, base));
        walk(
          inner.filter((x) => x.type === "list" || x.type === "code" || x.type === "paragraph"),
          base,
        );
      }
    }
  };
  for (const t of new Lexer().lex(md)) {
    walk([t], offset);
    offset += t.raw.length;
  }
  return out;
}

// ---- which claims are checked, and against what.

// "prog: fatal: ...", and any other line a program starts with its name (tcpserver's "tcpserver: pid").
const DIAG = /^([a-z0-9-]+): (fatal:( |$)|warning: |usage:( |$)|alert: |info: |)/;
// svstat's output forms (svstat(8)).
const SVSTAT = /^(, |(: )?up \(pid|(: )?down|normally |supervise not running|unable to|bad format)/;
const SMTP = /^[2345]\d\d[ -]\S/;
// qmail-send's log lines (qmail-log(5)).
const SENDLOG =
  /^(new msg|info msg|starting delivery|delivery|status: |end msg|bounce msg|triple bounce|alert: |warning: )/;

// qmail-log(5) quotes only log lines, and the commands and files that write or hold them.
const COMMAND = new RegExp(`^(\\$|/|var/|(make|grep|${PROGRAMS.join("|")})( |$))`);

// Other texts programs print: qmail-local's and qmail-lspawn's reports, bounce messages, config's
// and qmail-showctl's chatter, qmail-tcpto's and qmail-qstat's lines, tcpserver's DNS errors, svc's help.
const OUTPUT = new RegExp(
  "^(Unable to |Uh-oh: |Oops! |Not allowed |NFS failure|Temporary failure |Error report |Hi\\. This is |--- Below |" +
    "I tried to |I'm not going |Your |Checking local |PTR lookup |Sorry, I |You will |Now qmail |Make sure |" +
    "If there are |you will have |You don't |Home directory is |File has been |bad format |messages in queue|" +
    "failed (on|after) |Zqmail-remote |SMTP clients |Modified recently|: I have no idea|no IP address|" +
    "temporarily unable |set environment |timed out |Received: \\(qmail |Adding |svc options: |Putting |Copying |" +
    "Aack, |Trouble reading |ZNFS |invoked (from|for|by) |lost qmail-clean |MAIL(DIR|TMP) not set|" +
    "qmail home directory: |user-ext delimiter: |paternalism |silent concurrency |subdirectory split: |" +
    "(user|group) ids: |K$)",
);

interface Check {
  claim: Claim;
  kind: "diag" | "usage" | "smtp" | "log" | "form" | "own";
  prog?: string;
  files: string[];
}

/** A usage line's "..." and capitals are its own text, not placeholders. */
function literal(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const p of parts) {
    const q = "meta" in p && p.upper ? { lit: p.meta } : p;
    const last = out.at(-1);
    if (last && "lit" in last && "lit" in q) out[out.length - 1] = { lit: last.lit + q.lit };
    else out.push(q);
  }
  return out;
}

/** The programs of a page's SEE ALSO. */
function seeAlso(page: string): string[] {
  const md = readFileSync(join(DOC, page), "utf8");
  const sec = md.slice(md.indexOf("## SEE ALSO"));
  return [...sec.matchAll(/([a-z0-9-]+)\([18]\)/g)].map((m) => m[1] as string).filter((n) => binFile(n));
}

function pageProgram(page: string): string | undefined {
  const m = /^(.+)\.([158])\.md$/.exec(page);
  return m && binFile(m[1] as string) ? m[1] : undefined;
}

/** A "prog: ..." claim (DIAG matched as d) of a page about own: a usage or diag check. */
function diagCheck(c: Claim, d: RegExpExecArray, own: string | undefined): Check {
  const prog = d[1] as string;
  const f = binFile(prog);
  // A page may quote a program it runs (datemail(1) quotes predate's messages).
  const files = f ? closure(own ? [f, binFile(own) as string] : [f]) : [];
  if (d[2]?.startsWith("usage")) return { claim: { ...c, parts: literal(c.parts) }, kind: "usage", prog, files };
  return { claim: c, kind: "diag", prog, files };
}

/** Whether a claim whose first literal is first, on page, is one of qmail-send's log lines. */
function isLogLine(page: string, first: string): boolean {
  if (page === "qmail-log.5.md") return !COMMAND.test(first);
  if (page === "qmail-send.8.md") return SENDLOG.test(first);
  return /^(alert: |triple bounce|delivery \d+: )/.test(first);
}

/**
 * A program page's "unable to" texts, qmail-remote's and qmail-local's reports, bounce texts
 * (not a .qmail line's own text for bouncesaying), and the other output OUTPUT lists.
 */
function isOwnText(c: Claim, own: string | undefined, first: string, lead: string): boolean {
  return (
    (own !== undefined && /^(unable to |fatal: |warning: |Warning: |[KZD][A-Z][a-z])/.test(first)) ||
    (/\(#\d\.\d\.\d+\)/.test(c.text) && !first.startsWith("|")) ||
    OUTPUT.test(lead)
  );
}

/** The check of claim c on page (a page about program own, whose texts are in ownFiles), if any. */
function checkOf(c: Claim, page: string, own: string | undefined, ownFiles: string[]): Check | undefined {
  const first = "lit" in (c.parts[0] as Part) ? (c.parts[0] as { lit: string }).lit : "";
  // An example line may start with a value (`192.0.2.7 timed out ...`).
  const lead =
    (c.parts.find((p) => "lit" in p && p.lit.trim() !== "") as { lit: string } | undefined)?.lit.trimStart() ?? "";
  const d = DIAG.exec(first);
  if (d && binFile(d[1] as string)) return diagCheck(c, d, own);
  if (SMTP.test(c.text)) return { claim: c, kind: "smtp", files: ownFiles };
  if (isLogLine(page, first)) return { claim: c, kind: "log", files: closure([binFile("qmail-send") as string]) };
  if (page === "svstat.8.md" && SVSTAT.test(lead)) return { claim: c, kind: "form", files: ownFiles };
  if (isOwnText(c, own, first, lead)) return { claim: c, kind: "own", files: ownFiles };
  return undefined;
}

function checks(): Check[] {
  const out: Check[] = [];
  for (const page of PAGES) {
    const own = pageProgram(page);
    // A program page may quote the programs it works with (its SEE ALSO): qmail-rspawn's reports
    // about qmail-remote, for instance.
    const ownFiles = own ? closure([own, ...seeAlso(page)].map((p) => binFile(p) as string)) : ALL_SOURCES;
    for (const c of claimsOf(page)) {
      const ch = checkOf(c, page, own, ownFiles);
      if (ch) out.push(ch);
    }
  }
  return out;
}

const CHECKS = checks();

/** The literal pieces of a claim, without the "prog: fatal: " prefix die() adds. */
function pieces(ch: Check): string[] {
  const lits = ch.claim.parts.filter((p): p is { lit: string } => "lit" in p).map((p) => p.lit);
  // die() and warn() write "prog: fatal: "; getopt ends "illegal option -- " with the letter.
  if (ch.kind === "diag") lits[0] = (lits[0] as string).replace(DIAG, "").replace(/( --) ?\S?$/, "$1");
  if (ch.kind === "own") lits[0] = (lits[0] as string).replace(/^(fatal|warning): /, "");
  // A line quoted with its numbers (`status: local 0/10 remote 0/20`) is an example.
  if (ch.kind === "log" || ch.kind === "form") return lits.flatMap((l) => l.split(/\S*\d\S*/));
  return lits;
}

test("the pages quote program texts (sanity of the extraction)", () => {
  if (process.env.CLAIMS_LIST)
    for (const c of CHECKS) console.log(c.kind, `${c.claim.page}:${c.claim.line}:`, c.claim.text);
  expect(CHECKS.length).toBeGreaterThan(200);
  expect(CHECKS.filter((c) => c.kind === "usage").length).toBeGreaterThan(15);
});

test("every exception still names a quoted text", () => {
  const quoted = new Set(CHECKS.map((c) => `${c.claim.page} ${c.claim.text}`));
  expect(Object.keys(EXCEPTIONS).filter((k) => !quoted.has(k))).toEqual([]);
});

describe("every quoted text is in the program's sources", () => {
  test.each(["diag", "smtp", "log", "form", "own"])("%s", (kind) => {
    const bad: string[] = [];
    for (const ch of CHECKS.filter((c) => c.kind === kind)) {
      const where = `${ch.claim.page}:${ch.claim.line}: ${ch.claim.text}`;
      if (EXCEPTIONS[`${ch.claim.page} ${ch.claim.text}`] !== undefined) continue;
      if (ch.prog !== undefined && ch.files.length === 0) {
        bad.push(`${where}\n    no program ${ch.prog}`);
        continue;
      }
      for (const p of pieces(ch)) {
        const miss = missingPiece(p, ch.files);
        if (miss !== undefined) bad.push(`${where}\n    not found: "${miss}"`);
      }
    }
    expect(bad.join("\n")).toBe("");
  });
});

// Arguments that make each program print its usage line (most: none at all).
const USAGE_ARGS: Record<string, string[]> = { config: ["x"], sendmail: ["-bz"] };

describe("every usage line is what the program prints", () => {
  const home = tmp();
  const progs = [...new Set(CHECKS.filter((c) => c.kind === "usage").map((c) => c.prog as string))].sort();
  test.each(progs)("%s", async (prog) => {
    const r = await run(join(ROOT, "bin", prog), USAGE_ARGS[prog] ?? [], {
      cwd: home,
      env: { QMAILHOME: home },
      input: "",
      timeout: 5000,
    });
    const printed = r.stderr.split("\n").find((l) => l.includes(": usage: ")) ?? r.stderr;
    const bad: string[] = [];
    for (const ch of CHECKS.filter((c) => c.kind === "usage" && c.prog === prog)) {
      const lits = pieces(ch);
      const whole = ch.claim.parts.length === 1 && !/: usage:$/.test(lits[0] as string);
      // A whole usage line must be equal; one with metavariables or cut after "usage:" a prefix.
      const ok = whole ? printed === lits[0] : printed.startsWith((lits[0] as string).trimEnd());
      if (!ok) bad.push(`${ch.claim.page}:${ch.claim.line}: ${ch.claim.text}\n    printed: ${printed}`);
    }
    expect(bad.join("\n")).toBe("");
    expect(r.code).not.toBe(0);
  });
});
