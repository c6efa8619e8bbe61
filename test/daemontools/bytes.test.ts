// SPDX-License-Identifier: MIT
// Arguments and environment reach the child byte for byte, bytes that are not UTF-8 included (core/bytes.ts):
// the same cases against ours and Debian's originals. The bytes are made by printf inside sh, so no JS
// string carries them; the child prints them as hex.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { kill, ours, run, start, tmp, waitFor } from "../lib/harness.ts";
import { impls } from "./chain.ts";
import { children, ORIG, OURS } from "./supervise-helpers.ts";

// X (value), the variable named Y\xff (from /proc: sh drops names that are not identifiers), and the
// argument $1, each as od's hex.
const SETUP = `X=$(printf 'a\\377\\351b'); export X; A=$(printf '\\351z\\377\\303\\251')`;
const CHILD = `sh -c 'printf %s "$X" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a "^Y" | od -An -tx1; printf %s "$1" | od -An -tx1' sh "$A"`;
const WANT = [" 61 ff e9 62", " 59 ff 3d 31 0a", " e9 7a ff c3 a9"];

function hexLines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/\s+$/, ""));
}

/** Runs loader (with its own arguments) in front of CHILD, with X and Y\xff=1 in the environment. */
function chain(loader: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("sh", ["-c", `${SETUP}; exec env "$(printf 'Y\\377')=1" ${loader} ${CHILD}`]);
}

const loaders: [string, (bin: string, d: string) => string][] = [
  ["setuidgid", (b) => `${b} root`],
  ["envuidgid", (b) => `${b} root`],
  ["softlimit", (b) => `${b} -o 50`],
  ["setlock", (b, d) => `${b} ${d}/lock`],
  ["pgrphack", (b) => b],
  ["fghack", (b) => b],
];

for (const [name, cmd] of loaders) {
  describe.each(impls(name))(`${name} (%s): bytes that are not UTF-8`, (_w, bin) => {
    test("argument and inherited environment reach the child unchanged", async () => {
      const r = await chain(cmd(bin, tmp()));
      expect(r.stderr).toBe("");
      expect(hexLines(r.stdout)).toEqual(WANT);
    });
  });
}

test("ours through `qts NAME`: the argument after the spliced name, byte for byte; QTS_NOFILE not passed on", async () => {
  const r = await run("sh", [
    "-c",
    `${SETUP}; exec env QTS_NOFILE=50 "$(printf 'Y\\377')=1" ${ours("qts")} setuidgid root sh -c 'printf %s "$X" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a "^Y" | od -An -tx1; printf %s "$1" | od -An -tx1; echo "\${QTS_NOFILE-unset}"' sh "$A"`,
  ]);
  expect(r.stderr).toBe("");
  expect(hexLines(r.stdout)).toEqual([...WANT, "unset"]);
});

describe.each(impls("envdir"))("envdir (%s): bytes that are not UTF-8", (_w, bin) => {
  test("a file's bytes become the value, its name the variable's; argument and environment unchanged", async () => {
    const d = tmp();
    writeFileSync(join(d, "V"), Buffer.from([0x76, 0xff, 0xe9, 0x20, 0x0a, 0x7a]));
    // A file named Z\xe9 with value \xe9\0\xff: the NUL becomes a newline.
    writeFileSync(Buffer.from([...Buffer.from(`${d}/Z`), 0xe9]), Buffer.from([0xe9, 0x00, 0xff]));
    const child = `sh -c 'printf %s "$V" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a -A1 "^Z" | od -An -tx1; printf %s "$X" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a "^Y" | od -An -tx1; printf %s "$1" | od -An -tx1' sh "$A"`;
    const r = await run("sh", ["-c", `${SETUP}; exec env "$(printf 'Y\\377')=1" ${bin} ${d} ${child}`]);
    expect(r.stderr).toBe("");
    expect(hexLines(r.stdout)).toEqual([
      " 76 ff e9",
      " 5a e9 3d e9 0a ff 0a",
      " 61 ff e9 62",
      " 59 ff 3d 31 0a",
      " e9 7a ff c3 a9",
    ]);
  });

  test("a directory whose name is not UTF-8", async () => {
    const d = tmp();
    const dir = Buffer.from([...Buffer.from(`${d}/e`), 0xe9]);
    mkdirSync(dir);
    writeFileSync(Buffer.concat([dir, Buffer.from("/V")]), "ok\n");
    const r = await run("sh", ["-c", `exec ${bin} "${d}/e$(printf '\\351')" sh -c 'printf %s "$V"'`]);
    expect(r).toMatchObject({ code: 0, stdout: "ok", stderr: "" });
  });
});

describe.each(impls("multilog"))("multilog (%s): bytes that are not UTF-8", (_w, bin) => {
  test("'+\\xff*' selects the line with that byte; directory names are raw paths", async () => {
    const d = tmp();
    const input = Buffer.from("a\xffb\nplain\n\xe9\xff\n\xe9x\n", "latin1");
    const script = `exec ${bin} '-*' "+*$(printf '\\377')*" ./all '-*' "+$(printf '\\377')*" ./ff '-*' "+$(printf '\\351')*" "./x$(printf '\\351')"`;
    const r = await run("sh", ["-c", `cd ${d} && ${script}`], { input });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(d, "all/current"))).toEqual(Buffer.from("a\xffb\n\xe9\xff\n", "latin1"));
    expect(readFileSync(join(d, "ff/current"))).toEqual(Buffer.alloc(0));
    const x = Buffer.from([...Buffer.from(`${d}/x`), 0xe9, ...Buffer.from("/current")]);
    expect(readFileSync(x)).toEqual(Buffer.from("\xe9\xff\n\xe9x\n", "latin1"));
  });

  test("a processor in a directory whose name is not UTF-8 gets its script's bytes", async () => {
    const d = tmp();
    // 4096-byte files: the processor runs on each full one and writes its script's argument as hex.
    const input = Buffer.from(`${"y".repeat(99)}\n`.repeat(50));
    const script = `exec ${bin} s4096 "!printf %s '$(printf '\\377')' | od -An -tx1; cat >/dev/null" "./p$(printf '\\351')"`;
    const r = await run("sh", ["-c", `cd ${d} && ${script}`], { input, timeout: 10_000 });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const dir = Buffer.from([...Buffer.from(`${d}/p`), 0xe9]);
    const { readdirSync } = await import("node:fs");
    const done = readdirSync(dir, "latin1").filter((n) => n.startsWith("@"));
    expect(done.length).toBeGreaterThan(0);
    const first = Buffer.concat([dir, Buffer.from(`/${done.sort()[0]}`)]);
    expect(readFileSync(first, "latin1").trim()).toBe("ff");
  });
});

const trees: [string, string, string][] = [["ours", OURS.svscan, dirname(OURS.supervise)]];
if (ORIG.svscan && ORIG.supervise) trees.push(["original", ORIG.svscan, dirname(ORIG.supervise)]);

describe.each(trees)("svscan and supervise (%s): bytes that are not UTF-8", (_w, svscan, supDir) => {
  test("a service whose name is not UTF-8 runs, with svscan's environment byte for byte", async () => {
    const d = tmp();
    const svc = Buffer.from([...Buffer.from(`${d}/s`), 0xe9]);
    mkdirSync(svc);
    const runFile = Buffer.concat([svc, Buffer.from("/run")]);
    // run records its pid (to be killed here), X and the variable named Y\xff, then waits.
    writeFileSync(
      runFile,
      '#!/bin/sh\necho $$ > pid\n{ printf %s "$X" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a "^Y" | od -An -tx1; } > out.tmp\nmv out.tmp out\nexec sleep 30\n',
    );
    chmodSync(runFile, 0o755);
    const proc = start(
      "sh",
      ["-c", `X=$(printf 'a\\377\\351b'); export X; exec env "$(printf 'Y\\377')=1" ${svscan} ${d}`],
      { stdio: "ignore", env: { PATH: `${supDir}:/usr/bin:/bin` }, extendEnv: false },
    );
    const out = Buffer.concat([svc, Buffer.from("/out")]);
    try {
      await waitFor(() => existsSync(out), 5000);
      expect(hexLines(readFileSync(out, "latin1"))).toEqual([" 61 ff e9 62", " 59 ff 3d 31 0a"]);
      expect(existsSync(Buffer.concat([svc, Buffer.from("/supervise/status")]))).toBe(true);
    } finally {
      const pid = proc.pid as number;
      kill(pid, "SIGSTOP");
      const sups = children(pid).filter((c) => c.comm === "supervise");
      kill(pid);
      for (const s of sups) kill(s.pid);
      try {
        kill(Number(readFileSync(Buffer.concat([svc, Buffer.from("/pid")]), "latin1")));
      } catch {}
    }
  });
});
