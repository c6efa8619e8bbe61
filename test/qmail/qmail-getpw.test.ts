// SPDX-License-Identifier: MIT
// qmail-getpw against real passwd entries (useradd; removed afterwards).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwLookup } from "@qts/qmail/lib/getpw";
import { getpwnam } from "@qts/sys/pwd";
import { ours, run, runSync, runSyncBytes, tmp } from "../lib/harness.ts";

const getpw = ours("qmail-getpw");
const base = tmp("qts-getpw-");
chmodSync(base, 0o755);
const made: string[] = [];
let aliasMade = false;

function addUser(name: string, ownHome = true): { uid: number; gid: number; home: string } {
  const home = join(base, name);
  mkdirSync(home);
  // A leftover from an interrupted run would make useradd fail.
  if (getpwnam(name)) runSync("userdel", [name]);
  const r = runSync("useradd", ["-M", "-d", home, "-s", "/usr/sbin/nologin", name]);
  if (r.code !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  made.push(name);
  const pw = getpwnam(name);
  if (!pw) throw new Error(`no ${name} after useradd`);
  if (ownHome) chownSync(home, pw.uid, pw.gid);
  return { uid: pw.uid, gid: pw.gid, home };
}

const users: Record<string, { uid: number; gid: number; home: string }> = {};
beforeAll(() => {
  for (const n of ["qtsgpa", "qtsgpa-b", "qtsgpc"]) users[n] = addUser(n);
  users.qtsgpnotown = addUser("qtsgpnotown", false);
  if (!getpwnam("alias")) {
    const r = runSync("useradd", ["-M", "-d", join(base, "alias"), "-s", "/usr/sbin/nologin", "alias"]);
    aliasMade = r.code === 0;
  }
});
afterAll(() => {
  for (const n of made) runSync("userdel", [n]);
  if (aliasMade) runSync("userdel", ["alias"]);
});

function fields(name: string, dash: string, ext: string): string {
  const u = users[name];
  if (!u) throw new Error(name);
  return `${name}\0${u.uid}\0${u.gid}\0${u.home}\0${dash}\0${ext}\0`;
}

function alias(ext: string): string {
  const pw = getpwnam("alias");
  if (!pw) throw new Error("no alias");
  return `alias\0${pw.uid}\0${pw.gid}\0${pw.dir}\0-\0${ext}\0`;
}

describe("qmail-getpw", () => {
  test("the whole local part is a user: dash and ext empty", async () => {
    expect(await run(getpw, ["qtsgpc"])).toMatchObject({ code: 0, stdout: fields("qtsgpc", "", ""), stderr: "" });
  });

  test("longest prefix before a '-' wins; the rest (original case) is ext", async () => {
    expect(await run(getpw, ["qtsgpa-b-Foo"])).toMatchObject({ code: 0, stdout: fields("qtsgpa-b", "-", "Foo") });
    expect(await run(getpw, ["qtsgpa-Bar-baz"])).toMatchObject({ code: 0, stdout: fields("qtsgpa", "-", "Bar-baz") });
    expect(await run(getpw, ["qtsgpc-"])).toMatchObject({ code: 0, stdout: fields("qtsgpc", "-", "") });
  });

  test("user names are matched lowercased", async () => {
    expect(await run(getpw, ["QtsGpC-X"])).toMatchObject({ code: 0, stdout: fields("qtsgpc", "-", "X") });
  });

  test("a prefix must end at '-': qtsgpcx is not qtsgpc", async () => {
    expect(await run(getpw, ["qtsgpcx"])).toMatchObject({ code: 0, stdout: alias("qtsgpcx") });
  });

  test("uid 0 never receives mail: root goes to alias with ext root", async () => {
    expect(await run(getpw, ["root"])).toMatchObject({ code: 0, stdout: alias("root") });
  });

  test("a home not owned by the user is skipped", async () => {
    expect(await run(getpw, ["qtsgpnotown"])).toMatchObject({ code: 0, stdout: alias("qtsgpnotown") });
  });

  test("no user: alias with the whole (unlowered) local part", async () => {
    expect(await run(getpw, ["PostMaster"])).toMatchObject({ code: 0, stdout: alias("PostMaster") });
    expect(await run(getpw, [""])).toMatchObject({ code: 0, stdout: alias("") });
  });

  test("prefixes of 32 or more characters are never tried", async () => {
    const long = `qtsgpc-${"x".repeat(40)}`;
    expect(await run(getpw, [long])).toMatchObject({ code: 0, stdout: fields("qtsgpc", "-", "x".repeat(40)) });
  });

  test("no alias user: QLX_NOALIAS (116)", () => {
    expect(() => getpwLookup("nobody-here-qts", "qtsnosuchalias")).toThrow(expect.objectContaining({ qlx: 116 }));
  });

  test("an argument that is not UTF-8: its bytes come back unchanged (ext, alias)", () => {
    // sh's printf makes the bytes: spawn arguments are text here.
    const raw = (arg: string) =>
      runSyncBytes("/bin/sh", ["-c", 'exec "$0" "$(printf "$1")"', getpw, arg], { timeout: 20_000 });
    const a = raw("qtsgpa-\\351x\\377");
    expect(a.code).toBe(0);
    expect(a.stdout.toString("latin1")).toBe(fields("qtsgpa", "-", "\xe9x\xff"));
    const b = raw("zz\\377");
    expect(b.code).toBe(0);
    expect(b.stdout.toString("latin1")).toBe(alias("zz\xff"));
    // UTF-8 goes out as the same UTF-8 bytes.
    const c = raw("qtsgpa-\\303\\251");
    expect(c.stdout.toString("latin1")).toBe(fields("qtsgpa", "-", "\xc3\xa9"));
  });

  test("no argument: 100", async () => {
    expect(await run(getpw, [])).toMatchObject({ code: 100, stdout: "", stderr: "" });
  });
});

describe("qmail-getpw -> qmail-local, as qmail-lspawn chains them (real uid from useradd)", () => {
  test("qtsgpa-b-Foo.Bar: getpw's fields become qmail-local's arguments; ~qtsgpa-b/.qmail-foo:bar delivers", async () => {
    const u = users["qtsgpa-b"];
    if (!u) throw new Error("setup");
    writeFileSync(join(u.home, ".qmail-foo:bar"), "./box\n|echo $USER $EXT $(id -u)\n");
    chownSync(join(u.home, ".qmail-foo:bar"), u.uid, u.gid);
    const g = await run(getpw, ["qtsgpa-b-Foo.Bar"]);
    const [user, uid, gid, home, dash, ext] = g.stdout.split("\0");
    const msg = join(base, "msg");
    writeFileSync(msg, "Subject: hi\n\nbody\n");
    const r = runSync(
      "sh",
      [
        "-c",
        `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups ${ours("qmail-local")} -- "$@" < ${msg} 2>&1`,
        "sh",
        user as string,
        home as string,
        "qtsgpa-b-Foo.Bar",
        dash as string,
        ext as string,
        "example.com",
        "alice@ex.org",
        "./Mailbox",
      ],
      { timeout: 20_000 },
    );
    expect(r.stdout).toBe(`qtsgpa-b Foo.Bar ${u.uid}\ndid 1+0+1\n`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(u.home, "box"), "utf8")).toContain("Delivered-To: qtsgpa-b-Foo.Bar@example.com\n");
  });
});
