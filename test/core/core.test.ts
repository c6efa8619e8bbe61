// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { constants } from "node:os";
import { join } from "node:path";
import { errnoStr, errorStr, errorTemp, SysError } from "@qts/core/errstr";
import { getopt } from "@qts/core/getopt";
import fc from "fast-check";
import { ROOT, run } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const E = constants.errno as Record<string, number>;

describe("errorStr: DJB's wording", () => {
  test.each([
    ["ENOENT", "file does not exist"],
    ["EAGAIN", "temporary failure"],
    ["EACCES", "access denied"],
    ["EPERM", "permission denied"],
    ["EISDIR", "is a directory"],
    ["ENOSPC", "out of disk space"],
    ["ENXIO", "device not configured"],
    ["EEXIST", "file already exists"],
    ["ECONNREFUSED", "connection refused"],
    ["ETIMEDOUT", "timed out"],
    ["ENOTDIR", "not a directory"],
    ["EINTR", "interrupted system call"],
  ])("%s -> %s", (code, text) => {
    expect(errorStr({ code })).toBe(text);
    expect(errnoStr(E[code] as number)).toBe(text);
    expect(errorStr(new SysError("x", E[code] as number))).toBe(text);
  });
  test("a node:fs error carries the same wording", () => {
    let err: unknown;
    try {
      require("node:fs").readFileSync("/nonexistent/file");
    } catch (e) {
      err = e;
    }
    expect(errorStr(err)).toBe("file does not exist");
  });
  test("unknown errors", () => {
    expect(errnoStr(0)).toBe("no error");
    expect(errnoStr(9999)).toBe("unknown error");
    expect(errorStr(new Error("no code"))).toBe("unknown error");
  });
  test("error_temp", () => {
    expect(errorTemp({ code: "EAGAIN" })).toBe(true);
    expect(errorTemp({ code: "ENOSPC" })).toBe(true);
    expect(errorTemp({ code: "ENOENT" })).toBe(false);
    expect(errorTemp({ code: "EACCES" })).toBe(false);
  });
});

describe("getopt (DJB sgetopt)", () => {
  test("keeps order and duplicates, clusters, stops at the first operand", () => {
    const r = getopt(["-dudx", "-k", "-h", "svc/a", "-u"], "udopchaitkx", true);
    expect(r.opts.map((o) => o.opt).join("")).toBe("dudxkh");
    expect(r.rest).toEqual(["svc/a", "-u"]);
  });
  test("arguments attached or separate; -- ends options; a lone - is an operand", () => {
    const r = getopt(["-m100", "-d", "200", "--", "-x"], "m:d:", true);
    expect(r.opts).toEqual([
      { opt: "m", arg: "100" },
      { opt: "d", arg: "200" },
    ]);
    expect(r.rest).toEqual(["-x"]);
    expect(getopt(["-", "a"], "a", true).rest).toEqual(["-", "a"]);
  });
  test("unknown option and missing argument are '?'", () => {
    expect(getopt(["-z"], "a", true).opts).toEqual([{ opt: "?", bad: "z" }]);
    expect(getopt(["-m"], "m:", true).opts).toEqual([{ opt: "?", bad: "m" }]);
  });
  test("the error text is sgetopt's", async () => {
    const r = await run(
      BUN,
      [
        "-e",
        'const {setProg}=await import("@qts/core/die"); const {getopt}=await import("@qts/core/getopt"); setProg("svc"); getopt(["-Z","-m"],"m:")',
      ],
      { cwd: ROOT },
    );
    expect(r.stderr).toBe("svc: illegal option -- Z\nsvc: option requires an argument -- m\n");
  });
  test("property: options then operands round-trip", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", "c")),
        fc.array(fc.string({ minLength: 1 }).filter((s) => !s.startsWith("-"))),
        (flags, operands) => {
          const argv = [...flags.map((f) => `-${f}`), ...operands];
          const r = getopt(argv, "abc", true);
          expect(r.opts.map((o) => o.opt)).toEqual(flags);
          expect(r.rest).toEqual(operands);
        },
      ),
    );
  });
});

describe("die/warn/run through a real process", () => {
  const prog = (body: string) =>
    run(
      BUN,
      [
        "-e",
        `const d=await import("@qts/core/die"); const {run}=await import("@qts/core/run"); d.setProg("prog"); ${body}`,
      ],
      {
        cwd: ROOT,
      },
    );
  test("dieSys: prog: fatal: unable to ...: reason, exit code", async () => {
    const r = await prog(
      'run(()=>{ try { require("fs").openSync("/nonexistent/x","r") } catch(e) { d.dieSys(111, e, "unable to open ", "/nonexistent/x") } return 0 })',
    );
    expect(r).toMatchObject({
      code: 111,
      stdout: "",
      stderr: "prog: fatal: unable to open /nonexistent/x: file does not exist\n",
    });
  });
  test("usage exits 100; warn continues", async () => {
    const r = await prog(
      'run(()=>{ d.warn("unable to control ", "s2", ": supervise not running"); d.dieUsage("prog dir") })',
    );
    expect(r).toMatchObject({
      code: 100,
      stderr: "prog: warning: unable to control s2: supervise not running\nprog: usage: prog dir\n",
    });
  });
  test("fatal, info and usageLine print without exiting; the main picks the code", async () => {
    const r = await prog(
      'run(()=>{ d.fatal("unable to bind: ", "x"); d.info("SIGTERM: every service stopped"); d.usageLine("prog dir"); d.verbose("status: 0/40"); return 111 })',
    );
    expect(r).toMatchObject({
      code: 111,
      stderr: "prog: fatal: unable to bind: x\nprog: info: SIGTERM: every service stopped\nprog: usage: prog dir\n",
    });
  });
  test("verbosity 0 silences warnings and non-exiting fatal lines, 2 adds status lines; die always prints", async () => {
    const quiet = await prog(
      'run(()=>{ d.setVerbosity(0); d.warn("w"); d.fatal("f"); d.verbose("status: 1/40"); d.die(111, "still said") })',
    );
    expect(quiet).toMatchObject({ code: 111, stderr: "prog: fatal: still said\n" });
    const loud = await prog('run(()=>{ d.setVerbosity(2); d.verbose("status: 1/40"); d.warn("w"); return 0 })');
    expect(loud).toMatchObject({ code: 0, stderr: "prog: status: 1/40\nprog: warning: w\n" });
  });
  test("the unable-to family: the caller names what, err adds its error_str; same lines as by hand", async () => {
    const r = await prog(
      'run(()=>{ let e; try { require("fs").openSync("/nonexistent/x","r") } catch(x) { e = x } d.warnUnable("control s2"); d.warnUnable("stat s3", e); d.fatalUnable("bind", e); d.errWrite(d.unable("fork", e) + "|" + d.unable("fork") + "\\n"); d.dieUnable(100, "open /nonexistent/x", e) })',
    );
    expect(r).toMatchObject({
      code: 100,
      stdout: "",
      stderr:
        "prog: warning: unable to control s2\n" +
        "prog: warning: unable to stat s3: file does not exist\n" +
        "prog: fatal: unable to bind: file does not exist\n" +
        "unable to fork: file does not exist|unable to fork\n" +
        "prog: fatal: unable to open /nonexistent/x: file does not exist\n",
    });
    // As dieSys prints it.
    const bySys = await prog(
      'run(()=>{ try { require("fs").openSync("/nonexistent/x","r") } catch(e) { d.dieSys(100, e, "unable to open ", "/nonexistent/x") } return 0 })',
    );
    expect(bySys.stderr).toBe("prog: fatal: unable to open /nonexistent/x: file does not exist\n");
    // Verbosity 0 silences the warning and the non-exiting fatal line; dieUnable prints, as die does.
    const quiet = await prog(
      'run(()=>{ d.setVerbosity(0); d.warnUnable("w", new Error()); d.fatalUnable("f"); d.dieUnable(111, "chdir to /x", Object.assign(new Error(), { code: "EACCES" })) })',
    );
    expect(quiet).toMatchObject({ code: 111, stderr: "prog: fatal: unable to chdir to /x: access denied\n" });
  });
  test("an async main's code, and die() from an event callback", async () => {
    expect((await prog("run(async()=>{ await Bun.sleep(1); return 7 })")).code).toBe(7);
    const r = await prog('run(()=>{ setTimeout(()=>d.die(111,"timer went off"),1); return new Promise(()=>{}) })');
    expect(r).toMatchObject({ code: 111, stderr: "prog: fatal: timer went off\n" });
  });
  test("an unexpected exception is a 111 internal error, not a stack trace", async () => {
    const r = await prog('run(()=>{ throw new Error("boom") })');
    expect(r).toMatchObject({ code: 111, stderr: "prog: fatal: internal error: boom\n" });
  });
});

test("a main whose promise never settles ends 111 with a message, not a silent 0", async () => {
  const r = await run(
    BUN,
    [
      "-e",
      'const d=await import("@qts/core/die"); const {run}=await import("@qts/core/run"); d.setProg("prog"); run(()=>new Promise(()=>{}))',
    ],
    { cwd: ROOT },
  );
  expect(r).toMatchObject({ code: 111, stderr: "prog: fatal: internal error: main ended without a result\n" });
});
