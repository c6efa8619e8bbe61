// SPDX-License-Identifier: MIT
import { afterEach, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { flock, LOCK_EX, LOCK_NB } from "@qts/sys/flock";
import { run, tmp, waitFor } from "../lib/harness.ts";
import {
  alive,
  cleanup,
  norm,
  ORIG,
  OURS,
  procStatus,
  type St,
  service,
  shape,
  startSupervise,
  status,
  svc,
  svstat,
  waitStatus,
} from "./supervise-helpers.ts";

const used: string[] = [];
afterEach(() => cleanup(used.splice(0)));

const impls: [string, string][] = [["ours", OURS.supervise]];
if (ORIG.supervise) impls.push(["original", ORIG.supervise]);

function svcDir(name: string, script: string, down = false): string {
  const d = service(tmp("qts-sup-"), name, script, down);
  used.push(d);
  return d;
}

describe.each(impls)("supervise (%s)", (_which, supervise) => {
  test("usage: no dir or two dirs, 100", async () => {
    for (const args of [[], ["a", "b"]]) {
      const r = await run(supervise, args);
      expect(r).toMatchObject({ code: 100, stdout: "", stderr: "supervise: usage: supervise dir\n" });
    }
  });

  test("missing dir: 111", async () => {
    const r = await run(supervise, ["/nonexist"]);
    expect(r).toMatchObject({
      code: 111,
      stderr: "supervise: fatal: unable to chdir to /nonexist: file does not exist\n",
    });
  });

  test("supervise/ layout; a second supervise cannot take the lock", async () => {
    const d = svcDir("s", "exec sleep 1000");
    const s = startSupervise(supervise, d);
    await waitStatus(d, (x) => x.pid !== 0);
    const kinds = Object.fromEntries(
      readdirSync(join(d, "supervise"))
        .sort()
        .map((f) => {
          const st = statSync(join(d, "supervise", f));
          return [f, `${st.isFIFO() ? "p" : "-"}${(st.mode & 0o777).toString(8)} ${st.size}`];
        }),
    );
    // Ours adds event/, the waiters' FIFOs (supervise(8), READINESS); the rest is daemontools' layout.
    const { event, ...rest } = kinds;
    expect(rest).toEqual({ control: "p600 0", lock: "-600 0", ok: "p600 0", status: "-644 18" });
    if (event !== undefined) expect(statSync(join(d, "supervise/event")).isDirectory()).toBe(true);
    const r = await run(supervise, [d]);
    expect(r).toMatchObject({
      code: 111,
      stderr: `supervise: fatal: unable to acquire ${d}/supervise/lock: temporary failure\n`,
    });
    expect(alive(s.pid)).toBe(true);
  });

  test("the lock is an flock on supervise/lock", async () => {
    const d = svcDir("s", "exec sleep 1000", true);
    startSupervise(supervise, d);
    await waitStatus(d, () => true);
    const fd = openSync(join(d, "supervise/lock"), "a");
    expect(() => flock(fd, LOCK_EX | LOCK_NB)).toThrow();
    closeSync(fd);
  });

  test("status pid is the run process, a child of supervise; comm, environment, fds, signals", async () => {
    const d = svcDir("s", "");
    // tail -f: a run that keeps its environment exactly as execve gave it (sh would add PWD).
    writeFileSync(join(d, "run"), "#!/usr/bin/tail -f\n");
    // SIGINT and SIGQUIT ignored on entry (as in a background job) must reach ./run; fd 5 is inherited.
    const s = startSupervise(supervise, d, ["/bin/sh", "-c", `trap '' INT QUIT; exec "$0" "$@" 5>${d}.fd5`]);
    const st = await waitStatus(d, (x) => x.pid !== 0);
    const child = st.pid;
    const stat = readFileSync(`/proc/${child}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])).toBe(s.pid);
    expect(readFileSync(`/proc/${s.pid}/comm`, "utf8")).toBe("supervise\n");
    expect(readFileSync(`/proc/${child}/environ`)).toEqual(readFileSync(`/proc/${s.pid}/environ`));
    expect(procStatus(child, "SigIgn")).toBe("0000000000000006");
    expect(procStatus(child, "SigBlk")).toBe("0000000000000000");
    // tail's own fds aside (3: ./run, 4: inotify), nothing of supervise's leaks into ./run.
    const fds = readdirSync(`/proc/${child}/fd`)
      .map(Number)
      .filter((fd) => fd !== 3 && fd !== 4)
      .sort((a, b) => a - b);
    expect(fds).toEqual([0, 1, 2, 5]);
    expect(readlinkSync(`/proc/${child}/fd/5`)).toBe(`${d}.fd5`);
    for (const fd of [0, 1, 2]) {
      const flags = Number.parseInt(
        readFileSync(`/proc/${child}/fdinfo/${fd}`, "utf8").match(/flags:\s*(\d+)/)?.[1] ?? "",
        8,
      );
      expect(flags & 0o4000).toBe(0);
    }
    expect(readlinkSync(`/proc/${child}/cwd`)).toBe(d);
  });

  test("down file: want down, nothing started; svc -u starts it", async () => {
    const d = svcDir("s", "exec sleep 1000", true);
    startSupervise(supervise, d);
    const st = await waitStatus(d, () => true);
    expect(shape(st)).toBe("down paused=0 want=100");
    await Bun.sleep(300);
    expect(status(d)?.pid).toBe(0);
    expect(await svstat(ORIG.svstat ?? OURS.svstat, [d])).toMatch(/^.*: down \d+ seconds\n$/);
    await svc(OURS.svc, ["-u", d]);
    await waitStatus(d, (x) => x.pid !== 0 && x.want === 0x75);
  });

  test("./run missing: the child reports it, exits, and it is retried once a second", async () => {
    const d = svcDir("s", "");
    require("node:fs").rmSync(join(d, "run"));
    const s = startSupervise(supervise, d);
    const up = await waitStatus(d, (x) => x.pid !== 0);
    expect(await svstat(OURS.svstat, [d])).toMatch(/^.*: up \(pid \d+\) [01] seconds\n$/);
    await waitFor(() => s.stderr().split("\n").length > 3, 4000);
    const lines = s.stderr().split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(4);
    for (const l of lines) expect(l).toBe(`supervise: fatal: unable to start ${d}/run: file does not exist`);
    expect(up.want).toBe(0x75);
  });

  test("./run not executable: access denied", async () => {
    const d = svcDir("s", "exit 0");
    require("node:fs").chmodSync(join(d, "run"), 0o644);
    const s = startSupervise(supervise, d);
    await waitFor(() => s.stderr().length > 0, 3000);
    expect(s.stderr().split("\n")[0]).toBe(`supervise: fatal: unable to start ${d}/run: access denied`);
  });

  test("1-second rule: a run that fails at once restarts at most once a second", async () => {
    const d = svcDir("s", `echo $$ >> ${tmp()}/x; date +%s.%N >> "$(dirname "$0")/../starts"; exit 1`);
    const starts = join(d, "..", "starts");
    startSupervise(supervise, d);
    await Bun.sleep(3600);
    const t = readFileSync(starts, "utf8").trim().split("\n").map(Number);
    expect(t.length).toBeGreaterThanOrEqual(3);
    expect(t.length).toBeLessThanOrEqual(4);
    // Each stamp is taken by the run script, some ms after supervise's fork: one gap may look a little
    // short when its first stamp was late. Without the rule the gaps would be milliseconds.
    for (let i = 1; i < t.length; i++) {
      const gap = (t[i] as number) - (t[i - 1] as number);
      expect(gap).toBeGreaterThan(0.9);
      expect(gap).toBeLessThan(1.5);
    }
    expect(((t.at(-1) as number) - (t[0] as number)) / (t.length - 1)).toBeGreaterThan(0.98);
  });

  test("a child that lived over a second is restarted at once", async () => {
    const d = svcDir(
      "s",
      `date +%s.%N >> "$(dirname "$0")/../starts"; sleep 1.3; date +%s.%N >> "$(dirname "$0")/../ends"`,
    );
    startSupervise(supervise, d);
    await waitFor(
      () => existsSync(join(d, "../ends")) && readFileSync(join(d, "../starts"), "utf8").split("\n").length > 2,
      4000,
    );
    const s = readFileSync(join(d, "../starts"), "utf8").trim().split("\n").map(Number);
    const e = readFileSync(join(d, "../ends"), "utf8").trim().split("\n").map(Number);
    // At once: well under the second a throttled restart would wait (the stamps are the run script's,
    // a fork and an exec after supervise's).
    expect((s[1] as number) - (e[0] as number)).toBeLessThan(0.6);
  });

  test("bytes queued during the 1-second sleep are handled after it, one by one", async () => {
    const d = svcDir("s", "exec sleep 1000", true);
    startSupervise(supervise, d);
    await waitStatus(d, () => true);
    const t0 = Date.now();
    // u starts the child and sleeps; d waits in the FIFO until the sleep is over.
    await svc(OURS.svc, ["-u", d]);
    await svc(OURS.svc, ["-d", d]);
    const up = await waitStatus(d, (x) => x.pid !== 0);
    const down = await waitStatus(d, (x) => x.pid === 0 && x.want === 0x64, 4000);
    const lived = Date.now() - t0;
    expect(lived).toBeGreaterThanOrEqual(1000);
    // Once, not twice: supervise's own stamps (TAI64N, status bytes 0-11) of the start and of the stop,
    // which do not include the time our svc and the polling took under load.
    const lasted = Number(down.sec - up.sec) + (down.raw.readUInt32BE(8) - up.raw.readUInt32BE(8)) / 1e9;
    expect(lasted).toBeGreaterThan(0.95);
    expect(lasted).toBeLessThan(1.6);
    expect(alive(up.pid)).toBe(false);
    expect(shape(down)).toBe("down paused=0 want=100");
  });

  test("signals h a i t k c reach the child; t and k restart a wanted-up child", async () => {
    const d = svcDir(
      "s",
      `for s in HUP ALRM INT CONT USR1; do trap "echo $s >> $PWD/../sigs" $s; done
trap 'echo TERM >> $PWD/../sigs; exit 0' TERM
echo start >> $PWD/../sigs
while :; do sleep 0.05; done`,
    );
    startSupervise(supervise, d);
    const first = await waitStatus(d, (x) => x.pid !== 0);
    await Bun.sleep(1100);
    const sigs = () => (existsSync(join(d, "../sigs")) ? readFileSync(join(d, "../sigs"), "utf8") : "");
    for (const [opt, name] of [
      ["-h", "HUP"],
      ["-a", "ALRM"],
      ["-i", "INT"],
      ["-c", "CONT"],
    ] as const) {
      await svc(OURS.svc, [opt, d]);
      expect(await waitFor(() => sigs().includes(name), 3000)).toBe(true);
    }
    await svc(OURS.svc, ["-t", d]);
    const second = await waitStatus(d, (x) => x.pid !== 0 && x.pid !== first.pid, 3000);
    expect(sigs()).toContain("TERM");
    await Bun.sleep(1100);
    await svc(OURS.svc, ["-k", d]);
    const third = await waitStatus(d, (x) => x.pid !== 0 && x.pid !== second.pid, 3000);
    expect(alive(second.pid)).toBe(false);
    expect(third.want).toBe(0x75);
  });

  test("svc -x while up: still running until the child dies, then exit 0", async () => {
    const d = svcDir("s", "exec sleep 1000");
    const s = startSupervise(supervise, d);
    const st = await waitStatus(d, (x) => x.pid !== 0);
    // Past the 1-second sleep, or the reaped child would be restarted before x is read.
    await Bun.sleep(1100);
    await svc(OURS.svc, ["-x", d]);
    await Bun.sleep(300);
    expect(alive(s.pid)).toBe(true);
    expect((await run(OURS.svok, [d])).code).toBe(0);
    process.kill(st.pid, "SIGKILL");
    expect(await s.exited).toBe(0);
    expect((await run(OURS.svok, [d])).code).toBe(100);
    expect(shape(status(d))).toBe("down paused=0 want=117");
  }, 10_000);

  test("svc -dx on a down service: exit 0 at once", async () => {
    const d = svcDir("s", "exec sleep 1000", true);
    const s = startSupervise(supervise, d);
    await waitStatus(d, () => true);
    const t0 = Date.now();
    await svc(OURS.svc, ["-dx", d]);
    expect(await s.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test("a burst of control bytes is taken one by one, in order", async () => {
    const d = svcDir("s", "exec sleep 1000");
    startSupervise(supervise, d);
    const st = await waitStatus(d, (x) => x.pid !== 0);
    await Bun.sleep(1100);
    const fd = openSync(join(d, "supervise/control"), "w");
    writeFileSync(fd, `${"pcz?".repeat(500)}p`);
    closeSync(fd);
    const end = await waitStatus(d, (x) => x.paused === 1, 4000);
    expect(end.pid).toBe(st.pid);
    expect(alive(st.pid)).toBe(true);
  });

  test("a dangling supervise symlink gets its target made (Debian)", async () => {
    const d = svcDir("s", "exec sleep 1000", true);
    const target = join(tmp(), "run-supervise");
    symlinkSync(target, join(d, "supervise"));
    startSupervise(supervise, d);
    await waitStatus(d, () => true);
    expect(statSync(target).mode & 0o777).toBe(0o700);
    expect(existsSync(join(target, "status"))).toBe(true);
  });

  test("SIGTERM kills supervise and leaves the child running", async () => {
    const d = svcDir("s", "exec sleep 1000");
    const s = startSupervise(supervise, d);
    const st = await waitStatus(d, (x) => x.pid !== 0);
    process.kill(s.pid, "SIGTERM");
    await s.exited;
    expect(alive(st.pid)).toBe(true);
    process.kill(st.pid, "SIGKILL");
  });
});

// The same command sequence through each pairing; both must produce the same observations.
async function sequence(supervise: string, tools: typeof OURS | typeof ORIG): Promise<string[]> {
  const svcBin = tools.svc as string;
  const statBin = tools.svstat as string;
  const okBin = tools.svok as string;
  const d = svcDir("s1", "exec sleep 1000");
  const obs: string[] = [];
  const s = startSupervise(supervise, d);
  let last: St | undefined;
  const note = async (label: string, st: St) => {
    const ts = last ? (st.raw.subarray(0, 12).equals(last.raw.subarray(0, 12)) ? "same-ts" : "new-ts") : "";
    if (st.pid) {
      const fields = () => {
        const stat = readFileSync(`/proc/${st.pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      };
      if (Number(fields()[1]) !== s.pid) obs.push(`${label}: pid ${st.pid} is not a child of supervise`);
      // supervise announces first, then sends SIGSTOP.
      if (st.paused) obs.push(`${label}: child state ${await waitFor(() => (fields()[0] === "T" ? "T" : ""), 2000)}`);
    }
    const tai = st.sec - (1n << 62n) - 10n;
    if (Math.abs(Number(tai) - Date.now() / 1000) > 30) obs.push(`${label}: timestamp off`);
    obs.push(`${label}: ${shape(st)} ${ts} | ${norm(await svstat(statBin, [d])).replace(d, "/DIR")}`.trim());
    last = st;
  };
  await note("start", await waitStatus(d, (x) => x.pid !== 0));
  await Bun.sleep(1100);
  const steps: [string, (x: St) => boolean][] = [
    ["-p", (x) => x.paused === 1],
    ["-c", (x) => x.paused === 0],
    ["-d", (x) => x.pid === 0],
    ["-u", (x) => x.pid !== 0],
    ["-o", (x) => x.want === 0],
    ["-t", (x) => x.pid === 0],
    ["-pu", (x) => x.pid !== 0 && x.want === 0x75],
  ];
  for (const [opt, cond] of steps) {
    const r = await svc(svcBin, [opt, d]);
    obs.push(`svc ${opt} -> ${r.code} ${r.stderr}`.trim());
    await note(opt, await waitStatus(d, cond, 4000));
    await Bun.sleep(opt === "-u" || opt === "-pu" ? 1100 : 50);
  }
  const r = await svc(svcBin, ["-x", d]);
  obs.push(`svc -x -> ${r.code}`);
  await Bun.sleep(200);
  obs.push(`svok while exiting: ${(await run(okBin, [d])).code}`);
  await svc(svcBin, ["-k", d]);
  obs.push(`supervise exit: ${await s.exited}`);
  await note("exited", status(d) as St);
  obs.push(`svok after: ${(await run(okBin, [d])).code}`);
  obs.push(`stderr: ${s.stderr()}`);
  return obs;
}

describe.if(!!ORIG.supervise && !!ORIG.svc)("our supervise vs Debian's, each driven by the other's tools", () => {
  test("same status bytes (but timestamps and pid) and svstat texts", async () => {
    const [a, b] = await Promise.all([sequence(OURS.supervise, ORIG), sequence(ORIG.supervise as string, OURS)]);
    expect(a).toEqual(b);
    expect(a).toEqual([
      "start: up paused=0 want=117  | /DIR: up (pid P) S seconds",
      "svc -p -> 0",
      "-p: child state T",
      "-p: up paused=1 want=117 same-ts | /DIR: up (pid P) S seconds, paused",
      "svc -c -> 0",
      "-c: up paused=0 want=117 same-ts | /DIR: up (pid P) S seconds",
      "svc -d -> 0",
      "-d: down paused=0 want=100 new-ts | /DIR: down S seconds, normally up",
      "svc -u -> 0",
      "-u: up paused=0 want=117 new-ts | /DIR: up (pid P) S seconds",
      "svc -o -> 0",
      "-o: up paused=0 want=0 same-ts | /DIR: up (pid P) S seconds",
      "svc -t -> 0",
      "-t: down paused=0 want=0 new-ts | /DIR: down S seconds, normally up",
      "svc -pu -> 0",
      "-pu: up paused=0 want=117 new-ts | /DIR: up (pid P) S seconds",
      "svc -x -> 0",
      "svok while exiting: 0",
      "supervise exit: 0",
      "exited: down paused=0 want=117 new-ts | /DIR: supervise not running",
      "svok after: 100",
      "stderr: ",
    ]);
  }, 30_000);
});
