// SPDX-License-Identifier: MIT
// sys/fs.ts against node:fs: the same calls on the same files give the same
// results, the same effects and the same errors (code, errno, syscall, path,
// dest, message). A program swaps one import for the other, so any difference
// here is a difference in every program.
import { describe, expect, test } from "bun:test";
import * as node from "node:fs";
import { join } from "node:path";
import * as ours from "@qts/sys/fs";
import { run, runSync, tmp } from "../lib/harness.ts";

// Both modules through our signatures (node:fs's overloads do not unite with ours into callable types).
type Fs = typeof ours;
const nodeFs = node as unknown as Fs;

/** Runs f for its effect: "ok", or what it threw. */
const done = (f: () => unknown) => () => {
  f();
  return "ok";
};

/** What a call did: its value, or the error's fields. */
function outcome(f: () => unknown): unknown {
  try {
    return { value: f() };
  } catch (e) {
    const o = e as { code?: string; errno?: number; syscall?: string; path?: string; dest?: string; message: string };
    // node:fs's argument checks (ERR_OUT_OF_RANGE, ...) word their messages their own way: the code is what counts.
    const message = o.code?.startsWith("ERR_") ? undefined : o.message;
    return { code: o.code, errno: o.errno, syscall: o.syscall, path: o.path, dest: o.dest, message };
  }
}

/** Runs f with each module in a fresh directory of its own, named alike (the results mention paths). */
function both(setup: (d: string) => void, f: (fs: Fs, d: string) => unknown): [unknown, unknown] {
  const base = tmp();
  const r: unknown[] = [];
  for (const fs of [ours, nodeFs]) {
    const d = join(base, "d");
    node.rmSync(d, { recursive: true, force: true });
    node.mkdirSync(d);
    setup(d);
    r.push(outcome(() => f(fs, d)));
  }
  return [r[0], r[1]];
}

function same(setup: (d: string) => void, f: (fs: Fs, d: string) => unknown): void {
  const [a, b] = both(setup, f);
  expect(a).toEqual(b);
}

const fdFlags = (fd: number) => /flags:\s+(\d+)/.exec(node.readFileSync(`/proc/self/fdinfo/${fd}`, "latin1"))?.[1];

describe("open and close", () => {
  for (const flags of ["r", "r+", "w", "wx", "a", "a+", "w+", "ax"] as const) {
    test(`openSync(path, "${flags}"): the same fd flags, mode and errors`, () => {
      for (const exists of [true, false]) {
        same(
          (d) => exists && node.writeFileSync(join(d, "f"), "x"),
          (fs, d) => {
            const fd = fs.openSync(join(d, "f"), flags, 0o640);
            const r = [fdFlags(fd), node.fstatSync(fd).mode];
            fs.closeSync(fd);
            return r;
          },
        );
      }
    });
  }
  test("numeric flags get O_CLOEXEC too; EISDIR, ENOTDIR, ENOENT, EEXIST alike", () => {
    const { O_WRONLY, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY, O_DIRECTORY } = node.constants;
    same(
      () => {},
      (fs, d) => {
        const fd = fs.openSync(join(d, "g"), O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0o600);
        const r = fdFlags(fd);
        fs.closeSync(fd);
        return r;
      },
    );
    same(
      () => {},
      (fs, d) => fs.openSync(d, "w"),
    );
    same(
      (d) => node.writeFileSync(join(d, "f"), ""),
      (fs, d) => fs.openSync(join(d, "f", "x"), "r"),
    );
    same(
      () => {},
      (fs, d) => fs.openSync(join(d, "none"), "r"),
    );
    same(
      (d) => node.writeFileSync(join(d, "f"), ""),
      (fs, d) => fs.openSync(join(d, "f"), "wx"),
    );
    same(
      (d) => node.writeFileSync(join(d, "f"), ""),
      (fs, d) => fs.openSync(join(d, "f"), O_RDONLY | O_DIRECTORY),
    );
  });
  test("constants: every one node:fs has, the same value", () => {
    const theirs = node.constants as unknown as Record<string, number>;
    for (const [k, v] of Object.entries(ours.constants))
      expect<[string, number]>([k, v]).toEqual([k, theirs[k] as number]);
  });
  test("closeSync of a closed descriptor: EBADF alike", () => {
    same(
      () => {},
      (fs) => fs.closeSync(1000),
    );
  });
});

describe("read and write", () => {
  const text = "0123456789abcdefghij";
  const cases: [string, (fs: Fs, fd: number, b: Buffer) => unknown][] = [
    ["(fd, buf)", (fs, fd, b) => fs.readSync(fd, b)],
    ["(fd, buf, 2, 5, null)", (fs, fd, b) => fs.readSync(fd, b, 2, 5, null)],
    ["(fd, buf, 0, 4, 7)", (fs, fd, b) => [fs.readSync(fd, b, 0, 4, 7), fs.readSync(fd, b, 4, 2, null)]],
    ["(fd, buf, 0, 4, 3n)", (fs, fd, b) => fs.readSync(fd, b, 0, 4, 3n)],
    [
      "(fd, buf, {offset, length, position})",
      (fs, fd, b) => fs.readSync(fd, b, { offset: 1, length: 3, position: 10 }),
    ],
    ["(fd, buf, 0, 0, null)", (fs, fd, b) => fs.readSync(fd, b, 0, 0, null)],
    ["(fd, buf, 30, 1, null): out of range", (fs, fd, b) => fs.readSync(fd, b, 30, 1, null)],
    ["(fd, buf, 0, 99, null): out of range", (fs, fd, b) => fs.readSync(fd, b, 0, 99, null)],
    [
      "at the end",
      (fs, fd, b) => [
        fs.readSync(fd, b, 0, 16, null),
        fs.readSync(fd, b, 0, 16, null),
        fs.readSync(fd, b, 0, 16, null),
      ],
    ],
  ];
  for (const [name, f] of cases) {
    test(`readSync${name}`, () => {
      same(
        (d) => node.writeFileSync(join(d, "f"), text),
        (fs, d) => {
          const fd = node.openSync(join(d, "f"), "r");
          const b = Buffer.alloc(16, 0x2e);
          const ok = outcome(() => f(fs, fd, b));
          node.closeSync(fd);
          return [ok, b.toString("latin1")];
        },
      );
    });
  }
  test("readSync of a bad descriptor: EBADF alike", () => {
    same(
      () => {},
      (fs) => fs.readSync(1000, Buffer.alloc(4), 0, 4, null),
    );
  });
  const writes: [string, (fs: Fs, fd: number) => unknown][] = [
    ["(fd, buf)", (fs, fd) => fs.writeSync(fd, Buffer.from("hello"))],
    ["(fd, buf, 1, 3)", (fs, fd) => fs.writeSync(fd, Buffer.from("hello"), 1, 3)],
    [
      "(fd, buf, 0, 2, 10)",
      (fs, fd) => [fs.writeSync(fd, Buffer.from("hello"), 0, 2, 10), fs.writeSync(fd, Buffer.from("Z"))],
    ],
    ["(fd, string)", (fs, fd) => fs.writeSync(fd, "héllo\n")],
    ["(fd, string, 4)", (fs, fd) => [fs.writeSync(fd, "abc", 4), fs.writeSync(fd, "d")]],
    ["(fd, string, null, latin1)", (fs, fd) => fs.writeSync(fd, "\u00ff\u00e9", null, "latin1")],
    ["(fd, empty)", (fs, fd) => fs.writeSync(fd, Buffer.alloc(0))],
    ["(fd, buf, 9, 1): out of range", (fs, fd) => fs.writeSync(fd, Buffer.from("hello"), 9, 1)],
    ["(fd, Uint32Array)", (fs, fd) => fs.writeSync(fd, new Uint32Array([0x41424344]))],
  ];
  for (const [name, f] of writes) {
    test(`writeSync${name}`, () => {
      same(
        (d) => node.writeFileSync(join(d, "f"), "----------------"),
        (fs, d) => {
          const fd = node.openSync(join(d, "f"), "r+");
          const ok = outcome(() => f(fs, fd));
          node.closeSync(fd);
          return [ok, node.readFileSync(join(d, "f"), "latin1")];
        },
      );
    });
  }
  test("writeSync to a read-only descriptor: EBADF alike", () => {
    same(
      (d) => node.writeFileSync(join(d, "f"), "x"),
      (fs, d) => {
        const fd = node.openSync(join(d, "f"), "r");
        try {
          return fs.writeSync(fd, "y");
        } finally {
          node.closeSync(fd);
        }
      },
    );
  });
  test("fsyncSync, ftruncateSync, fchmodSync, fchownSync: the same effects", () => {
    same(
      (d) => node.writeFileSync(join(d, "f"), "0123456789"),
      (fs, d) => {
        const fd = node.openSync(join(d, "f"), "r+");
        fs.fsyncSync(fd);
        fs.ftruncateSync(fd, 4);
        fs.fchmodSync(fd, 0o604);
        fs.fchownSync(fd, 65534, 65534);
        node.closeSync(fd);
        const st = node.statSync(join(d, "f"));
        return [node.readFileSync(join(d, "f"), "latin1"), st.mode, st.uid, st.gid];
      },
    );
    same(
      () => {},
      (fs) => fs.fsyncSync(1000),
    );
  });
});

describe("stat", () => {
  const setup = (d: string) => {
    node.writeFileSync(join(d, "f"), "12345");
    node.mkdirSync(join(d, "dir"));
    node.symlinkSync("f", join(d, "link"));
    node.symlinkSync("none", join(d, "dangling"));
    runSync("mkfifo", [join(d, "fifo")]);
  };
  const view = (s: node.Stats | node.BigIntStats | ours.Stats | ours.BigIntStats | undefined) =>
    s === undefined
      ? "undefined"
      : {
          fields: [s.dev, s.ino, s.mode, s.nlink, s.uid, s.gid, s.rdev, s.size, s.blksize, s.blocks],
          times: [s.atimeMs, s.mtimeMs, s.ctimeMs, s.atime.getTime(), s.mtime.getTime(), s.ctime.getTime()],
          ns: "mtimeNs" in s ? [s.atimeNs, s.mtimeNs, s.ctimeNs] : [],
          is: [
            s.isFile(),
            s.isDirectory(),
            s.isSymbolicLink(),
            s.isFIFO(),
            s.isSocket(),
            s.isCharacterDevice(),
            s.isBlockDevice(),
          ],
        };
  // The same files for both: a stat's numbers are the file's.
  const d = tmp();
  setup(d);
  const same1 = (f: (fs: Fs) => unknown) => expect(outcome(() => f(ours))).toEqual(outcome(() => f(nodeFs)));
  for (const name of ["f", "dir", "link", "dangling", "fifo", "none", "f/x"]) {
    test(`statSync, lstatSync (numbers, bigint, throwIfNoEntry) of ${name}`, () => {
      same1((fs) => [
        outcome(() => view(fs.statSync(join(d, name)))),
        outcome(() => view(fs.lstatSync(join(d, name)))),
        outcome(() => view(fs.statSync(join(d, name), { bigint: true }))),
        outcome(() => view(fs.lstatSync(join(d, name), { bigint: true }))),
        outcome(() => view(fs.statSync(join(d, name), { throwIfNoEntry: false }))),
      ]);
    });
  }
  test("fstatSync (numbers, bigint) of a file, /dev/null and a bad descriptor", () => {
    const fd = node.openSync(join(d, "f"), "r");
    const n = node.openSync("/dev/null", "r");
    same1((fs) => [view(fs.fstatSync(fd)), view(fs.fstatSync(fd, { bigint: true })), view(fs.fstatSync(n))]);
    same1((fs) => fs.fstatSync(1000));
    node.closeSync(fd);
    node.closeSync(n);
  });
});

describe("names", () => {
  test("unlink, rename, link, mkdir, rmdir, chmod: effects and errors alike", () => {
    same(
      (d) => node.writeFileSync(join(d, "f"), "x"),
      (fs, d) => [
        outcome(() => fs.linkSync(join(d, "f"), join(d, "g"))),
        outcome(() => fs.linkSync(join(d, "f"), join(d, "g"))),
        outcome(() => fs.renameSync(join(d, "g"), join(d, "h"))),
        outcome(() => fs.renameSync(join(d, "g"), join(d, "h"))),
        outcome(() => fs.unlinkSync(join(d, "h"))),
        outcome(() => fs.unlinkSync(join(d, "h"))),
        outcome(() => fs.mkdirSync(join(d, "m"), 0o750)),
        outcome(() => fs.mkdirSync(join(d, "m"))),
        outcome(() => fs.chmodSync(join(d, "f"), 0o600)),
        outcome(() => fs.chmodSync(join(d, "none"), 0o600)),
        node.statSync(join(d, "m")).mode,
        node.statSync(join(d, "f")).mode,
        outcome(() => fs.rmdirSync(join(d, "f"))),
        outcome(() => fs.rmdirSync(join(d, "m"))),
        outcome(() => fs.rmdirSync(join(d, "m"))),
        outcome(() => fs.mkdirSync(join(d, "p", "q"), { recursive: true, mode: 0o700 })),
        node.readdirSync(d).sort(),
      ],
    );
  });
  test("access, exists, readlink, realpath alike (NUL in a path, dangling links, Buffer paths)", () => {
    same(
      (d) => {
        node.writeFileSync(join(d, "f"), "x");
        node.chmodSync(join(d, "f"), 0o644);
        node.symlinkSync("f", join(d, "link"));
        node.symlinkSync("none", join(d, "dangling"));
      },
      (fs, d) => [
        // (Bun's accessSync returns null, ours undefined: nothing of ours looks at it.)
        outcome(done(() => fs.accessSync(join(d, "f")))),
        outcome(done(() => fs.accessSync(join(d, "f"), node.constants.X_OK))),
        outcome(done(() => fs.accessSync(join(d, "none"), node.constants.R_OK))),
        fs.existsSync(join(d, "f")),
        fs.existsSync(Buffer.from(join(d, "f"))),
        fs.existsSync(join(d, "none")),
        fs.existsSync(join(d, "dangling")),
        fs.existsSync(`${d}/f\0x`),
        outcome(() => fs.readlinkSync(join(d, "link"))),
        outcome(() => fs.readlinkSync(join(d, "f"))),
        outcome(() => fs.realpathSync(join(d, "link"))),
        outcome(() => fs.realpathSync(join(d, "dangling"))),
        outcome(() => fs.realpathSync(Buffer.from(join(d, ".", "link"))).toString()),
        outcome(done(() => fs.openSync(`${d}/f\0x`, "r"))),
      ],
    );
  });
});

describe("directories", () => {
  const setup = (d: string) => {
    for (let i = 0; i < 300; i++) node.writeFileSync(join(d, `file-${i}-${"x".repeat(i % 40)}`), "");
    node.mkdirSync(join(d, "sub"));
    node.symlinkSync("sub", join(d, "ln"));
    node.writeFileSync(Buffer.from(`${d}/caf\xe9`, "latin1"), "");
  };
  test("readdirSync: the same names in the same order, in each encoding", () => {
    same(setup, (fs, d) => [fs.readdirSync(d), fs.readdirSync(d, "latin1"), fs.readdirSync(d, { encoding: "buffer" })]);
  });
  test("readdirSync withFileTypes: the same names and types", () => {
    same(setup, (fs, d) =>
      (fs.readdirSync(d, { withFileTypes: true }) as node.Dirent[]).map((e) => [
        e.name,
        e.parentPath,
        e.isFile(),
        e.isDirectory(),
        e.isSymbolicLink(),
      ]),
    );
  });
  test("readdirSync of a file, of nothing: errors alike", () => {
    same(setup, (fs, d) => [
      outcome(() => fs.readdirSync(join(d, "sub", "none"))),
      outcome(() => fs.readdirSync(join(d, "ln", "..", "file-0-"))),
    ]);
  });
  test("opendirSync: the entries readdirSync gives, one at a time; closeSync ends it", () => {
    same(setup, (fs, d) => {
      const dir = fs.opendirSync(d);
      const names: string[] = [];
      for (let e = dir.readSync(); e; e = dir.readSync()) names.push(`${e.name}:${e.isDirectory()}`);
      dir.closeSync();
      return names;
    });
    same(setup, (fs, d) => fs.opendirSync(join(d, "none")));
  });
});

describe("whole files", () => {
  test("readFileSync: a file, an empty one, /proc (size 0), a descriptor, encodings", () => {
    same(
      (d) => {
        node.writeFileSync(join(d, "f"), Buffer.from([0, 1, 2, 0xff, 0x41]));
        node.writeFileSync(join(d, "e"), "");
        node.writeFileSync(join(d, "big"), Buffer.alloc(100000, 0x61));
      },
      (fs, d) => {
        const fd = node.openSync(join(d, "f"), "r");
        node.readSync(fd, Buffer.alloc(2), 0, 2, null);
        const r = [
          fs.readFileSync(join(d, "f")),
          fs.readFileSync(join(d, "f"), "latin1"),
          fs.readFileSync(join(d, "f"), { encoding: "hex" }),
          fs.readFileSync(join(d, "e"), "utf8"),
          fs.readFileSync(join(d, "big")).length,
          fs.readFileSync("/proc/self/cmdline").length > 0,
          fs.readFileSync("/proc/version", "latin1"),
          fs.readFileSync(fd),
          outcome(() => fs.readFileSync(join(d, "none"))),
          outcome(() => fs.readFileSync(d)),
        ];
        node.closeSync(fd);
        return r;
      },
    );
  });
  test("readFileIfExists: readFileSync's bytes and errors, undefined for ENOENT alone", () => {
    const d = tmp();
    node.writeFileSync(join(d, "f"), Buffer.from([0, 1, 2, 0xff, 0x41]));
    node.writeFileSync(join(d, "e"), "");
    node.writeFileSync(join(d, "big"), Buffer.alloc(100000, 0x62));
    // node:fs's readFileSync with its ENOENT read as "missing": what every caller did before
    const reference = (p: string) => {
      try {
        return node.readFileSync(p);
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return undefined;
        throw e;
      }
    };
    const paths = ["f", "e", "big", "none", "none/x", "f/x", "."].map((n) => join(d, n));
    paths.push("/proc/version", "/proc/self/limits");
    for (const p of paths) expect(outcome(() => ours.readFileIfExists(p))).toEqual(outcome(() => reference(p)));
    expect(ours.readFileIfExists(join(d, "none"))).toBeUndefined();
    expect(outcome(() => ours.readFileIfExists(join(d, "f\0x")))).toEqual(
      outcome(() => node.readFileSync(join(d, "f\0x"))),
    );
  });
  test("openIfExists: openSync's fd flags and errors, undefined for ENOENT alone", () => {
    const d = tmp();
    node.writeFileSync(join(d, "f"), "x");
    const { O_RDONLY, O_NONBLOCK, O_WRONLY } = node.constants;
    const reference = (p: string, flags: string | number) => {
      try {
        return node.openSync(p, flags);
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return undefined;
        throw e;
      }
    };
    const look = (open: (p: string, flags: string | number) => number | undefined, p: string, flags: string | number) =>
      outcome(() => {
        const fd = open(p, flags);
        if (fd === undefined) return undefined;
        const r = fdFlags(fd);
        node.closeSync(fd);
        return r;
      });
    for (const n of ["f", "none", "none/x", "f/x", "."])
      for (const flags of ["r", O_RDONLY | O_NONBLOCK, O_WRONLY] as const)
        expect(look(ours.openIfExists, join(d, n), flags)).toEqual(look(reference, join(d, n), flags));
    expect(ours.openIfExists(join(d, "none"), "r")).toBeUndefined();
  });
  test("writeFileSync, appendFileSync, copyFileSync, utimesSync: contents and modes alike", () => {
    same(
      () => {},
      (fs, d) => {
        fs.writeFileSync(join(d, "w"), "one\n");
        fs.writeFileSync(join(d, "w"), "two\n");
        fs.appendFileSync(join(d, "w"), Buffer.from("three\n"));
        fs.appendFileSync(join(d, "a"), "x", { mode: 0o600 });
        fs.writeFileSync(join(d, "m"), "y", { mode: 0o640 });
        fs.copyFileSync(join(d, "w"), join(d, "c"));
        fs.utimesSync(join(d, "c"), 1000, 2000);
        const st = (n: string) => node.statSync(join(d, n));
        return [
          node.readFileSync(join(d, "w"), "latin1"),
          node.readFileSync(join(d, "c"), "latin1"),
          st("a").mode,
          st("m").mode,
          st("w").mode,
          st("c").mtimeMs,
          outcome(() => fs.writeFileSync(join(d, "none", "x"), "z")),
        ];
      },
    );
  });
});

test("FsError reads as node:fs's errors do: an Error with code, errno, syscall, path", () => {
  const e = outcome(() => ours.openSync("/nonexistent/qts-fs-test", "r")) as { code: string; message: string };
  expect(e.code).toBe("ENOENT");
  expect(e.message).toBe("ENOENT: no such file or directory, open '/nonexistent/qts-fs-test'");
  try {
    ours.openSync("/nonexistent/qts-fs-test", "r");
  } catch (x) {
    expect(x).toBeInstanceOf(Error);
  }
});

test("no file of ours but sys/fs.ts imports node:fs, and none outside sys imports bun:ffi (ARCHITECTURE.md)", () => {
  const root = join(import.meta.dir, "..", "..", "packages");
  const offenders: string[] = [];
  for (const f of new Bun.Glob("*/src/**/*.ts").scanSync(root)) {
    const text = node.readFileSync(join(root, f), "utf8");
    if (f !== "sys/src/fs.ts" && /(from |require\(|import\()"node:fs"/.test(text)) offenders.push(`${f}: node:fs`);
    // core/boot.ts only asks whether bun:ffi works (a dlopen under a memory limit), before anything else.
    const probe = f === "core/src/boot.ts";
    if (!f.startsWith("sys/") && !probe && /(from |require\(|import\()"bun:ffi"/.test(text))
      offenders.push(`${f}: bun:ffi`);
  }
  expect(offenders).toEqual([]);
});

test("without the JIT (bun:ffi refuses), every call is node:fs's: the same results and errors", async () => {
  const fixture = join(import.meta.dir, "fixtures", "fs-calls.ts");
  const outs: string[] = [];
  for (const jit of ["1", "0"]) {
    const d = tmp();
    const r = await run(process.execPath, [fixture, d], { env: { ...process.env, BUN_JSC_useJIT: jit } });
    expect(r.stderr).toBe("");
    outs.push(r.stdout.replaceAll(d, "D"));
  }
  const [withJit, without] = outs.map((o) => o.split("\n")) as [string[], string[]];
  expect([withJit[0], without[0]]).toEqual(["ffi: works", "ffi: refused"]);
  expect(withJit[1]).toContain('"hello\\nmore\\n"');
  expect(without[1]).toBe(withJit[1] as string);
});
