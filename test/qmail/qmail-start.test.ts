// SPDX-License-Identifier: MIT
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chownSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, runSync, waitFor } from "../lib/harness.ts";
import { inject, makeHome, startQmail } from "./qmail-send.helpers.ts";

setDefaultTimeout(30_000);

interface Proc {
  pid: number;
  comm: string;
  cmdline: string[];
  uid: number;
  gid: number;
  groups: number[];
  fd: Record<number, string>;
}

function proc(pid: number): Proc {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (k: string) => (new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim();
  const fd: Record<number, string> = {};
  for (const f of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fd[Number(f)] = readlinkSync(`/proc/${pid}/fd/${f}`);
    } catch {}
  }
  return {
    pid,
    comm: readFileSync(`/proc/${pid}/comm`, "utf8").trim(),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").slice(0, -1),
    uid: Number(field("Uid").split(/\s+/)[0]),
    gid: Number(field("Gid").split(/\s+/)[0]),
    groups: field("Groups")
      .split(/\s+/)
      .filter((x) => x)
      .map(Number),
    fd,
  };
}

function children(pid: number): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(proc(Number(d)));
    } catch {}
  }
  return out;
}

describe("qmail-start", () => {
  test("the article's process tree: names, uids, gids, pipes, defaultdelivery, logger argv", async () => {
    const h = makeHome();
    const logfile = join(h.dir, "logger.out");
    writeFileSync(logfile, "");
    chownSync(logfile, h.ids.qmaill, h.ids.nofiles);
    writeFileSync(join(h.dir, "bin/testlogger"), `#!/bin/sh\ncat >> "$2"\n`, { mode: 0o755 });
    writeFileSync(join(h.dir, "bin/qmail-queued"), "#!/bin/sh\ncat\n", { mode: 0o755 });
    const q = startQmail(h, ["./Maildir/", "testlogger", "tag", logfile]);
    try {
      expect(await waitFor(() => readFileSync(logfile, "latin1").includes("status: local 0/10 remote 0/20\n"))).toBe(
        true,
      );
      await waitFor(() => children(q.pid).length >= 5);
      const send = proc(q.pid);
      const kids = children(q.pid);
      const by = (name: string) => kids.find((k) => k.comm === name) as Proc;
      expect(kids.map((k) => k.comm).sort()).toEqual(
        ["qmail-clean", "qmail-lspawn", "qmail-queued", "qmail-rspawn", "testlogger"].sort(),
      );
      const { ids } = h;
      expect(send).toMatchObject({ comm: "qmail-send", cmdline: ["qmail-send"], uid: ids.qmails, gid: ids.qmail });
      expect(send.groups).toEqual([ids.qmail]);
      expect(by("qmail-lspawn")).toMatchObject({ uid: 0, gid: ids.qmail, cmdline: ["qmail-lspawn", "./Maildir/"] });
      expect(by("qmail-rspawn")).toMatchObject({ uid: ids.qmailr, gid: ids.qmail, cmdline: ["qmail-rspawn"] });
      expect(by("qmail-clean")).toMatchObject({ uid: ids.qmailq, gid: ids.qmail, cmdline: ["qmail-clean"] });
      expect(by("qmail-queued")).toMatchObject({ uid: ids.qmailq, gid: ids.qmail });
      expect(by("testlogger")).toMatchObject({ uid: ids.qmaill, gid: ids.nofiles });
      // fds as qmail-start.c sets them: 0 log, 1/2 to/from lspawn, 3/4 rspawn, 5/6 qmail-clean
      const f = send.fd;
      for (const n of [0, 1, 2, 3, 4, 5, 6]) expect(f[n]).toMatch(/^pipe:/);
      expect(by("testlogger").fd[0]).toBe(f[0]);
      expect(by("qmail-lspawn").fd[0]).toBe(f[1]);
      expect(by("qmail-lspawn").fd[1]).toBe(f[2]);
      expect(by("qmail-rspawn").fd[0]).toBe(f[3]);
      expect(by("qmail-rspawn").fd[1]).toBe(f[4]);
      expect(by("qmail-clean").fd[0]).toBe(f[5]);
      expect(by("qmail-clean").fd[1]).toBe(f[6]);
      expect(by("qmail-queued").fd[1]).toBe(f[0]);
      // the defaultdelivery reaches qmail-local; the message flows through the whole tree
      const id = inject(h, "me@domain", ["ok@domain"]);
      expect(await waitFor(() => readFileSync(logfile, "latin1").includes(`end msg ${id}\n`))).toBe(true);
    } finally {
      await q.stop();
    }
    // qmail-send gone: every child sees EOF and exits (qmail-queued's stdin is its lifeline)
    expect(await waitFor(() => children(q.pid).length === 0, 8000)).toBe(true);
    expect(readFileSync(logfile, "latin1").endsWith("status: exiting\n")).toBe(true);
  });

  test("no logger: qmail-send logs to qmail-start's stdout", async () => {
    const h = makeHome();
    const q = startQmail(h);
    try {
      expect(await q.waitLine(/^status: local 0\/10 remote 0\/20$/)).toBe(true);
      expect(
        children(q.pid)
          .map((k) => k.comm)
          .sort(),
      ).toEqual(["qmail-clean", "qmail-lspawn", "qmail-rspawn"]);
    } finally {
      await q.stop();
    }
  });

  test("a one-user install (bin/.qmail-ids maps every id to one user) runs as that user, unprivileged", async () => {
    const h = makeHome();
    const all = 65534;
    let ids = "";
    for (const u of ["alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails"]) ids += `user ${u} ${all}\n`;
    for (const g of ["qmail", "nofiles"]) ids += `group ${g} ${all}\n`;
    writeFileSync(join(h.dir, "bin/.qmail-ids"), ids);
    runSync("chown", ["-R", `${all}:${all}`, join(h.dir, "queue")]);
    const id = inject(h, "me@domain", ["ok@domain"], "Subject: one\n\n", { trigger: false });
    runSync("chown", ["-R", `${all}:${all}`, join(h.dir, "queue")]);
    const q = startQmail(h, ["./Mailbox"], {}, ["setpriv", `--reuid=${all}`, `--regid=${all}`, "--clear-groups"]);
    try {
      expect(await q.waitLine(new RegExp(`^end msg ${id}$`))).toBe(true);
      expect(q.lines()).toContain("delivery 1: success: did_1+0+0/");
      expect(proc(q.pid)).toMatchObject({ comm: "qmail-send", uid: all, gid: all });
    } finally {
      await q.stop();
    }
  });

  test("not root: 111 and nothing started", async () => {
    const h = makeHome();
    const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ours("qmail-start")], {
      env: { QMAILHOME: h.dir, PATH: "/usr/bin:/bin" },
    });
    expect(r.code).toBe(111);
  });
});
