// SPDX-License-Identifier: MIT
// qmail-getpw against real passwd entries (useradd; removed afterwards).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getpwLookup } from "@qts/qmail/lib/users/getpw";
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

  test("-W without a socket on fd 3 is a local part, as in C: the alias user, ext -W", async () => {
    expect(await run(getpw, ["-W"])).toMatchObject({ code: 0, stdout: alias("-W"), stderr: "" });
  });
});

// qmail-lspawn's lookup worker (qmail-lspawn(8), "Delivery workers"): python holds the other end of
// the socket on fd 3, sends framed local parts, and prints each reply; every reply must be what a
// qmail-getpw of its own gives for that local part (exit code, then its output).
const WORKER_PEER = `
import os, socket, struct, subprocess, sys
pad = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]  # the pair lands above fd 3
a, b = socket.socketpair()
os.dup2(b.fileno(), 3)
p = subprocess.Popen([sys.argv[1], "-W"], pass_fds=(3,), stdin=subprocess.DEVNULL)
os.close(3); b.close()
def ask(local):
    a.sendall(struct.pack("<I", len(local)) + local)
    head = a.recv(4, socket.MSG_WAITALL)
    n = struct.unpack("<I", head)[0]
    body = a.recv(n, socket.MSG_WAITALL) if n else b""
    sys.stdout.buffer.write(struct.pack("<I", n) + body)
for arg in sys.argv[2:]:
    ask(bytes.fromhex(arg))
a.sendall(struct.pack("<I", 0))
sys.stdout.buffer.write(b"exit %d" % p.wait())
`;

describe("qmail-getpw -W: the lookup worker", () => {
  test("each reply is a qmail-getpw of its own: exit code, then the six fields; length 0 ends it", () => {
    const locals = ["qtsgpa", "qtsgpa-b-Foo.Bar", "QTSGPC", "qtsgpnotown", "nosuchuser-x", "-W", "qtsgpa-\xe9\xff"];
    const bytes = locals.map((l) =>
      Buffer.from(
        l.replace(/\\x(..)/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
        "latin1",
      ),
    );
    const r = runSyncBytes("python3", ["-c", WORKER_PEER, getpw, ...bytes.map((b) => b.toString("hex"))], {
      timeout: 20_000,
    });
    expect(r.stderr.toString()).toBe("");
    let out = r.stdout;
    for (const b of bytes) {
      const n = out.readUInt32LE(0);
      const body = out.subarray(4, 4 + n);
      out = out.subarray(4 + n);
      const own = runSyncBytes(
        "/bin/sh",
        ["-c", 'exec "$0" "$(printf "$1")"', getpw, [...b].map((c) => `\\${c.toString(8)}`).join("")],
        {
          timeout: 20_000,
        },
      );
      expect([body[0], body.subarray(1).toString("latin1")]).toEqual([own.code, own.stdout.toString("latin1")]);
    }
    expect(out.toString()).toBe("exit 0");
  });

  test("a request over the limit ends the worker with 111, answering nothing", () => {
    const peer = WORKER_PEER.replace(
      "for arg in",
      "a.sendall(struct.pack('<I', 65537)); print(p.wait()); sys.exit(0)\nfor arg in",
    );
    const r = runSyncBytes("python3", ["-c", peer, getpw], { timeout: 20_000 });
    expect(r.stdout.toString()).toBe("111\n");
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
