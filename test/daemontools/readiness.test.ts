// SPDX-License-Identifier: MIT
// Readiness in s6's form: notification-fd under our supervise and under Debian's s6-supervise,
// svwait against s6-svwait on the same sequence of events, svstat's readiness text, bad input,
// and svscan as process 1 (unshare -pf) stopping a tree in order on SIGTERM.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kill, original, ours, run, start as startProgram, tmp, waitFor } from "../lib/harness.ts";

const S6 = original("s6-supervise");
const started: number[] = [];
afterAll(() => {
  for (const p of started) kill(p);
});

/** A service whose run waits for DIR/../go, then writes the readiness line (stamping the moment). */
function service(root: string, extra = ""): string {
  const d = join(root, "svc");
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, "run"),
    `#!/bin/sh\nwhile [ ! -e ../go ]; do sleep 0.02; done\n${extra}date +%s.%N > ../wrote\necho >&3\nexec sleep 100\n`,
  );
  chmodSync(join(d, "run"), 0o755);
  writeFileSync(join(d, "notification-fd"), "3\n");
  return d;
}

/** Starts a supervisor on dir and waits until it has written its status (it answers svok then). */
async function start(bin: string, dir: string) {
  const p = startProgram(bin, [dir], { stdio: ["ignore", "ignore", "pipe"], cwd: join(dir, "..") });
  started.push(p.pid);
  await waitFor(() => existsSync(join(dir, "supervise/status")), 5000);
  return p;
}

/** TAI64N label -> unix seconds (as a float). */
function labelSecs(label: string): number {
  const h = label.trim().replace(/^@/, "");
  return Number(BigInt(`0x${h.slice(0, 16)}`) - 0x400000000000000an) + Number.parseInt(h.slice(16, 24), 16) / 1e9;
}

describe("readiness", () => {
  test("svwait and s6-svwait agree on up, ready, down and finished for the same events", async () => {
    const impls: [string, string, string, string][] = [[ours("supervise"), ours("svwait"), ours("svc"), "ours"]];
    if (S6) impls.push([S6, original("s6-svwait") as string, original("s6-svc") as string, "s6"]);
    const results: Record<string, number[]> = {};
    for (const [sup, wait, svc, name] of impls) {
      const root = tmp("qts-ready-");
      const d = service(root);
      const p = await start(sup, d);
      const w = async (...a: string[]) => (await run(wait, [...a, d], { timeout: 15_000 })).code;
      const codes: number[] = [];
      codes.push(await w("-u", "-t", "5000"));
      codes.push(await w("-U", "-t", "300"));
      codes.push(await w("-d", "-t", "300"));
      writeFileSync(join(root, "go"), "");
      codes.push(await w("-U", "-t", "5000"));
      codes.push(await w("-o", "-u", "-t", "300"));
      await run(svc, ["-d", d]);
      codes.push(await w("-D", "-t", "5000"));
      codes.push(await w("-d", "-t", "300"));
      codes.push(await w("-a", "-u", "-t", "300"));
      await run(svc, ["-x", d]);
      await Promise.race([p.exited, Bun.sleep(5000)]);
      results[name] = codes;
    }
    expect(results.ours).toEqual([0, 99, 99, 0, 0, 0, 0, 99]);
    if (S6) expect(results.s6).toEqual(results.ours as number[]);
  }, 60_000);

  test("the readiness moment: ours and s6-supervise's are both the moment the run script wrote the line", async () => {
    const impls: [string, string][] = [[ours("supervise"), "ours"]];
    if (S6) impls.push([S6, "s6"]);
    for (const [sup, name] of impls) {
      const root = tmp("qts-ready-");
      const d = service(root);
      const p = await start(sup, d);
      writeFileSync(join(root, "go"), "");
      const wait = name === "ours" ? ours("svwait") : (original("s6-svwait") as string);
      expect((await run(wait, ["-U", "-t", "10000", d])).code).toBe(0);
      const wrote = Number(readFileSync(join(root, "wrote"), "latin1"));
      let ready: number;
      if (name === "ours") {
        const b = readFileSync(join(d, "supervise/ready"));
        ready = labelSecs(`@${b.subarray(0, 12).toString("hex")}`);
        // svstat: the original's text, then the readiness.
        const st = await run(ours("svstat"), [d]);
        expect(st.stdout).toMatch(/^.*: up \(pid \d+\) \d+ seconds, ready \d+ seconds\n$/);
      } else {
        // skalibs's labels count TAI's leap seconds (TAI - UTC = 37 s); daemontools' count 10.
        ready = labelSecs((await run(original("s6-svstat") as string, ["-o", "readysince", d])).stdout) - 27;
      }
      // The label is taken when supervise reads the line: after the write, and soon after.
      expect(ready).toBeGreaterThanOrEqual(wrote - 0.001);
      expect(ready - wrote).toBeLessThan(1);
      await run(name === "ours" ? ours("svc") : (original("s6-svc") as string), ["-dx", d]);
      await Promise.race([p.exited, Bun.sleep(5000)]);
    }
  }, 60_000);

  test("bad input: a notification-fd that is not a number, a descriptor the run closes, a line written twice", async () => {
    // Not a number: a warning, and the service runs without readiness (ready once up).
    const r1 = tmp("qts-ready-");
    const d1 = service(r1);
    writeFileSync(join(d1, "notification-fd"), "three\n");
    writeFileSync(join(r1, "go"), "");
    const p1 = await start(ours("supervise"), d1);
    expect((await run(ours("svwait"), ["-U", "-t", "5000", d1])).code).toBe(0);
    expect((await run(ours("svstat"), [d1])).stdout).toMatch(/: up \(pid \d+\) \d+ seconds\n$/);
    await run(ours("svc"), ["-dx", d1]);
    await Promise.race([p1.exited, Bun.sleep(5000)]);
    expect(p1.stderr()).toContain(
      `supervise: warning: ${d1}: notification-fd is not a descriptor number: starting without readiness notification\n`,
    );
    // Closed by the run program: never ready; svwait times out, svstat says so.
    const r2 = tmp("qts-ready-");
    const d2 = service(r2, "exec 3>&-\nexec sleep 100\n");
    writeFileSync(join(r2, "go"), "");
    const p2 = await start(ours("supervise"), d2);
    expect((await run(ours("svwait"), ["-u", "-t", "5000", d2])).code).toBe(0);
    expect(await run(ours("svwait"), ["-U", "-t", "500", d2])).toMatchObject({
      code: 99,
      stderr: "svwait: fatal: timed out\n",
    });
    expect((await run(ours("svstat"), [d2])).stdout).toMatch(/: up \(pid \d+\) \d+ seconds, not ready yet\n$/);
    await run(ours("svc"), ["-dx", d2]);
    await Promise.race([p2.exited, Bun.sleep(5000)]);
    // Twice: ready once, at the first line; the service stays up.
    const r3 = tmp("qts-ready-");
    const d3 = service(r3, "echo >&3\nsleep 0.3\n");
    writeFileSync(join(r3, "go"), "");
    const p3 = await start(ours("supervise"), d3);
    expect((await run(ours("svwait"), ["-U", "-t", "5000", d3])).code).toBe(0);
    const first = readFileSync(join(d3, "supervise/ready"));
    await Bun.sleep(600);
    expect(readFileSync(join(d3, "supervise/ready"))).toEqual(first);
    expect((await run(ours("svwait"), ["-u", "-t", "100", d3])).code).toBe(0);
    await run(ours("svc"), ["-dx", d3]);
    await Promise.race([p3.exited, Bun.sleep(5000)]);
  }, 60_000);

  test("svwait: usage, and no supervise", async () => {
    expect(await run(ours("svwait"), [])).toMatchObject({
      code: 100,
      stderr: "svwait: usage: svwait [ -U | -u | -d | -D ] [ -a | -o ] [ -t timeout ] dir ...\n",
    });
    const d = tmp("qts-ready-");
    mkdirSync(join(d, "supervise"));
    expect(await run(ours("svwait"), ["-u", d])).toMatchObject({
      code: 111,
      stderr: `svwait: fatal: supervise not running in ${d}\n`,
    });
  });
});
