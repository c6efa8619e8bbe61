// SPDX-License-Identifier: MIT
// control/ files, read as qmail's control.c does (qmail-control(5)): trailing
// spaces, tabs and newlines stripped; multi-line files skip blank and #-lines.
import { join } from "@qts/core/path";
import { readFileIfExists } from "@qts/sys/fs";
import { scanUlong } from "./cscan.ts";

// control.c's striptrailingwhitespace: newline, space and tab only (a CR stays). A loop, not a
// regular expression: most starts read a control file, and a program's first regular expression
// costs it about 20 page faults (BENCHMARKS.md, "Start-up: lazy modules").
function stripTrailing(s: string): string {
  let end = s.length;
  for (; end > 0; end--) {
    const c = s.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a) break;
  }
  return end === s.length ? s : s.slice(0, end);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Byte-preserving decode: control files may hold any bytes. */
function latin1(b: Buffer): string {
  return b.toString("latin1");
}

export class Control {
  private meCache: string | undefined | null = null;

  constructor(readonly home: string) {}

  path(name: string): string {
    return join(this.home, "control", name);
  }

  /** control_readline: the first line, trailing whitespace stripped; undefined if the file is missing. */
  line(name: string): string | undefined {
    // Most control files are missing at most sites: readFileIfExists makes no error object for those.
    const b = readFileIfExists(this.path(name));
    if (b === undefined) return undefined;
    const s = latin1(b);
    const nl = s.indexOf("\n");
    return stripTrailing(nl < 0 ? s : s.slice(0, nl));
  }

  /** control/me, read once (control_init). */
  me(): string | undefined {
    if (this.meCache === null) this.meCache = this.line("me");
    return this.meCache;
  }

  /**
   * control_rldef: the first line of name; if missing, control/me when
   * useMe, else def. An empty first line counts as present.
   */
  lineDefault(name: string, useMe: boolean, def: string): string {
    const v = this.line(name);
    if (v !== undefined) return v;
    if (useMe) {
      const me = this.me();
      if (me !== undefined) return me;
    }
    return def;
  }

  /** control_readint into a C int: the leading decimal of the first line, wrapped to 32 bits signed; def when missing or no digits. */
  int(name: string, def: number): number {
    const v = this.line(name);
    if (v === undefined || !isDigit(v.charCodeAt(0))) return def; // "": NaN, not a digit
    return Number(BigInt.asIntN(32, scanUlong(v)));
  }

  /** control_readfile: every non-blank line that does not start with #; undefined if missing. */
  lines(name: string): string[] | undefined {
    const b = readFileIfExists(this.path(name));
    if (b === undefined) return undefined;
    const out: string[] = [];
    for (const raw of latin1(b).split("\n")) {
      const l = stripTrailing(raw);
      if (l === "" || l.startsWith("#")) continue;
      out.push(l);
    }
    return out;
  }
}
