// SPDX-License-Identifier: MIT
// qmail-qread and qmail-qstat on a queue built by hand in qmail-queue.c's formats.
import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, tmp } from "../lib/harness.ts";

const WHEN = 1700000000; // 14 Nov 2023 22:13:20 UTC

/** A queue tree with four messages, one per info subdirectory so readdir order cannot matter. */
function queue() {
  const h = tmp("qts-qread-");
  const q = join(h, "queue");
  for (const d of ["mess", "info", "local", "remote"])
    for (let i = 0; i < 23; i++) mkdirSync(join(q, d, String(i)), { recursive: true });
  for (const d of ["todo", "intd", "bounce", "pid", "lock"]) mkdirSync(join(q, d));
  const msg = (id: number, size: number, info: string, local?: string, remote?: string) => {
    const s = String(id % 23);
    writeFileSync(join(q, "mess", s, String(id)), "x".repeat(size));
    writeFileSync(join(q, "info", s, String(id)), info, "latin1");
    utimesSync(join(q, "info", s, String(id)), WHEN, WHEN);
    if (local !== undefined) writeFileSync(join(q, "local", s, String(id)), local, "latin1");
    if (remote !== undefined) writeFileSync(join(q, "remote", s, String(id)), remote, "latin1");
  };
  // 46 % 23 = 0, 5, 30 % 23 = 7, 100 % 23 = 8
  msg(46, 10, "Fa@b\0");
  rmSync(join(q, "mess", "0", "46"));
  msg(5, 1234, "F\0", undefined, "Tbob@b.org\0");
  writeFileSync(join(q, "bounce", "5"), "<x@y>:\nfailed\n\n");
  msg(30, 77, "Fodd\x01sender\xe9@x.y\0", "Tme@here\x7f\0");
  msg(100, 246, "Fjoe@a.org\0", "Tme@domain\0Dyou@domain\0", "Dbob@b.org\0Xjunk\0Tcarol@c.org\0Tpartial");
  writeFileSync(join(q, "info", "3", "notanumber"), "");
  return { h, q };
}

const qenv = (h: string) => ({ env: { PATH: "/usr/bin:/bin", QMAILHOME: h }, extendEnv: false });

describe("qmail-qread", () => {
  test("lists each message and its recipients as the original does", async () => {
    const { h } = queue();
    const r = await run(ours("qmail-qread"), [], qenv(h));
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      "warning: trouble with #46: file does not exist\n" +
        "14 Nov 2023 22:13:20 GMT  #5  1234  <>  bouncing\n" +
        "\tremote\tbob@b.org\n" +
        "14 Nov 2023 22:13:20 GMT  #30  77  <odd_sender_@x.y> \n" +
        "\tlocal\tme@here_\n" +
        "14 Nov 2023 22:13:20 GMT  #100  246  <joe@a.org> \n" +
        "\tlocal\tme@domain\n" +
        "  done\tlocal\tyou@domain\n" +
        "  done\tremote\tbob@b.org\n" +
        "\tremote\tcarol@c.org\n",
    );
  });

  test("sendmail -bp runs it too", async () => {
    const { h } = queue();
    mkdirSync(join(h, "bin"));
    const { symlinkSync } = await import("node:fs");
    const { BIN } = await import("../lib/harness.ts");
    symlinkSync(join(BIN, "qts"), join(h, "bin", "qmail-qread"));
    const r = await run(ours("sendmail"), ["-bp"], qenv(h));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("#100  246  <joe@a.org> \n");
  });

  test("an empty queue prints nothing", async () => {
    const h = tmp();
    for (let i = 0; i < 23; i++) mkdirSync(join(h, "queue", "info", String(i)), { recursive: true });
    expect(await run(ours("qmail-qread"), [], qenv(h))).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  test("no queue: fatal on stdout, 111; a missing info subdirectory: opendir error, 111", async () => {
    const h = tmp();
    expect(await run(ours("qmail-qread"), [], qenv(h))).toMatchObject({
      code: 111,
      stdout: "fatal: unable to chdir: file does not exist\n",
    });
    mkdirSync(join(h, "queue", "info", "0"), { recursive: true });
    expect(await run(ours("qmail-qread"), [], qenv(h))).toMatchObject({
      code: 111,
      stdout: "fatal: unable to opendir info/1: file does not exist\n",
    });
  });
});

describe("qmail-qstat", () => {
  test("counts messages and unprocessed todo entries like the shell original (find | wc)", async () => {
    const { h, q } = queue();
    writeFileSync(join(q, "todo", "777"), "u0\0p1\0Fa\0Tb\0");
    writeFileSync(join(q, "todo", "778"), "");
    const r = await run(ours("qmail-qstat"), [], qenv(h));
    // oracle: the same counts taken with find and wc in the queue
    const sh = await run(
      "sh",
      [
        "-c",
        'cd "$1" && m=$(find queue/mess -mindepth 2 | wc -l) && t=$(find queue/todo -mindepth 1 | wc -l) && ' +
          'printf "messages in queue: %s\\nmessages in queue but not yet preprocessed: %s\\n" "$m" "$t"',
        "sh",
        h,
      ],
      {},
    );
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(sh.stdout);
    expect(r.stdout).toBe("messages in queue: 3\nmessages in queue but not yet preprocessed: 2\n");
  });

  test("empty queue: zero and zero", async () => {
    const h = tmp();
    for (let i = 0; i < 23; i++) mkdirSync(join(h, "queue", "mess", String(i)), { recursive: true });
    mkdirSync(join(h, "queue", "todo"));
    const r = await run(ours("qmail-qstat"), [], qenv(h));
    expect(r.stdout).toBe("messages in queue: 0\nmessages in queue but not yet preprocessed: 0\n");
  });
});
