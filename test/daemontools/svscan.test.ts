// SPDX-License-Identifier: MIT
import { afterEach, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { kill, run, type Started, start, stdioFd, tmp, waitFor } from "../lib/harness.ts";
import { children, ORIG, OURS, service, status } from "./supervise-helpers.ts";

interface Tree {
  proc: Started;
  pid: number;
  dir: string;
  err: string;
  out(): string;
}

const trees: Tree[] = [];

/** svscan on dir, with PATH leading to the supervise to use; stdout and stderr to a file. */
function startSvscan(svscan: string, superviseDir: string, dir: string, path = `${superviseDir}:/usr/bin:/bin`): Tree {
  const err = `${dir}.out`;
  const fd = openSync(err, "a");
  const proc = start(svscan, [dir], {
    stdio: ["ignore", stdioFd(fd), stdioFd(fd)],
    env: { PATH: path },
    extendEnv: false,
  });
  closeSync(fd);
  const t = { proc, pid: proc.pid, dir, err, out: () => readFileSync(err, "utf8") };
  trees.push(t);
  return t;
}

// svc -dx every service (and log) of the tree, then kill svscan itself: exactly what the test started.
afterEach(async () => {
  for (const t of trees.splice(0)) {
    // Stopped first, so that it cannot start another supervise between the listing and its death.
    kill(t.pid, "SIGSTOP");
    const sups = children(t.pid).filter((c) => c.comm === "supervise");
    kill(t.pid);
    // From the command line, not the cwd: a supervise still starting up has not changed directory yet.
    const dirs: string[] = [];
    for (const s of sups) {
      const name = s.args.split(" ").pop() as string;
      if (name !== "log") dirs.push(join(t.dir, name));
      else {
        try {
          const cwd = readlinkSync(`/proc/${s.pid}/cwd`);
          dirs.push(cwd.endsWith("/log") ? cwd : `${cwd}/log`);
        } catch {}
      }
    }
    await run(OURS.svc, ["-dx", ...dirs]);
    const gone = () =>
      sups.every((s) => !existsSync(`/proc/${s.pid}/cmdline`) || !readFileSync(`/proc/${s.pid}/cmdline`).length);
    await waitFor(gone, 3000);
    // One that was still starting up ignored svc: kill it, then the last child it announced.
    for (const s of sups) kill(s.pid);
    await waitFor(gone, 1000);
    for (const d of dirs) {
      const st = status(d);
      if (st?.pid) kill(st.pid);
    }
  }
});

const impls: [string, string, string][] = [["ours", OURS.svscan, dirname(OURS.supervise)]];
if (ORIG.svscan && ORIG.supervise) {
  impls.push(["original", ORIG.svscan, dirname(ORIG.supervise)]);
  impls.push(["Debian's, running our supervise", ORIG.svscan, dirname(OURS.supervise)]);
  impls.push(["ours, running Debian's supervise", OURS.svscan, dirname(ORIG.supervise)]);
}

describe.each(impls)("svscan (%s)", (_which, svscan, supDir) => {
  test("one supervise per directory by dev/ino, dot-dirs skipped, symlinks followed, log pipe, rescans", async () => {
    const base = tmp("qts-scan-");
    const dir = join(base, "svc");
    mkdirSync(dir);
    service(dir, "a", "exec sleep 1000");
    service(dir, "b", "echo b output; exec sleep 1000");
    service(dir, "b/log", `exec cat > ${base}/b.log`);
    service(dir, ".hidden", "exec sleep 1000");
    writeFileSync(join(dir, "afile"), "");
    const target = service(base, "target", "exec sleep 1000");
    symlinkSync(target, join(dir, "c"));
    symlinkSync(target, join(dir, "c2"));
    symlinkSync("/nonexist", join(dir, "broken"));
    const t = startSvscan(svscan, supDir, dir);
    const kids = await waitFor(() => {
      const k = children(t.pid);
      return k.length >= 4 ? k : undefined;
    }, 3000);
    expect(kids).toBeDefined();
    await Bun.sleep(200);
    const all = children(t.pid);
    const args = all.map((c) => c.args.replace(/^.*\//, "")).sort();
    expect(args.filter((a) => a !== "supervise c" && a !== "supervise c2")).toEqual([
      "supervise a",
      "supervise b",
      "supervise log",
    ]);
    expect(args.filter((a) => a === "supervise c" || a === "supervise c2").length).toBe(1);
    expect(all.every((c) => c.comm === "supervise")).toBe(true);
    expect(readFileSync(`/proc/${t.pid}/comm`, "utf8")).toBe("svscan\n");
    const supB = all.find((c) => c.args.endsWith("supervise b"));
    const supLog = all.find((c) => c.args.endsWith("supervise log"));
    const pipeOut = readlinkSync(`/proc/${supB?.pid}/fd/1`);
    expect(pipeOut).toMatch(/^pipe:/);
    expect(readlinkSync(`/proc/${supLog?.pid}/fd/0`)).toBe(pipeOut);
    // svscan starts `supervise log` in b (svscan.c's start()); supervise itself then changes into log.
    expect(await waitFor(() => readlinkSync(`/proc/${supLog?.pid}/cwd`) === join(dir, "b/log"), 5000)).toBe(true);
    // A supervise writes its status once started, which takes a while on a loaded machine.
    expect(await waitFor(() => existsSync(join(target, "supervise/status")), 5000)).toBe(true);
    expect(existsSync(join(dir, ".hidden/supervise"))).toBe(false);
    expect(await waitFor(() => existsSync(`${base}/b.log`) && readFileSync(`${base}/b.log`, "utf8"), 8000)).toBe(
      "b output\n",
    );
    expect(t.out()).toStartWith("svscan: warning: unable to stat broken: file does not exist\n");

    // A supervise that exits is started again at the next scan; a new directory is picked up.
    const supA = all.find((c) => c.args.endsWith("supervise a"));
    await Bun.sleep(1000);
    await run(OURS.svc, ["-dx", join(dir, "a")]);
    service(dir, "d", "exec sleep 1000");
    const again = await waitFor(() => {
      const k = children(t.pid);
      const a = k.find((c) => c.args.endsWith("supervise a") && c.pid !== supA?.pid);
      const d = k.find((c) => c.args.endsWith("supervise d"));
      return a && d ? k : undefined;
    }, 7000);
    expect(again).toBeDefined();
    expect(
      t
        .out()
        .split("\n")
        .filter((l) => l === "svscan: warning: unable to stat broken: file does not exist").length,
    ).toBeGreaterThanOrEqual(2);
  }, 30_000);

  test("supervise not in PATH: a warning per service and scan", async () => {
    const base = tmp("qts-scan-");
    const dir = join(base, "svc");
    mkdirSync(dir);
    service(dir, "a", "exec sleep 1000");
    const t = startSvscan(svscan, "", dir, "/nonexistent");
    const out = await waitFor(() => (t.out().includes("\n") ? t.out() : undefined), 3000);
    expect(out?.split("\n")[0]).toBe("svscan: warning: unable to start supervise a: file does not exist");
  });

  test("a log that cannot be stat'ed: warning, and the service is left alone", async () => {
    const base = tmp("qts-scan-");
    const dir = join(base, "svc");
    mkdirSync(dir);
    const x = service(dir, "x", "exec sleep 1000");
    symlinkSync("log", join(x, "log"));
    const t = startSvscan(svscan, supDir, dir);
    const out = await waitFor(() => (t.out().includes("\n") ? t.out() : undefined), 3000);
    expect(out?.split("\n")[0]).toBe("svscan: warning: unable to stat x/log: symbolic link loop");
    await Bun.sleep(300);
    expect(children(t.pid)).toEqual([]);
  });

  test("chdir failure: 111", async () => {
    const r = await run(svscan, ["/nonexist"]);
    expect(r).toMatchObject({
      code: 111,
      stderr: "svscan: fatal: unable to chdir to /nonexist: file does not exist\n",
    });
  });
});

// Under our svscan: a service that crashes in a loop restarts at most once a second, and no line
// is lost between a service and its log service while either is killed and restarted.
test("svscan (ours): crash loop at most once a second; no log line lost across restarts of either side", async () => {
  const base = tmp("qts-scan-");
  const dir = join(base, "svc");
  mkdirSync(dir);
  service(dir, "crash", `date +%s.%N >> ${base}/starts; exit 1`);
  const gen = service(
    dir,
    "gen",
    // The counter is replaced by rename: a kill mid-write must not reset it.
    "i=$(cat counter 2>/dev/null || echo 0)\nwhile :; do i=$((i+1)); echo $i; echo $i > counter.new; mv counter.new counter; sleep 0.005; done",
  );
  const log = service(dir, "gen/log", `exec cat >> ${base}/out`);
  const t = startSvscan(OURS.svscan, dirname(OURS.supervise), dir);
  const sent = () =>
    Number(existsSync(join(gen, "counter")) ? readFileSync(join(gen, "counter"), "utf8").trim() || 0 : 0);
  const got = () => (existsSync(`${base}/out`) ? readFileSync(`${base}/out`, "utf8") : "");
  const lastGot = () => Number(got().trim().split("\n").pop() || 0);
  await waitFor(() => sent() > 20, 5000);
  const svcRun = (...a: string[]) => run(OURS.svc, a);
  // Drains the pipe with the service paused, so the logger is idle in read() when it is killed.
  const drained = async () => {
    await svcRun("-p", gen);
    // svc returns at once; supervise may still be in its 1-second sleep: wait for the stop itself.
    const stopped = await waitFor(() => {
      const pid = status(gen)?.pid;
      return pid && readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("T");
    }, 3000);
    if (!stopped) return `not stopped: ${status(gen)?.raw.toString("hex")}`;
    return (await waitFor(() => lastGot() >= sent(), 3000)) || `not drained: got ${lastGot()} sent ${sent()}`;
  };
  for (let round = 0; round < 3; round++) {
    // A "p" read right after "k" would stop the dying child and be cleared by the restart: wait for the new one.
    const before = status(gen)?.pid;
    await svcRun("-k", gen);
    expect(await waitFor(() => status(gen)?.pid !== before, 3000)).toBe(true);
    await Bun.sleep(300);
    expect(await drained()).toBe(true);
    await svcRun("-k", log);
    await svcRun("-c", gen);
    await Bun.sleep(700);
  }
  // Both supervisors exit and svscan starts them again; the pipe stays with svscan meanwhile.
  expect(await drained()).toBe(true);
  await svcRun("-dx", log);
  await svcRun("-c", gen);
  await Bun.sleep(1500);
  await svcRun("-dx", gen);
  expect(await waitFor(() => status(gen)?.pid && status(log)?.pid && sent() > 0, 8000)).toBeTruthy();
  await Bun.sleep(1200);
  expect(await drained()).toBe(true);

  const lines = got().split("\n").slice(0, -1);
  expect(lines.every((l) => /^\d+$/.test(l))).toBe(true);
  const seen = new Set(lines.map(Number));
  const max = Math.max(...seen);
  // Paused between its two echos, the service has sent one more line than its counter says.
  expect(max - sent()).toBeWithin(0, 2);
  const missing: number[] = [];
  for (let i = 1; i <= max; i++) if (!seen.has(i)) missing.push(i);
  expect(missing).toEqual([]);
  expect(max).toBeGreaterThan(50); // enough lines to span every restart, even on a loaded machine

  const starts = readFileSync(`${base}/starts`, "utf8").trim().split("\n").map(Number);
  // The stamps are the run script's, taken some ms after supervise's fork (more under load): each gap
  // is well above what an unthrottled restart gives, and on average at least the second of the rule.
  for (let i = 1; i < starts.length; i++)
    expect((starts[i] as number) - (starts[i - 1] as number)).toBeGreaterThan(0.9);
  expect(starts.length).toBeGreaterThan(5);
  expect(((starts.at(-1) as number) - (starts[0] as number)) / (starts.length - 1)).toBeGreaterThan(0.98);
  expect(t.out()).toBe("");
}, 40_000);

test("svscan (ours) as PID 1 of a pid namespace reaps the orphans of its tree", async () => {
  const base = tmp("qts-scan-");
  const dir = join(base, "svc");
  mkdirSync(dir);
  service(dir, "a", "for i in 1 2 3 4 5; do (sleep 0.1 &); done\nexec sleep 1000");
  const ns = start("unshare", ["-fp", "--mount-proc", OURS.svscan, dir], {
    stdio: "ignore",
    env: { PATH: `${dirname(OURS.supervise)}:/usr/bin:/bin` },
    extendEnv: false,
  });
  let svscan: number | undefined;
  try {
    svscan = await waitFor(() => children(ns.pid as number).find((c) => c.comm === "svscan")?.pid, 3000);
    expect(svscan).toBeDefined();
    // The orphans exit at once; the scan at 5 s must have reaped them.
    await Bun.sleep(5600);
    expect(children(svscan as number).map((k) => k.comm)).toEqual(["supervise"]);
    const zombies = readdirSync("/proc").filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "latin1");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return f[0] === "Z" && Number(f[1]) === svscan;
      } catch {
        return false;
      }
    });
    expect(zombies).toEqual([]);
  } finally {
    // Killing a namespace's init kills everything in it.
    kill(svscan);
    kill(ns.pid);
  }
}, 15_000);
