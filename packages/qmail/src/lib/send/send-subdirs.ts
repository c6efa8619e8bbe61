// SPDX-License-Identifier: MIT
// Reading the queue's directories one entry per call, so that qmail-send's
// loop does a little of each job per turn: readsubdir.c for the split
// directories (info at start-up, mess for the cleanups) and the readdir part
// of qmail-send.c's todo_do() for todo, which is not split.
import { type Dir, opendirSync } from "@qts/sys/fs";
import { AUTO_SPLIT } from "../conf.ts";

/** What next() found: an entry with a numeric name, the end, nothing this call, or a name that is not a number. */
export enum Entry {
  /** readsubdir_next() 1: id holds the entry's number. */
  ID = 1,
  /** readsubdir_next() 0: every subdirectory read. */
  END = 0,
  /** readsubdir_next() -1: a directory was opened or closed, no entry this call. */
  NONE = -1,
  /** readsubdir_next() -2: a name that is not all digits (qmail's own files are numbers). */
  JUNK = -2,
}

/** One open directory's entries. */
export class NumberedDir {
  private dir: Dir | null = null;
  /** The last entry's number when next() said ID. */
  id = 0;

  get isOpen(): boolean {
    return this.dir !== null;
  }

  /** opendir(); false when it fails. */
  open(path: string): boolean {
    try {
      this.dir = opendirSync(path);
      return true;
    } catch {
      return false;
    }
  }

  /** readdir(): ID (this.id set), JUNK, or NONE once the directory is read to its end and closed. */
  next(): Entry {
    const dir = this.dir as Dir;
    let d: ReturnType<Dir["readSync"]>;
    try {
      d = dir.readSync();
    } catch {
      d = null;
    }
    if (!d) {
      try {
        dir.closeSync();
      } catch {}
      this.dir = null;
      return Entry.NONE;
    }
    if (!/^\d+$/.test(d.name)) return Entry.JUNK;
    this.id = Number(d.name);
    return Entry.ID;
  }
}

/** readsubdir.c: walks name/0 .. name/22, one entry per call; a directory that will not open is retried after pause. */
export class ReadSubdir {
  private pos = 0;
  private readonly dir = new NumberedDir();
  constructor(
    private readonly name: string,
    private readonly pause: (d: string) => void,
  ) {}

  /** The last entry's number when next() said ID. */
  get id(): number {
    return this.dir.id;
  }

  /** readsubdir_next(). */
  next(): Entry {
    if (this.dir.isOpen) return this.dir.next();
    if (this.pos >= AUTO_SPLIT) return Entry.END;
    const dn = `${this.name}/${this.pos}`;
    while (!this.dir.open(dn)) this.pause(dn);
    this.pos++;
    return Entry.NONE;
  }
}
