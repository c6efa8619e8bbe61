// SPDX-License-Identifier: MIT
// Library-level checks of qmail-local's pieces: mbox quoting against a
// line-by-line model of gfrom(), loop detection across read chunks, .qmail
// line parsing, header lines.
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseQmail, safeExt } from "@qts/qmail/lib/local/dotqmail";
import { extParts, headerLines, hostParts, quote2 } from "@qts/qmail/lib/local/local";
import { Message } from "@qts/qmail/lib/local/local-message";
import { maildirDeliver } from "@qts/qmail/lib/local/maildir";
import { FromQuoter, lockWithin, type Out } from "@qts/qmail/lib/local/mbox";
import { flock, LOCK_EX } from "@qts/sys/flock";
import fc from "fast-check";
import { tmp } from "../lib/harness.ts";

/** qmail-local's mailfile body loop, line by line: gfrom quoting, a final newline added. */
function model(msg: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < msg.length) {
    const nl = msg.indexOf(10, at);
    const line = nl < 0 ? msg.subarray(at) : msg.subarray(at, nl + 1);
    at += line.length;
    let i = 0;
    while (i < line.length && line[i] === 0x3e) i++;
    if (line.length - i >= 5 && line.subarray(i, i + 5).toString("latin1") === "From ") out.push(Buffer.from(">"));
    out.push(line);
    if (nl < 0) out.push(Buffer.from("\n"));
  }
  return Buffer.concat(out);
}

class Collect {
  parts: Buffer[] = [];
  put(b: Uint8Array, start = 0, end = b.length) {
    this.parts.push(Buffer.from(b.subarray(start, end)));
  }
  flush() {}
}

function quoteChunks(chunks: Buffer[]): Buffer {
  const c = new Collect();
  const q = new FromQuoter(c as unknown as Out);
  for (const ch of chunks) q.write(ch);
  q.end();
  return Buffer.concat(c.parts);
}

describe("mbox >From quoting", () => {
  const piece = fc.constantFrom("From ", "From", ">", ">>", "\n", "x", " ", "F", "r", "Fro", "om ", "\r\n");
  test("streamed quoting equals the line model for any text and any chunking", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(30), { maxLength: 10 }), (parts, cuts) => {
        const msg = Buffer.from(parts.join(""), "latin1");
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of cuts) {
          const end = Math.min(msg.length, at + c);
          chunks.push(msg.subarray(at, end));
          at = end;
        }
        chunks.push(msg.subarray(at));
        expect(quoteChunks(chunks).toString("latin1")).toBe(model(msg).toString("latin1"));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("loop detection reads the header in chunks", () => {
  const dt = Buffer.from("Delivered-To: joe@example.com\n");
  function check(text: string): string {
    const f = join(tmp(), "m");
    writeFileSync(f, text);
    const fd = openSync(f, "r");
    try {
      new Message(fd).checkLoop(dt);
      return "ok";
    } catch (e) {
      return (e as Error).message;
    } finally {
      closeSync(fd);
    }
  }
  const loop = "This message is looping: it already has my Delivered-To line. (#5.4.6)";

  test("found after a header line longer than a read chunk", () => {
    expect(check(`X-Long: ${"a".repeat(200_000)}\n${dt}\nbody\n`)).toBe(loop);
  });

  test("found when the line straddles a chunk boundary", () => {
    for (const pad of [65536 - 10, 65536 - 31, 65536 - 30, 65536]) {
      expect(check(`X: ${"a".repeat(pad - 4)}\n${dt}\n`)).toBe(loop);
    }
  });

  test("a longer line that starts like it, or one after the header, is not a loop", () => {
    expect(check(`Delivered-To: joe@example.com.evil\n\n`)).toBe("ok");
    expect(check(`X: y\n\n${dt}`)).toBe("ok");
    expect(check("Delivered-To: joe@example.com")).toBe("ok");
  });
});

describe(".qmail parsing", () => {
  test("line kinds, trailing blanks, NUL cut, missing final newline", () => {
    const got = parseQmail(Buffer.from("# c\n./mbox \t\n/abs/dir/\n|prog a\0b\n&fw@x\nbare@y\n+list\n+other\n\nlast"));
    expect(
      got.map((i) =>
        "path" in i
          ? `${i.kind}:${i.path}`
          : "command" in i
            ? `${i.kind}:${i.command}`
            : "address" in i
              ? `${i.kind}:${i.address}`
              : i.kind,
      ),
    ).toEqual([
      "comment",
      "mbox:./mbox",
      "maildir:/abs/dir/",
      "program:prog a",
      "forward:fw@x",
      "forward:bare@y",
      "list",
      "plus",
      "blank",
      "forward:last",
    ]);
  });

  test("safeExt lowercases ASCII and turns dots into colons", () => {
    expect(safeExt("Foo.BAR-../x")).toBe("foo:bar-::/x");
  });
});

describe("header lines and derived variables", () => {
  test("DTLINE, RPLINE and UFLINE", () => {
    const t = Date.UTC(1995, 8, 26, 4, 46, 54);
    expect(headerLines("joe", "example.com", "a@b", t)).toEqual({
      dtline: "Delivered-To: joe@example.com\n",
      rpline: "Return-Path: <a@b>\n",
      ufline: "From a@b Tue Sep 26 04:46:54 1995\n",
    });
    expect(headerLines("a\nb", "h", "", t).dtline).toBe("Delivered-To: a_b@h\n");
  });

  test("quote2", () => {
    expect(quote2("")).toBe("");
    expect(quote2("plain.name@x")).toBe("plain.name@x");
    expect(quote2("with space@x")).toBe('"with space"@x');
    expect(quote2("é@x")).toBe('"é"@x');
  });

  test("EXT2..4 and HOST2..4", () => {
    expect(extParts("a-b-c-d")).toEqual(["b-c-d", "c-d", "d"]);
    expect(extParts("a")).toEqual(["", "", ""]);
    expect(hostParts("a.b.c.d")).toEqual(["a.b.c", "a.b", "a"]);
    expect(hostParts("a.b")).toEqual(["a", "a", "a"]);
  });
});

describe("mbox locking", () => {
  test("a lock held too long ends with qmail-local's 30-second text (limit shortened here)", () => {
    const f = join(tmp(), "box");
    writeFileSync(f, "");
    // flock locks belong to open file descriptions: a second open conflicts even in this process.
    const held = openSync(f, "r");
    flock(held, LOCK_EX);
    const fd = openSync(f, "a");
    const t0 = Date.now();
    expect(() => lockWithin(fd, 400)).toThrow("File has been locked for 30 seconds straight. (#4.3.0)");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    closeSync(held);
    expect(lockWithin(fd, 2000)).toBe(true);
    closeSync(fd);
  });
});

describe("maildir time limit", () => {
  test("past the limit: Timeout on maildir delivery, nothing left behind", () => {
    const d = tmp();
    for (const s of ["tmp", "new", "cur"]) mkdirSync(join(d, s));
    const f = join(tmp(), "m");
    writeFileSync(f, "x".repeat(200_000));
    const fd = openSync(f, "r");
    const cwd = process.cwd();
    process.chdir(d);
    try {
      expect(() =>
        maildirDeliver(Buffer.from("./"), new Message(fd), Buffer.from("R\n"), Buffer.from("D\n"), { timeoutMs: -1 }),
      ).toThrow("Timeout on maildir delivery. (#4.3.0)");
      expect(readdirSync(join(d, "tmp"))).toEqual([]);
      expect(readdirSync(join(d, "new"))).toEqual([]);
      const name = maildirDeliver(Buffer.from("./"), new Message(fd), Buffer.from("R\n"), Buffer.from("D\n"));
      expect(readFileSync(join(d, name), "latin1")).toBe(`R\nD\n${"x".repeat(200_000)}`);
    } finally {
      process.chdir(cwd);
      closeSync(fd);
    }
  });
});
