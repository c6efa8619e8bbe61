// SPDX-License-Identifier: MIT
// passwd lines -> users/assign lines, as qmail-pw2u makes them (qmail-pw2u.c).
import { errnoName } from "@qts/core/errstr";
import { statSync } from "@qts/sys/fs";
import { AUTO_USERA } from "../conf.ts";
import { lowerAscii } from "../cscan.ts";

export interface Pw2uOptions {
  /** "-:" normally, "-/:" with -/ (the dash field of wildcard entries). */
  dashcolon: string;
  /** 2: skip users whose home is missing or not theirs; 1: fail on a missing home; 0: don't look. */
  homestrategy: 0 | 1 | 2;
  /** Skip names with uppercase letters (-U, the default; -u turns it off). */
  noupper: boolean;
  /** The break character for wildcard entries ("" with -C). */
  brk: string;
  include?: string[];
  exclude?: string[];
  /** users/mailnames lines: "user:name1:name2...". */
  mailnames?: string[];
}

/** A missing or unreadable home with homestrategy 1 (or an unreadable one with 2): "unable to stat HOME". */
export class HomeError extends Error {
  constructor(readonly home: string) {
    super(`unable to stat ${home}`);
  }
}

/** A subusers line naming an unknown user: "unable to find USER user for subuser". */
export class SubuserError extends Error {
  constructor(readonly user: string) {
    super(`unable to find ${user} user for subuser`);
  }
}

/** constmap: ASCII case-insensitive keys; a later entry hides an earlier one. */
export class ConstMap {
  private readonly m = new Map<string, string>();
  constructor(lines: readonly string[], colon: boolean) {
    for (const l of lines) {
      if (!colon) {
        this.m.set(lowerAscii(l), "");
        continue;
      }
      const c = l.indexOf(":");
      if (c < 0) continue;
      this.m.set(lowerAscii(l.slice(0, c)), l.slice(c + 1));
    }
  }
  get(k: string): string | undefined {
    return this.m.get(lowerAscii(k));
  }
  has(k: string): boolean {
    return this.m.has(lowerAscii(k));
  }
}

export class Pw2u {
  private readonly incl?: ConstMap;
  private readonly excl?: ConstMap;
  private readonly mana?: ConstMap;
  /** name -> ":user:uid:gid:home:" for subusers. */
  readonly users = new Map<string, string>();
  sawAlias = false;

  constructor(
    private readonly o: Pw2uOptions,
    private readonly alias = AUTO_USERA,
  ) {
    if (o.include) this.incl = new ConstMap(o.include, false);
    if (o.exclude) this.excl = new ConstMap(o.exclude, false);
    if (o.mailnames) this.mana = new ConstMap(o.mailnames, true);
  }

  /** doaccount(): the assign lines for one passwd line (with or without its newline); "" for a skipped account. */
  account(line: string): string {
    if (line.includes("\0")) return "";
    const f = line.split(":");
    // name:passwd:uid:gid:gecos:home:... (the home needs a colon after it)
    if (f.length < 7) return "";
    const [user, , uidstr, gidstr, , home] = f as [string, string, string, string, string, string];
    const m = /^\d+/.exec(uidstr);
    const uid = m ? Number(m[0]) : 0;
    if (!uid || !this.wanted(user) || !this.homeOk(home, uid)) return "";
    const uugh = `:${user}:${uidstr}:${gidstr}:${home}:`;
    // constmap_init with colons: the first entry for a name is found last, so a later one wins.
    this.users.set(lowerAscii(user), uugh);
    return this.accountLines(user, uugh);
  }

  /** doaccount's name checks: no uppercase (-U), in the include list if there is one, not in the exclude list. */
  private wanted(user: string): boolean {
    if (this.o.noupper && /[A-Z]/.test(user)) return false;
    if (this.incl && !this.incl.has(user)) return false;
    return !this.excl?.has(user);
  }

  /**
   * doaccount's home check (-h, -H): with homestrategy, the home must be owned by uid; a missing one skips
   * the account under 2 and is fatal under 1, any other stat error is fatal (HomeError).
   */
  private homeOk(home: string, uid: number): boolean {
    if (!this.o.homestrategy) return true;
    let owner: number;
    try {
      owner = statSync(home).uid;
    } catch (e) {
      if (errnoName(e) !== "ENOENT" || this.o.homestrategy === 1) throw new HomeError(home);
      return false;
    }
    return owner === uid;
  }

  /** doaccount's output: the alias user's wildcard line, then for each mail name its "=" and "+" lines. */
  private accountLines(user: string, uugh: string): string {
    let out = "";
    if (user === this.alias) {
      out += `+${uugh}${this.o.dashcolon}:\n`;
      this.sawAlias = true;
    }
    const names = this.mana?.get(user) ?? user;
    for (const n of names.split(":")) {
      if (n === "") continue;
      out += `=${n}${uugh}::\n`;
      if (this.o.brk) out += `+${n}${this.o.brk}${uugh}${this.o.dashcolon}:\n`;
    }
    return out;
  }

  /** The assign lines for one users/subusers line "sub:user:pre:". */
  subuser(line: string): string {
    // sub:user:pre: -- each field counts only when a colon follows it.
    const f = line.split(":");
    if (f.length < 3) return "";
    const sub = f[0] as string;
    const uugh = this.users.get(lowerAscii(f[1] as string));
    if (uugh === undefined) throw new SubuserError(f[1] as string);
    if (f.length < 4) return "";
    const pre = f[2] as string;
    let out = `=${sub}${uugh}${this.o.dashcolon}${pre}:\n`;
    if (this.o.brk) out += `+${sub}${this.o.brk}${uugh}${this.o.dashcolon}${pre}-:\n`;
    return out;
  }
}
