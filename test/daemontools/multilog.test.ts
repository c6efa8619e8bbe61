// SPDX-License-Identifier: MIT
// multilog against Debian's: same input, same script; directories compared with the TAI64N labels
// (file names and line stamps) replaced by their order.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { original, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

const impls: [string, string][] = [["ours", ours("multilog")]];
const orig = original("multilog");
if (orig) impls.push(["original", orig]);

const STAMP = /@[0-9a-f]{24}/g;

/** The tree under dir: names with archive labels ranked, contents with stamps masked, modes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    const names = readdirSync(d).sort();
    let rank = 0;
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p);
      const shown = /^@[0-9a-f]{24}\./.test(n) ? `@${rank++}${n.slice(25)}` : n;
      const key = rel ? `${rel}/${shown}` : shown;
      if (st.isDirectory()) {
        out[`${key}/`] = (st.mode & 0o777).toString(8);
        walk(p, key);
      } else {
        out[key] = `${(st.mode & 0o777).toString(8)} ${readFileSync(p, "latin1").replace(STAMP, "@T")}`;
      }
    }
  };
  walk(dir, "");
  return out;
}

async function both(args: string[], input: string | Buffer, prep?: (d: string) => void) {
  const res: { code: number; stderr: string; tree: Record<string, string> }[] = [];
  for (const [, bin] of impls) {
    const d = tmp("ml-");
    prep?.(d);
    const inFile = join(tmp("mlin-"), "in");
    writeFileSync(inFile, input);
    // A real file on fd 0 (not a pipe) so both read it in the same pieces.
    const r = await run("sh", ["-c", 'exec "$0" "$@" < "$IN"', bin, ...args], { cwd: d, env: { IN: inFile } });
    res.push({ code: r.code, stderr: r.stderr.replace(STAMP, "@T"), tree: snapshot(d) });
  }
  return res;
}

function lines(n: number, f: (i: number) => string): string {
  let s = "";
  for (let i = 0; i < n; i++) s += `${f(i)}\n`;
  return s;
}

const cases: [string, string[], string | Buffer][] = [
  // The spec's '+*error*' stops at the first "e" of the stamp's hex: these patterns skip the stamp.
  [
    "spec example",
    ["t", "e", "-*", "+* two*", "+* four*", "=status", "./errs", "+*", "s4096", "n3", "./all"],
    "one\ntwo error here\nthree\nfour error\n",
  ],
  ["patterns without backtracking", ["-*", "+*a", "+foo*baz", "./pt"], "xaya\nxa\nfoo bar baz\n"],
  ["selection per directory", ["-*a*", "./noa", "+*", "-b*", "./nob", "+bb", "=st", "e"], "a\nb\nbb\nab\nc\n\n"],
  ["no script", [], "data\n"],
  ["final line without newline", ["./nn"], "partial"],
  ["empty lines with t", ["t", "./d"], "\n\nx\n"],
  ["unknown items ignored, late t ignored", ["S100", "N2", "Z", "./sn", "t"], "hello\n"],
  ["1500-byte line with t, e and status", ["t", "e", "=st", "./d"], `${"A".repeat(1500)}\nshort\n`],
  ["line limits around 1000", ["e", "=st", "./d"], lines(6, (i) => "L".repeat(997 + i)) + "B".repeat(3000)],
  ["END beyond byte 1000 is not seen", ["-*", "+*END", "./d"], `${"x".repeat(1197)}END\nEND\n`],
  [
    "rotation s4096 n3, 91-byte lines",
    ["s4096", "n3", "./d"],
    lines(200, (i) => `${String(i).padStart(5, "0")} ${"p".repeat(84)}`),
  ],
  [
    "rotation with t and varied lines",
    ["t", "s5000", "n4", "./a", "s4096", "n2", "./b"],
    lines(400, (i) => "v".repeat((i * 37) % 300)),
  ],
  ["rotation with long lines", ["s4096", "n20", "./d"], lines(40, (i) => "w".repeat((i * 613) % 2500))],
  ["s and n clamps", ["s1", "n0", "./d"], lines(300, (i) => `line ${i} ${"z".repeat(i % 50)}`)],
  [
    "processor on rotation",
    ["s4096", "!tr a-z A-Z; echo st >&5; cat <&4 >&5", "./p"],
    lines(150, (i) => `row ${i} abc`),
  ],
];

describe.each(impls)("multilog (%s) alone", (_w, bin) => {
  test("lock held: fatal, 111", async () => {
    const d = tmp();
    const holder = start(bin, ["./x"], { cwd: d, stdio: ["pipe", "ignore", "ignore"] });
    await waitFor(() => {
      try {
        return statSync(join(d, "x/current"));
      } catch {
        return false;
      }
    });
    const r = await run(bin, ["./x"], { cwd: d, input: "y\n" });
    holder.kill("SIGKILL");
    expect(r).toMatchObject({
      code: 111,
      stderr: "multilog: fatal: unable to lock directory ./x: temporary failure\n",
    });
  });

  test("SIGTERM mid-line finishes the line, then exits; current is complete", async () => {
    const d = tmp();
    const p = start(bin, ["./d"], { cwd: d, stdio: ["pipe", "ignore", "pipe"] });
    // the exit code, null when a signal ended it
    const exited = p.exited.then((r) => (r.signal ? null : r.code));
    p.write("no newline yet");
    await waitFor(() => {
      try {
        return statSync(join(d, "d/current"));
      } catch {
        return false;
      }
    });
    await Bun.sleep(200);
    p.kill("SIGTERM");
    await Bun.sleep(200);
    p.write(" ...completed\n");
    await Bun.sleep(200);
    p.write("next\n");
    const code = await Promise.race([exited, Bun.sleep(3000).then(() => "timeout")]);
    expect(code).toBe(0);
    expect(readFileSync(join(d, "d/current"), "latin1")).toBe("no newline yet ...completed\n");
    expect(statSync(join(d, "d/current")).mode & 0o777).toBe(0o744);
    p.end();
  });

  test("SIGTERM at a line boundary exits at once", async () => {
    const d = tmp();
    const p = start(bin, ["./d"], { cwd: d, stdio: ["pipe", "ignore", "ignore"] });
    // the exit code, null when a signal ended it
    const exited = p.exited.then((r) => (r.signal ? null : r.code));
    p.write("whole\n");
    await waitFor(() => {
      try {
        return readFileSync(join(d, "d/current"), "latin1") === "whole\n";
      } catch {
        return false;
      }
    });
    p.kill("SIGTERM");
    const code = await Promise.race([exited, Bun.sleep(3000).then(() => "timeout")]);
    expect(code).toBe(0);
    p.end();
  });

  test("SIGALRM rotates a non-empty current at once; processor sees it", async () => {
    const d = tmp();
    const p = start(bin, ["t", "!tr a-z A-Z; echo procstate >&5", "./pr"], {
      cwd: d,
      stdio: ["pipe", "ignore", "ignore"],
    });
    const exited = p.exited;
    p.write("first line\n");
    await waitFor(() => {
      try {
        return readFileSync(join(d, "pr/current"), "latin1").length > 0;
      } catch {
        return false;
      }
    });
    p.kill("SIGALRM");
    const s = await waitFor(() => readdirSync(join(d, "pr")).find((n) => n.endsWith(".s")), 5000);
    expect(s).toBeTruthy();
    p.end();
    await exited;
    expect(readFileSync(join(d, "pr", s as string), "latin1")).toMatch(/^@[0-9A-F]{24} FIRST LINE\n$/);
    expect(readFileSync(join(d, "pr/state"), "latin1")).toBe("procstate\n");
    expect(readFileSync(join(d, "pr/current"), "latin1")).toBe("");
  });
});

describe("multilog: ours against the original", () => {
  test.each(cases)("%s", async (_name, args, input) => {
    const [a, b] = await both(args, input);
    if (!b) return;
    expect(a).toEqual(b);
  });

  test("the processor's cwd, fds (inherited ones too) and $0", async () => {
    const res: string[] = [];
    for (const [, bin] of impls) {
      const d = tmp("mlp-");
      const inFile = join(d, "in");
      writeFileSync(
        inFile,
        lines(100, (i) => `row ${i} ${"q".repeat(60)}`),
      );
      const proc = 'pwd >../where; echo "$0" >>../where; ls -l /proc/$$/fd >../fds; cat';
      // Exactly fds 0-2 and 7 (a test runner may leak others), stdin the file.
      const launch =
        "import os,sys\nos.closerange(3,65536)\nf=os.open(sys.argv[1],os.O_RDONLY)\nos.dup2(f,0)\nos.close(f)\nn=os.open('/dev/null',os.O_RDONLY)\nos.dup2(n,7)\nos.close(n)\nos.execv(sys.argv[2],sys.argv[2:])";
      await run("python3", ["-c", launch, inFile, bin, "s4096", `!${proc}`, "./p"], { cwd: d });
      // Only fds open on files: the shell may hold short-lived pipes of its own while it lists them.
      const fds = readFileSync(join(d, "fds"), "latin1")
        .split("\n")
        .map((l) => / (\d+ -> \/.*)$/.exec(l)?.[1])
        .filter((l) => l !== undefined)
        .sort()
        .join("\n");
      res.push(`${readFileSync(join(d, "where"), "latin1")}${fds}`.replaceAll(d, "D"));
    }
    expect(res[0]).toContain("D/p\nsh\n");
    expect(res[0]).toContain("7 -> /dev/null");
    expect(res[0]).toContain("4 -> D/p/state");
    if (res[1] !== undefined) expect(res[0]).toBe(res[1]);
  });

  test("recovery after an unclean stop", async () => {
    const prep = (d: string) => {
      mkdirSync(join(d, "r"));
      writeFileSync(join(d, "r/current"), "old data\n");
      writeFileSync(join(d, "r/previous"), "previous stuff\n");
      writeFileSync(join(d, "r/newstate"), "ns\n");
      mkdirSync(join(d, "q"));
      writeFileSync(join(d, "q/current"), "c\n");
      chmodSync(join(d, "q/current"), 0o744);
      mkdirSync(join(d, "z"));
      writeFileSync(join(d, "z/current"), "zc\n");
      writeFileSync(join(d, "z/previous"), "zp\n");
      writeFileSync(join(d, "z/processed"), "ZP\n");
      chmodSync(join(d, "z/processed"), 0o744);
    };
    const [a, b] = await both(["./r", "./q", "./z"], "new\n", prep);
    if (b) expect(a).toEqual(b);
    expect(Object.keys(a?.tree ?? {}).filter((k) => k.startsWith("r/@"))).toEqual(["r/@0.u", "r/@1.u"]);
  });

  test("startup errors", async () => {
    const prep = (d: string) => {
      writeFileSync(join(d, "file"), "");
      mkdirSync(join(d, "sdir"));
    };
    for (const args of [["./file"], ["=sdir", "./x"], ["=nodir/st"]]) {
      const [a, b] = await both(args, "x\n", prep);
      expect(a?.code).toBe(111);
      if (b) expect(a).toEqual(b);
    }
  });

  test("1e5 lines with t s1000000 n5: same files", async () => {
    const input = lines(100000, (i) => `${String(i).padStart(8, "0")} ${"m".repeat(90)}`);
    const [a, b] = await both(["t", "s1000000", "n5", "./log"], input);
    if (b) expect(a).toEqual(b);
    expect(Object.keys(a?.tree ?? {}).length).toBe(8);
  }, 30000);
});

describe("multilog: full disk", () => {
  test("pauses, warns every 5 s, and loses nothing once space is back", async () => {
    const script = `set -e
mount --make-rprivate /
mount -t tmpfs -o size=100k tmpfs "$D"
cd "$D"
head -c 90000 /dev/zero > filler
(i=0; while [ $i -lt 300 ]; do printf 'line %05d %s\\n' $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done) | "$ML" s20000 ./log 2>"$E" &
sleep 1.5
rm filler
wait
cat log/* | grep -c '^line ' || true
ls log | grep -c '^@' || true
cat "$E"`;
    const runs = impls.map(async ([, bin]) => {
      const d = tmp("mlfull-");
      const e = join(tmp("mlerr-"), "err");
      return await run("unshare", ["-m", "sh", "-c", script], { env: { D: d, E: e, ML: bin }, timeout: 20000 });
    });
    for (const r of await Promise.all(runs)) {
      const [count, archives, ...err] = r.stdout.split("\n");
      expect(count).toBe("300");
      expect(Number(archives)).toBeGreaterThan(0);
      expect(err[0]).toBe("multilog: warning: unable to write to ./log/current, pausing: out of disk space");
    }
  }, 20000);
});

describe("multilog: processor failure", () => {
  test("a failing processor is reported, retried after 5 s, and its output then archived", async () => {
    const runs = impls.map(async ([, bin]) => {
      const d = tmp("mlpf-");
      const inFile = join(d, "in");
      writeFileSync(inFile, "one\ntwo\n");
      const proc = "if test -e ../once; then tr a-z A-Z; else touch ../once; exit 3; fi";
      const p = start("sh", ["-c", 'exec "$0" "!$1" ./p < "$2"', bin, proc, inFile], {
        cwd: d,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const pDone = p.exited;
      // EOF needs no rotation; ALRM makes one.
      await waitFor(() => statSync(join(d, "p/current"), { throwIfNoEntry: false })?.size === 8, 3000);
      await pDone;
      const q = start(bin, ["!" + proc, "./p"], { cwd: d, stdio: ["pipe", "ignore", "pipe"] });
      const qDone = q.exited;
      q.write("three\n");
      await waitFor(() => statSync(join(d, "p/current"), { throwIfNoEntry: false })?.size === 14, 3000);
      q.kill("SIGALRM");
      const s = await waitFor(() => readdirSync(join(d, "p")).find((n) => n.endsWith(".s")), 9000);
      q.end();
      await qDone;
      // both runs' warnings, in order
      const err = p.stderr() + q.stderr();
      return { err, archived: s ? readFileSync(join(d, "p", s), "latin1") : "" };
    });
    for (const r of await Promise.all(runs)) {
      expect(r.err).toBe("multilog: warning: processor failed in ./p, pausing\n");
      expect(r.archived).toBe("ONE\nTWO\nTHREE\n");
    }
  }, 20000);
});

describe("multilog: processor crash", () => {
  test("a processor killed by a signal: the crash warning, then the failure warning, then a retry", async () => {
    const runs = impls.map(async ([, bin]) => {
      const d = tmp("mlpc-");
      writeFileSync(join(d, "in"), `${"x".repeat(99)}\n`.repeat(60));
      const proc = "if test -e ../once; then cat; else touch ../once; kill -9 $$; fi";
      const r = await run("sh", ["-c", 'exec "$0" s4096 "!$1" ./p < in', bin, proc], { cwd: d, timeout: 25_000 });
      const archived = readdirSync(join(d, "p")).filter((n) => n.endsWith(".s"));
      return { r, archived };
    });
    for (const { r, archived } of await Promise.all(runs)) {
      expect(r.code).toBe(0);
      const lines = r.stderr.split("\n");
      // C's crash line ends in a stale errno (whatever failed last); only the shape is the same.
      expect(lines[0]).toStartWith("multilog: warning: processor crashed in ./p, pausing: ");
      expect(lines.slice(1)).toEqual(["multilog: warning: processor failed in ./p, pausing", ""]);
      expect(archived.length).toBe(2);
    }
  }, 30_000);
});

describe("multilog t: labels never go backwards", () => {
  test("400 lines in 400 separate writes: each label >= the one before", async () => {
    const d = tmp();
    const out = join(d, "log");
    // A writer that flushes each line on its own, so that multilog reads (and re-reads the clock) per line.
    const py = "import os,sys,time\nfor i in range(400):\n os.write(1, b'line %d\\n' % i)\n time.sleep(0.0005)\n";
    const r = await run("sh", ["-c", `python3 -c "$PY" | "$ML" t "$OUT"`], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PY: py, ML: ours("multilog"), OUT: out },
      timeout: 30_000,
    });
    expect(r.code).toBe(0);
    const labels = readFileSync(join(out, "current"), "latin1")
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => l.slice(1, 25));
    expect(labels.length).toBe(400);
    let back = 0;
    for (let i = 1; i < labels.length; i++) if ((labels[i] as string) < (labels[i - 1] as string)) back++;
    expect(back).toBe(0);
  });
});

describe("multilog 1 (ours, s6-log's action): selected lines to standard output after a prefix", () => {
  test("each selected line, with its label, after the prefix; the original ignores the item", async () => {
    const d = tmp();
    const r = await run(ours("multilog"), ["-*", "+keep*", "1smtpd: ", join(d, "log")], {
      input: "keep one\ndrop this\nkeep two\n",
    });
    expect(r).toMatchObject({ code: 0, stdout: "smtpd: keep one\nsmtpd: keep two\n" });
    expect(readFileSync(join(d, "log/current"), "latin1")).toBe("keep one\nkeep two\n");
    if (orig) {
      const o = await run(orig, ["-*", "+keep*", "1smtpd: ", join(d, "orig")], { input: "keep one\n" });
      expect(o).toMatchObject({ code: 0, stdout: "" });
      expect(readFileSync(join(d, "orig/current"), "latin1")).toBe("keep one\n");
    }
  });
});
