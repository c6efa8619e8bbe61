// SPDX-License-Identifier: MIT
// Memory at rest (core/rest.ts, sys/trim.ts): a long-running program gives back the executable's
// clean read-only pages once it has been quiet after start-up and after a burst of work, and keeps
// working: the pages fault back in unchanged. Which mappings may be dropped is checked on smaps text.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { trimmable } from "@qts/sys/trim";
import { freePort, kill, ours, run, tmp, waitFor } from "../lib/harness.ts";
import { deliveries, inject, makeHome, startQmail } from "../qmail/qmail-send.helpers.ts";

/** KiB of the executable's code (its r-xp mapping) resident in process pid; 0 once it is gone. */
function textKiB(pid: number): number {
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`);
    let rss = 0;
    let cur = false;
    for (const line of readFileSync(`/proc/${pid}/smaps`, "latin1").split("\n")) {
      const m = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s+(.*)$/.exec(line);
      if (m) cur = m[1] === "r-xp" && m[2] === exe;
      else if (cur && line.startsWith("Rss:")) rss += Number.parseInt(line.slice(4), 10);
    }
    return rss;
  } catch {
    return 0;
  }
}

/**
 * Follows pid's resident code from now on until it has fallen to below `below(peak)`, peak being
 * the most seen since the call: the trim after the work that led up to the peak. Bounded.
 */
async function givesBack(pid: number, below = (peak: number) => peak / 2, ms = 30000) {
  let peak = 0;
  let now = 0;
  const low = await waitFor(() => {
    now = textKiB(pid);
    peak = Math.max(peak, now);
    return peak > 0 && now > 0 && now < below(peak);
  }, ms);
  return { peak, now, low: !!low };
}

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) kill(pid);
});

describe("which mappings a trim may drop (sys/trim.ts trimmable)", () => {
  const exe = "/opt/q/bin/qts";
  const head = (range: string, perms: string, off: string, path: string) =>
    `${range} ${perms} ${off} fe:00 7444129                            ${path}`;
  const vmas: [string, string, string, string, number][] = [
    ["00200000-01a39000", "r--p", "00000000", exe, 0], // first segment: yes
    ["01a40000-0684a000", "r-xp", "01838000", exe, 0], // code: yes
    ["0684a000-0685f000", "rw-p", "06641000", exe, 48], // data: never
    ["0685f000-06867000", "r--p", "06656000", exe, 12], // RELRO, written by the loader: never
    ["06867000-06e1d000", "rw-p", "0665e000", exe, 0], // writable, even if clean: never
    ["06e1d000-06e2d000", "r-xp", "06b00000", exe, 4], // code with a written page: never
    ["7f0000000000-7f0000100000", "r-xp", "00028000", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0], // not ours
    ["7f1000000000-7f1040000000", "rwxp", "00000000", "", 0], // JIT memory: never
    ["7f2000000000-7f2000001000", "r--p", "00000000", `${exe}.old`, 0], // another file
  ];
  const maps = vmas.map((v) => `${head(v[0], v[1], v[2], v[3])}\n`).join("");
  const smaps = Buffer.from(
    vmas
      .map((v) => `${head(v[0], v[1], v[2], v[3])}\nSize: 4 kB\nRss: 4 kB\nAnonymous: ${v[4]} kB\nVmFlags: rd\n`)
      .join(""),
  );

  test("only clean r-xp and offset-0 r--p mappings of the executable itself", () => {
    expect(trimmable(maps, smaps, exe)).toEqual([
      { start: 0x200000n, len: 0x1a39000n - 0x200000n },
      { start: 0x1a40000n, len: 0x684a000n - 0x1a40000n },
    ]);
  });

  test("a mapping whose Anonymous line is missing, or that smaps no longer shows, is left alone", () => {
    const code = head("01a40000-0684a000", "r-xp", "01838000", exe);
    expect(trimmable(`${code}\n`, Buffer.from(`${code}\nRss: 4 kB\nVmFlags: rd\n`), exe)).toEqual([]);
    expect(trimmable(`${code}\n`, Buffer.from(""), exe)).toEqual([]);
    // The Anonymous line of the next mapping is not this one's.
    const next = `${head("0684a000-0685f000", "r--p", "00000000", "/x")}\nAnonymous: 0 kB\nVmFlags: rd\n`;
    expect(trimmable(`${code}\n`, Buffer.from(`${code}\nRss: 4 kB\nVmFlags: rd\n${next}`), exe)).toEqual([]);
  });

  test("a deleted executable (rebuilt under a running program) matches its own name only", () => {
    const del = `${exe} (deleted)`;
    const code = head("01a40000-0684a000", "r-xp", "01838000", del);
    const sm = Buffer.from(`${code}\nAnonymous: 0 kB\nVmFlags: rd\n`);
    expect(trimmable(`${code}\n`, sm, del)).toHaveLength(1);
    expect(trimmable(`${code}\n`, sm, exe)).toEqual([]);
  });
});

describe("memory at rest", () => {
  test("supervise gives back after start-up and after a restart, and keeps obeying svc", async () => {
    const d = tmp();
    writeFileSync(join(d, "run"), "#!/bin/sh\nexec sleep 100\n");
    chmodSync(join(d, "run"), 0o755);
    const p = Bun.spawn([ours("supervise"), d], { stdio: ["ignore", "ignore", "inherit"] });
    started.push(p.pid);
    const first = await givesBack(p.pid);
    expect(first).toMatchObject({ low: true });
    const st = async () => (await run(ours("svstat"), [d])).stdout;
    const pidOf = async () => /up \(pid (\d+)\)/.exec(await st())?.[1];
    const pid1 = await waitFor(pidOf, 10000);
    expect(pid1).toBeDefined();
    // A burst: the child killed twice (svc -t), restarted each time; the code it ran faults back in.
    const rest = textKiB(p.pid);
    let prev = pid1;
    for (let i = 0; i < 2; i++) {
      expect((await run(ours("svc"), ["-t", d])).code).toBe(0);
      const next = await waitFor(async () => {
        const m = await pidOf();
        return m && m !== prev ? m : undefined;
      }, 10000);
      expect(next).toBeDefined();
      prev = next;
    }
    // ... and goes once the burst is over: below halfway between the rest level and the peak.
    const again = await givesBack(p.pid, (peak) => (peak + rest) / 2);
    expect({ rest, ...again }).toMatchObject({ low: true });
    expect(again.peak).toBeGreaterThan(rest);
    // Still obeys: down, up with a new child, exit.
    expect((await run(ours("svc"), ["-d", d])).code).toBe(0);
    expect(await waitFor(async () => / down /.test(await st()), 10000)).toBe(true);
    expect((await run(ours("svc"), ["-u", d])).code).toBe(0);
    const up = await waitFor(async () => {
      const m = await pidOf();
      return m && m !== prev ? m : undefined;
    }, 10000);
    expect(up).toBeDefined();
    expect((await run(ours("svc"), ["-dx", d])).code).toBe(0);
    expect(await Promise.race([p.exited, Bun.sleep(10000).then(() => "timeout")])).toBe(0);
  }, 90000);

  test("svscan gives back, then still starts a service that appears", async () => {
    const sv = tmp();
    const p = Bun.spawn([ours("svscan"), sv], { stdio: ["ignore", "ignore", "inherit"] });
    started.push(p.pid);
    expect(await givesBack(p.pid)).toMatchObject({ low: true });
    const d = join(sv, "late");
    mkdirSync(d);
    writeFileSync(join(d, "run"), "#!/bin/sh\nexec sleep 100\n");
    chmodSync(join(d, "run"), 0o755);
    // The next scan (every 5 s) starts its supervise.
    expect(await waitFor(async () => (await run(ours("svok"), [d])).code === 0, 20000)).toBe(true);
    expect(await waitFor(async () => /: up \(pid \d+\)/.test((await run(ours("svstat"), [d])).stdout), 10000)).toBe(
      true,
    );
    kill(p.pid);
    expect((await run(ours("svc"), ["-dx", d])).code).toBe(0);
  }, 90000);

  test("tcpserver gives back, then serves", async () => {
    const port = await freePort();
    const p = Bun.spawn([ours("tcpserver"), "-RHl0", "127.0.0.1", String(port), "sh", "-c", "echo served"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    started.push(p.pid);
    expect(await givesBack(p.pid)).toMatchObject({ low: true });
    for (let i = 0; i < 3; i++) {
      const got = await new Promise<string>((ok) => {
        let s = "";
        const c = connect(port, "127.0.0.1");
        c.on("data", (b) => {
          s += b.toString("latin1");
        });
        c.on("close", () => ok(s));
        c.on("error", () => ok(s));
        c.setTimeout(10000, () => c.destroy());
      });
      expect(got).toBe("served\n");
    }
  }, 90000);

  test("qmail-send and its helpers give back, then deliver", async () => {
    const h = makeHome();
    const q = startQmail(h, ["./Mailbox"]);
    started.push(q.pid);
    try {
      expect(await q.waitLine(/^status: local 0\/\d+ remote 0\/\d+/, 15000)).toBe(true);
      expect(readFileSync(`/proc/${q.pid}/comm`, "latin1").trim()).toBe("qmail-send");
      expect(await givesBack(q.pid)).toMatchObject({ low: true });
      inject(h, "me@domain", ["x@domain"], "Subject: after rest\n\nhi\n");
      expect(await waitFor(() => deliveries(h).some((f) => f.includes("Subject: after rest")), 20000)).toBe(true);
    } finally {
      await q.stop();
    }
  }, 90000);

  test("qmail-clean waits for its next request without start-up's code, and serves it", async () => {
    const h = makeHome();
    const a = inject(h, "me@domain", ["x@domain"], "m\n", { trigger: false });
    const b = inject(h, "me@domain", ["x@domain"], "m\n", { trigger: false });
    mkdirSync(join(h.dir, "queue/pid"), { recursive: true });
    const p = Bun.spawn([ours("qmail-clean")], { stdio: ["pipe", "pipe", "inherit"], env: { QMAILHOME: h.dir } });
    started.push(p.pid);
    const reader = p.stdout.getReader();
    const answer = async () => {
      const r = await Promise.race([reader.read(), Bun.sleep(10000).then(() => undefined)]);
      return r?.value ? new TextDecoder().decode(r.value) : "";
    };
    expect(await givesBack(p.pid)).toMatchObject({ low: true });
    p.stdin.write(`todo/${a}\0`);
    p.stdin.flush();
    expect(await answer()).toBe("+");
    p.stdin.write(`foop/${b}\0`);
    p.stdin.flush();
    expect(await answer()).toBe("+");
    p.stdin.end();
    expect(await Promise.race([p.exited, Bun.sleep(10000).then(() => "timeout")])).toBe(0);
  }, 60000);
});
