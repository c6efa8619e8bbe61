// SPDX-License-Identifier: MIT
// qmail-send against a scripted peer on all six pipes (qmail-send.c, spawn.c, qmail-clean.c): the
// test is qmail-lspawn, qmail-rspawn and qmail-clean, byte by byte.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { pipe } from "@qts/sys/pipe";
import { ours, type Started, start as startProgram, stdioFd, waitFor } from "../lib/harness.ts";
import { type Home, inject, makeHome } from "./qmail-send.helpers.ts";

setDefaultTimeout(30_000);

class Reader {
  buf = Buffer.alloc(0);
  eof = false;
  constructor(fd: number) {
    (async () => {
      try {
        for await (const d of Bun.file(fd).stream()) this.buf = Buffer.concat([this.buf, Buffer.from(d)]);
      } catch {}
      this.eof = true;
      try {
        closeSync(fd);
      } catch {}
    })();
  }
  text(): string {
    return this.buf.toString("latin1");
  }
}

interface Peer {
  child: Started;
  log: Reader;
  toL: Reader;
  toR: Reader;
  toC: Reader;
  fromL: number;
  fromR: number;
  fromC: number;
  lines: () => string[];
}

let peers: Peer[] = [];
afterEach(() => {
  for (const p of peers) {
    p.child.kill("SIGKILL");
    for (const fd of [p.fromL, p.fromR, p.fromC])
      try {
        closeSync(fd);
      } catch {}
  }
  peers = [];
});

/** qmail-send with pipes to us; cleaning is answered "+" after doing what qmail-clean would. */
function start(h: Home, spawnBytes: [number, number] = [120, 120]): Peer {
  const log = pipe();
  const l1 = pipe();
  const l2 = pipe();
  const r1 = pipe();
  const r2 = pipe();
  const c1 = pipe();
  const c2 = pipe();
  const child = startProgram(ours("qmail-send"), [], {
    env: { QMAILHOME: h.dir, QMAILQUEUE: join(h.dir, "bin/fake-qmail-queue") },
    extendEnv: false,
    stdio: [
      stdioFd(log[1]),
      stdioFd(l1[1]),
      stdioFd(l2[0]),
      stdioFd(r1[1]),
      stdioFd(r2[0]),
      stdioFd(c1[1]),
      stdioFd(c2[0]),
    ],
  });
  for (const fd of [log[1], l1[1], l2[0], r1[1], r2[0], c1[1], c2[0]]) closeSync(fd);
  const p: Peer = {
    child,
    log: new Reader(log[0]),
    toL: new Reader(l1[0]),
    toR: new Reader(r1[0]),
    toC: new Reader(c1[0]),
    fromL: l2[1],
    fromR: r2[1],
    fromC: c2[1],
    lines: () => p.log.text().split("\n").slice(0, -1),
  };
  peers.push(p);
  writeSync(p.fromL, Buffer.from([spawnBytes[0]]));
  writeSync(p.fromR, Buffer.from([spawnBytes[1]]));
  // qmail-clean: do the unlinks, answer +
  let done = 0;
  const q = join(h.dir, "queue");
  const timer = setInterval(() => {
    const reqs = p.toC.text().split("\0").slice(0, -1);
    for (; done < reqs.length; done++) {
      const [kind, id] = (reqs[done] as string).split("/") as [string, string];
      const n = Number(id);
      for (const f of kind === "foop" ? [`intd/${n}`, `mess/${n % 23}/${n}`] : [`intd/${n}`, `todo/${n}`])
        try {
          unlinkSync(join(q, f));
        } catch {}
      try {
        writeSync(p.fromC, "+");
      } catch {}
    }
    if (p.toC.eof) clearInterval(timer);
  }, 10);
  return p;
}

/** The commands sent to a spawner so far: [slot, messid, sender, recip]. */
function commands(r: Reader): [number, string, string, string][] {
  const out: [number, string, string, string][] = [];
  let b = r.buf;
  for (;;) {
    const parts: string[] = [];
    let pos = 1;
    if (b.length < 1) break;
    for (let i = 0; i < 3; i++) {
      const z = b.indexOf(0, pos);
      if (z < 0) return out;
      parts.push(b.subarray(pos, z).toString("latin1"));
      pos = z + 1;
    }
    out.push([b[0] as number, parts[0] as string, parts[1] as string, parts[2] as string]);
    b = b.subarray(pos);
  }
  return out;
}

const waitLine = (p: Peer, re: RegExp) => waitFor(() => p.lines().some((l) => re.test(l)), 8000);

describe("qmail-send's side of the spawn and clean protocols", () => {
  test("the spawner's byte caps concurrency; commands are <slot>N%23/N\\0sender\\0recip\\0", async () => {
    const h = makeHome();
    const p = start(h, [3, 7]);
    expect(await waitLine(p, /^status: local 0\/3 remote 0\/7$/)).toBe(true);
    const id = inject(h, "me@domain", ["a@domain", "b@domain", "c@domain", "d@domain", "x@remote.org"]);
    expect(await waitFor(() => commands(p.toL).length === 3 && commands(p.toR).length === 1)).toBe(true);
    const m = `${id % 23}/${id}`;
    expect(commands(p.toL)).toEqual([
      [0, m, "me@domain", "a@domain"],
      [1, m, "me@domain", "b@domain"],
      [2, m, "me@domain", "c@domain"],
    ]);
    expect(commands(p.toR)).toEqual([[0, m, "me@domain", "x@remote.org"]]);
    expect(p.lines()).toContain("status: local 3/3 remote 1/7");
    // a report frees slot 1; d goes out in it. Reports may arrive in pieces.
    writeSync(p.fromL, Buffer.from("\x01Kok b"));
    await Bun.sleep(50);
    writeSync(p.fromL, Buffer.from("\n\0"));
    expect(await waitFor(() => commands(p.toL).length === 4)).toBe(true);
    expect(commands(p.toL)[3]).toEqual([1, m, "me@domain", "d@domain"]);
    const n = p
      .lines()
      .find((l) => l.endsWith(" to local b@domain"))
      ?.match(/^starting delivery (\d+)/)?.[1];
    expect(p.lines()).toContain(`delivery ${n}: success: ok_b/`);
  });

  test("slot 0's report starts with a NUL byte; out of range and mangled reports", async () => {
    const h = makeHome();
    const p = start(h, [2, 2]);
    expect(await waitLine(p, /^status:/)).toBe(true);
    inject(h, "me@domain", ["a@domain", "b@domain"]);
    expect(await waitFor(() => commands(p.toL).length === 2)).toBe(true);
    writeSync(p.fromL, Buffer.from("\x05Kwho?\0\x00Xodd\0\x01Zlater\0"));
    expect(await waitLine(p, /^delivery 2: deferral: later$/)).toBe(true);
    const l = p.lines();
    expect(l).toContain("warning: internal error: delivery report out of range");
    expect(l).toContain("delivery 1: report mangled, will defer");
  });

  test("a report is cut at REPORTMAX (10000 bytes)", async () => {
    const h = makeHome();
    const p = start(h);
    expect(await waitLine(p, /^status:/)).toBe(true);
    inject(h, "me@domain", ["a@domain"]);
    expect(await waitFor(() => commands(p.toL).length === 1)).toBe(true);
    writeSync(p.fromL, Buffer.concat([Buffer.from("\0Z"), Buffer.alloc(20000, "y"), Buffer.from("\0")]));
    expect(await waitLine(p, /^delivery 1: deferral: y+$/)).toBe(true);
    const line = p.lines().find((x) => x.startsWith("delivery 1: deferral: ")) as string;
    expect(line.length).toBe("delivery 1: deferral: ".length + 9998);
  });

  test("a D mark that cannot be written: warning: trouble marking ...; message will be delivered twice!", async () => {
    const h = makeHome();
    const p = start(h);
    expect(await waitLine(p, /^status:/)).toBe(true);
    const id = inject(h, "me@domain", ["a@domain"]);
    expect(await waitFor(() => commands(p.toL).length === 1)).toBe(true);
    const f = join(h.dir, "queue/local", String(id % 23), String(id));
    rmSync(f);
    mkdirSync(f);
    writeSync(p.fromL, Buffer.from("\0Kdone\0"));
    expect(await waitLine(p, /^warning: trouble marking /)).toBe(true);
    expect(p.lines()).toContain(`warning: trouble marking local/${id % 23}/${id}; message will be delivered twice!`);
    expect(await waitLine(p, /^warning: unable to unlink local\//)).toBe(true);
    expect(p.lines()).toContain(`warning: unable to unlink local/${id % 23}/${id}; will try again later`);
  });

  test("qmail-clean unable to clean todo/N: warning, the message is not scheduled", async () => {
    const h = makeHome();
    const id = inject(h, "me@domain", ["a@domain"], "m\n", { trigger: false });
    const q = join(h.dir, "queue");
    // qmail-clean's unlink of intd/N fails: it answers "!"
    rmSync(join(q, `intd/${id}`));
    mkdirSync(join(q, `intd/${id}`));
    const c = startProgram(ours("qmail-start"), ["./Mailbox"], {
      env: { PATH: `${join(h.dir, "bin")}:/usr/bin:/bin`, QMAILHOME: h.dir },
      extendEnv: false,
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      expect(await c.until(`warning: qmail-clean unable to clean up todo/${id}\n`, 8000)).toContain(
        `warning: qmail-clean unable to clean up todo/${id}\n`,
      );
      await Bun.sleep(300);
      expect(c.stdout()).not.toContain("starting delivery");
      expect(existsSync(join(q, `todo/${id}`))).toBe(true);
    } finally {
      c.kill("SIGTERM");
      await c.wait(8000);
    }
  });
});
