// SPDX-License-Identifier: MIT
// checkpassword against real accounts (useradd + chpasswd with yescrypt and SHA-512 hashes,
// removed afterwards): the checkpassword interface's input on fd 3, its exit codes, and the
// program it runs as the user with USER, HOME and SHELL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { ours, runSync, tmp } from "../lib/harness.ts";

const CP = ours("checkpassword");
const base = tmp("qts-cp-");
chmodSync(base, 0o755);
const made: string[] = [];

function addUser(name: string, password: string, method: string): { uid: number; gid: number; home: string } {
  const home = join(base, name);
  mkdirSync(home);
  if (getpwnam(name)) runSync("userdel", [name]);
  const r = runSync("useradd", ["-M", "-d", home, "-s", "/bin/sh", name]);
  if (r.code !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  made.push(name);
  const c = runSync("chpasswd", ["-c", method], { input: `${name}:${password}\n` });
  if (c.code !== 0) throw new Error(`chpasswd ${name}: ${c.stderr}`);
  const pw = getpwnam(name);
  if (!pw) throw new Error(`no ${name}`);
  chownSync(home, pw.uid, pw.gid);
  return { uid: pw.uid, gid: pw.gid, home };
}

const Y = "qtsp_cpy";
const S = "qtsp_cps";
const L = "qtsp_cpl";
const users: Record<string, { uid: number; gid: number; home: string }> = {};
beforeAll(() => {
  users[Y] = addUser(Y, "yes secret", "YESCRYPT");
  users[S] = addUser(S, "sha secret", "SHA512");
  users[L] = addUser(L, "locked secret", "SHA512");
  runSync("usermod", ["-L", L]);
});
afterAll(() => {
  for (const n of made) runSync("userdel", [n]);
});

/** Runs checkpassword with input on fd 3 (a pipe) and args; fd 3 closed when input is undefined. */
function cp(input: string | Buffer | undefined, args: string[]) {
  const script = input === undefined ? 'exec 3<&-; exec "$@"' : 'exec "$@" 3<&0 </dev/null';
  const r = runSync("/bin/sh", ["-c", script, "sh", CP, ...args], {
    input: input ?? "",
    encoding: "latin1",
    timeout: 20000,
    env: { PATH: "/usr/bin:/bin", FOO: "bar" },
    extendEnv: false,
  });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

const SHOW = ["/bin/sh", "-c", 'echo "$USER $HOME $SHELL $FOO"; pwd; id -u; id -g; id -G'];

describe("checkpassword", () => {
  test("right password (yescrypt): runs the program as the user, in HOME, with USER, HOME, SHELL", () => {
    const u = users[Y] as { uid: number; gid: number; home: string };
    const r = cp(`${Y}\0yes secret\0<1.2@host>\0`, SHOW);
    expect(r).toEqual({
      code: 0,
      stdout: `${Y} ${u.home} /bin/sh bar\n${u.home}\n${u.uid}\n${u.gid}\n${u.gid}\n`,
      stderr: "",
    });
  });

  test("right password (SHA-512), no timestamp after the password", () => {
    const r = cp(`${S}\0sha secret\0`, ["/bin/sh", "-c", "id -un"]);
    expect(r).toEqual({ code: 0, stdout: `${S}\n`, stderr: "" });
  });

  test("wrong password, unknown user, locked account, empty password: 1, nothing run, nothing said", () => {
    for (const input of [
      `${Y}\0yes secreT\0ts\0`,
      `${Y}\0\0ts\0`,
      `${S}\0yes secret\0ts\0`,
      `qtsp_nosuchuser\0x\0ts\0`,
      `${L}\0locked secret\0ts\0`,
      `\0x\0`,
    ]) {
      expect({ input, ...cp(input, ["/bin/echo", "ran"]) }).toEqual({ input, code: 1, stdout: "", stderr: "" });
    }
  });

  test("misuse: 2 without a program or without the two NULs", () => {
    expect(cp(`${Y}\0yes secret\0`, []).code).toBe(2);
    for (const input of ["", `${Y}`, `${Y}\0`, `${Y}\0yes secret`]) {
      expect({ input, ...cp(input, ["/bin/echo", "ran"]) }).toEqual({ input, code: 2, stdout: "", stderr: "" });
    }
  });

  test("more than 512 bytes on fd 3 is refused (1), as checkpassword.c's buffer", () => {
    const pad = "x".repeat(512 - `${Y}\0yes secret\0`.length);
    expect(cp(`${Y}\0yes secret\0${pad}`, ["/bin/echo", "ran"]).code).toBe(0);
    expect(cp(`${Y}\0yes secret\0${pad}y`, ["/bin/echo", "ran"]).code).toBe(1);
  });

  test("fd 3 not open: 111; a program that cannot run: 111", () => {
    expect(cp(undefined, ["/bin/echo", "ran"]).code).toBe(111);
    expect(cp(`${Y}\0yes secret\0`, ["/nonexistent/prog"]).code).toBe(111);
  });

  test("not root: the shadow file cannot be read, a temporary problem (111), not a wrong password", () => {
    const u = users[Y] as { uid: number; gid: number; home: string };
    const r = runSync(
      "setpriv",
      [
        `--reuid=${u.uid}`,
        `--regid=${u.gid}`,
        "--clear-groups",
        "/bin/sh",
        "-c",
        'exec "$@" 3<&0',
        "sh",
        CP,
        "/bin/true",
      ],
      { input: `${Y}\0yes secret\0`, encoding: "latin1" },
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 111, stderr: "" });
  });

  test("the password appears in no output, and fd 3 is not passed on", () => {
    const r = cp(`${Y}\0yes secret\0<ts>\0`, [
      "/bin/sh",
      "-c",
      "if [ -e /dev/fd/3 ]; then echo open; cat <&3; else echo closed; fi",
    ]);
    expect(r).toEqual({ code: 0, stdout: "closed\n", stderr: "" });
  });
});
