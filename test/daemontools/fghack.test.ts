// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { BIN, ours, run, tmp } from "../lib/harness.ts";
import { impls } from "./chain.ts";

describe.each(impls("fghack"))("fghack (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    const r = await run(bin, []);
    expect(r).toMatchObject({ code: 100, stderr: "fghack: usage: fghack child\n" });
  });

  test("waits for background descendants, then gives the child's code", async () => {
    const t0 = Date.now();
    const r = await run(bin, ["sh", "-c", "(sleep 0.5; echo late) & exit 7"]);
    expect(r).toMatchObject({ code: 7, stdout: "late\n" });
    expect(Date.now() - t0).toBeGreaterThan(450);
  });

  test("the child holds 31 copies of the pipe and default signals", async () => {
    const r = await run(bin, ["sh", "-c", "ls -l /proc/$$/fd | grep -c pipe:; grep SigIgn /proc/$$/status"]);
    expect(r.stdout).toMatch(/^3\d\nSigIgn:\t0000000000000000\n$/);
    expect(Number(r.stdout.split("\n")[0])).toBeGreaterThanOrEqual(31);
  });

  test("a signal the caller ignored stays ignored in the child (SIGHUP), as C's fork+exec leaves it", async () => {
    const r = await run("sh", ["-c", `trap '' HUP; exec ${bin} grep SigIgn /proc/self/status`]);
    expect(r).toMatchObject({ code: 0, stdout: "SigIgn:\t0000000000000001\n" });
  });

  test("child killed: child crashed, 111", async () => {
    const r = await run(bin, ["sh", "-c", "kill -9 $$"]);
    expect(r).toMatchObject({ code: 111, stderr: "fghack: fatal: child crashed\n" });
  });

  test("child not found: 111", async () => {
    const r = await run(bin, ["/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "fghack: fatal: unable to run /nonexist: file does not exist\n" });
  });
});

test("fd layout in the child: the same as the original's, inherited fds kept", async () => {
  const all = impls("fghack");
  if (all.length < 2) return;
  const d = tmp();
  const list =
    'for f in /proc/$$/fd/*; do echo "$(basename $f) $(readlink $f | sed s/:.*//)"; done > "$0"; sort -n "$0"';
  const outs = await Promise.all(
    all.map(([, b], i) =>
      run("bash", [
        "-c",
        'exec 7</dev/null 8</dev/null 40</dev/null; exec "$0" sh -c "$1" "$2"',
        b,
        list,
        `${d}/l${i}`,
      ]),
    ),
  );
  expect(outs[0]?.stderr).toBe("");
  expect(outs[0]?.stdout.split("\n").length).toBeGreaterThan(36);
  expect(outs[0]?.stdout.replaceAll(`${d}/l0`, "L")).toEqual(outs[1]?.stdout.replaceAll(`${d}/l1`, "L") as string);
});

test("softlimit -o through our fghack to our setuidgid keeps the limit (QTS_NOFILE relay on spawn)", async () => {
  const r = await run(ours("softlimit"), ["-o", "100", "fghack", "setuidgid", "root", "sh", "-c", "ulimit -n; env"], {
    env: { PATH: `${BIN}:/usr/bin:/bin` },
    extendEnv: false,
  });
  expect(r.code).toBe(0);
  expect(r.stdout.split("\n")[0]).toBe("100");
  expect(r.stdout).not.toContain("QTS_NOFILE");
});
