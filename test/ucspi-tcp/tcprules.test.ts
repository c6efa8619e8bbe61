// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { original, ours, run, tmp } from "../lib/harness.ts";

const SPEC_RULES = `127.0.0.1:allow,FOO="bar",BAZ='q x'\n10.0.0.1-3:deny\n192.168.:allow,NET=/lan/\n=host.example.com:deny\n=.example.com:allow\njoe@127.0.0.2:deny\n:allow\n`;
const PRECEDENCE = `127.0.0.:deny\n127.0.0.1:allow,X="1"\n127.:allow,X="p8"\n=:allow,X="anyname"\n=.b.c:allow,X="sfx"\n:deny\n127.0.0.1:deny\n`;

const pairs: [string, string][] = [["ours", ours("tcprules")]];
const orig = original("tcprules");
if (orig) pairs.push(["original", orig]);
const checks: [string, string][] = [["ours", ours("tcprulescheck")]];
const origCheck = original("tcprulescheck");
if (origCheck) checks.push(["original", origCheck]);

async function compile(bin: string, text: string | Buffer, dir = tmp()) {
  const cdb = join(dir, "r.cdb");
  const r = await run(bin, [cdb, join(dir, "r.tmp")], { input: text });
  return { ...r, cdb, dir, bytes: existsSync(cdb) ? readFileSync(cdb) : undefined };
}

describe.each(pairs)("tcprules (%s)", (_w, tcprules) => {
  test("usage: 100", async () => {
    for (const args of [[], ["a.cdb"]]) {
      const r = await run(tcprules, args);
      expect(r).toMatchObject({ code: 100, stdout: "", stderr: "tcprules: usage: tcprules rules.cdb rules.tmp\n" });
    }
  });

  test("the spec's rules file: 2385 bytes, tmp renamed away, mode 0644", async () => {
    const r = await compile(tcprules, SPEC_RULES);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(r.bytes?.length).toBe(2385);
    expect(existsSync(join(r.dir, "r.tmp"))).toBe(false);
    expect(statSync(r.cdb).mode & 0o777).toBe(0o644);
  });

  test.each([
    ["1.2.3.4:allow,X", "1.2.3.4:allow,X"],
    ["1.2.3.4:allow,X=\n", "1.2.3.4:allow,X="],
    ["1.2.3.4:allowX  \t\n", "1.2.3.4:allowX"],
    ['1.2.3.4:allow,X="y\n', '1.2.3.4:allow,X="y'],
    ["1.2.3.4:permit\n", "1.2.3.4:permit"],
    ['ok:deny\n1.2.3.4:deny,X="1"junk\n', '1.2.3.4:deny,X="1"junk'],
    ["1.2.3.x-5:deny\n", "1.2.3.x-5:deny"],
    ["1.2.3.4:allow\r\n", "1.2.3.4:allow\r"],
  ])("bad line %j: 100 with the trimmed line", async (text, shown) => {
    const r = await compile(tcprules, text);
    expect(r).toMatchObject({
      code: 100,
      stdout: "",
      stderr: `tcprules: fatal: unable to parse this line: ${shown}\n`,
    });
    expect(r.bytes).toBeUndefined();
  });

  test("lines without ':' , comments and blank lines are skipped", async () => {
    const r = await compile(tcprules, "bad line\n# c:deny\n\n   \n1.2.3.4:deny");
    expect(r.code).toBe(0);
    expect(r.bytes?.length).toBe(2048 + 8 + 7 + 2 + 16);
  });

  test("unable to create the tmp file: 111", async () => {
    const d = tmp();
    const r = await run(tcprules, [join(d, "r.cdb"), join(d, "no/r.tmp")], { input: ":allow\n" });
    expect(r).toMatchObject({
      code: 111,
      stderr: `tcprules: fatal: unable to create ${d}/no/r.tmp: file does not exist\n`,
    });
  });

  test("unable to move: 111, the tmp file stays", async () => {
    const d = tmp();
    const r = await run(tcprules, [join(d, "no/r.cdb"), join(d, "r.tmp")], { input: ":allow\n" });
    expect(r).toMatchObject({
      code: 111,
      stderr: `tcprules: fatal: unable to move ${d}/r.tmp to ${d}/no/r.cdb: file does not exist\n`,
    });
    expect(existsSync(join(d, "r.tmp"))).toBe(true);
  });
});

describe.skipIf(!orig)("tcprules: byte-identical to Debian's", () => {
  const cases = [
    SPEC_RULES,
    PRECEDENCE,
    "10.1-3.:deny\n1.2.3.250-300:allow,A=/b/\n1.2.3.7-5:deny\n1.2.-4.:deny\n=a-b.c:deny\nx@1.2.3.1-2:deny\n",
    "1.2.3.4:allow,A='x',B=\"y z\",C=|:|,D=..\n:allow, \n",
    Buffer.from([0x31, 0x3a, 0x61, 0x6c, 0x6c, 0x6f, 0x77, 0x2c, 0x41, 0x3d, 0x22, 0xff, 0x00, 0x22, 0x0a]),
    "noeol:deny",
  ];
  test.each(cases.map((c, i) => [i, c]))("case %d", async (_i, text) => {
    const a = await compile(ours("tcprules"), text);
    const b = await compile(orig as string, text);
    expect(a.code).toBe(b.code);
    expect(a.stderr).toBe(b.stderr);
    expect(a.bytes?.toString("hex")).toBe(b.bytes?.toString("hex"));
  });

  test("a 20000-line rules file with ranges: identical", async () => {
    let text = "";
    for (let i = 0; i < 20000; i++) {
      const a = (i * 7919) % 251;
      const b = (i * 104729) % 256;
      text += i % 50 === 0 ? `10.${a}.${b}.1-${b}:deny\n` : `${a}.${b}.${i % 256}.:allow,RELAYCLIENT="",N="${i}"\n`;
    }
    const a = await compile(ours("tcprules"), text);
    const b = await compile(orig as string, text);
    expect(a.code).toBe(0);
    expect(a.bytes?.equals(b.bytes as Buffer)).toBe(true);
  });

  test("random rules files: identical cdb or identical error (property)", async () => {
    const item = fc.oneof(
      fc.constantFrom(
        "1.2.3.4",
        "1.2.3.",
        "10.",
        "",
        "=",
        "=a.b",
        "=.b",
        "joe@1.2.3.4",
        "1.2.3.1-9",
        "1.2.300-2.",
        "#x",
      ),
      fc.stringMatching(/^[0-9.=@a-z-]{0,10}$/),
    );
    const action = fc.oneof(
      fc.constantFrom(":deny", ":allow", ':allow,X="1"', ":deny,A='b c',B=/x/", ":allow,", ":deny junk", ""),
      fc.stringMatching(/^:(allow|deny)(,[A-Z]{1,3}=["'|][a-z ]{0,4}["'|]){0,3}[ \t]{0,2}$/),
    );
    const files = fc.sample(fc.array(fc.tuple(item, action), { maxLength: 30 }), 40);
    for (const lines of files) {
      const text = lines.map(([a, b]) => `${a}${b}\n`).join("");
      const a = await compile(ours("tcprules"), text);
      const b = await compile(orig as string, text);
      expect({ code: a.code, err: a.stderr }).toEqual({ code: b.code, err: b.stderr });
      if (b.bytes) expect(a.bytes?.toString("hex")).toBe(b.bytes.toString("hex"));
    }
  }, 60_000);
});

describe.each(checks)("tcprulescheck (%s)", (_w, check) => {
  let specCdb = "";
  let precCdb = "";
  const prep = async () => {
    if (specCdb) return;
    specCdb = (await compile(ours("tcprules"), SPEC_RULES)).cdb;
    precCdb = (await compile(ours("tcprules"), PRECEDENCE)).cdb;
  };
  const q = async (cdb: string, env: Record<string, string>) =>
    run(check, [cdb], { env: { PATH: "/bin:/usr/bin", ...env }, extendEnv: false });

  test("usage and unreadable file", async () => {
    expect(await run(check, [])).toMatchObject({
      code: 100,
      stdout: "",
      stderr: "tcprulescheck: usage: tcprulescheck rules.cdb\n",
    });
    expect(await run(check, ["/nonexistent.cdb"])).toMatchObject({
      code: 111,
      stderr: "tcprulescheck: fatal: unable to read /nonexistent.cdb: file does not exist\n",
    });
  });

  test("a corrupt cdb: protocol error", async () => {
    const d = tmp();
    writeFileSync(join(d, "bad.cdb"), Buffer.alloc(100, 0xff));
    expect(await q(join(d, "bad.cdb"), { TCPREMOTEIP: "1.2.3.4" })).toMatchObject({
      code: 111,
      stderr: `tcprulescheck: fatal: unable to read ${d}/bad.cdb: protocol error\n`,
    });
  });

  test.each([
    [
      { TCPREMOTEIP: "127.0.0.1" },
      "rule 127.0.0.1:\nset environment variable FOO=bar\nset environment variable BAZ=q x\nallow connection\n",
    ],
    [{ TCPREMOTEIP: "10.0.0.9" }, "rule :\nallow connection\n"],
    [{ TCPREMOTEIP: "10.0.0.2" }, "rule 10.0.0.2:\ndeny connection\n"],
    [{ TCPREMOTEIP: "1.2.3.4", TCPREMOTEHOST: "www.example.com" }, "rule =.example.com:\nallow connection\n"],
    [{ TCPREMOTEIP: "1.2.3.4", TCPREMOTEHOST: "host.example.com" }, "rule =host.example.com:\ndeny connection\n"],
    [{ TCPREMOTEIP: "127.0.0.2", TCPREMOTEINFO: "joe" }, "rule joe@127.0.0.2:\ndeny connection\n"],
    [{ TCPREMOTEIP: "192.168.7.7" }, "rule 192.168.:\nset environment variable NET=lan\nallow connection\n"],
    [{}, "rule :\nallow connection\n"],
  ])("spec rules, %j", async (env, out) => {
    await prep();
    expect(await q(specCdb, env)).toMatchObject({ code: 0, stdout: out, stderr: "" });
  });

  test.each([
    [{ TCPREMOTEIP: "127.0.0.1" }, "rule 127.0.0.1:\nset environment variable X=1\nallow connection\n"],
    [{ TCPREMOTEIP: "127.0.0.5" }, "rule 127.0.0.:\ndeny connection\n"],
    [{ TCPREMOTEIP: "127.1.1.1" }, "rule 127.:\nset environment variable X=p8\nallow connection\n"],
    [
      { TCPREMOTEIP: "9.9.9.9", TCPREMOTEHOST: "a.b.c" },
      "rule =.b.c:\nset environment variable X=sfx\nallow connection\n",
    ],
    [
      { TCPREMOTEIP: "9.9.9.9", TCPREMOTEHOST: "x.y" },
      "rule =:\nset environment variable X=anyname\nallow connection\n",
    ],
    [{ TCPREMOTEIP: "9.9.9.9" }, "rule :\ndeny connection\n"],
  ])("precedence, %j", async (env, out) => {
    await prep();
    expect(await q(precCdb, env)).toMatchObject({ code: 0, stdout: out, stderr: "" });
  });

  test("no rule at all: default", async () => {
    const c = await compile(ours("tcprules"), "1.2.3.4:deny\n");
    expect(await q(c.cdb, { TCPREMOTEIP: "9.9.9.9" })).toMatchObject({
      code: 0,
      stdout: "default:\nallow connection\n",
    });
  });
});

describe.skipIf(!origCheck)("tcprulescheck: same answers as Debian's for random rules and connections", () => {
  test("property", async () => {
    const addr = fc.constantFrom(
      "1.2.3.4",
      "1.2.3.",
      "1.2.",
      "1.",
      "",
      "=",
      "=a.b.c",
      "=.b.c",
      "=.c",
      "joe@1.2.3.4",
      "joe@=a.b.c",
      "1.2.3.1-9",
    );
    const act = fc.constantFrom(":deny", ":allow", ':allow,X="1"', ":deny,A='b'", ':allow,A="1",B="2"');
    const query = fc.record({
      TCPREMOTEIP: fc.constantFrom("1.2.3.4", "1.2.3.5", "1.2.9.9", "1.9.9.9", "9.9.9.9"),
      TCPREMOTEHOST: fc.option(fc.constantFrom("a.b.c", "x.b.c", "y.c", "z", ""), { nil: undefined }),
      TCPREMOTEINFO: fc.option(fc.constantFrom("joe", "ann", ""), { nil: undefined }),
    });
    const files = fc.sample(fc.array(fc.tuple(addr, act), { maxLength: 12 }), 6);
    const queries = fc.sample(query, 8);
    for (const lines of files) {
      const c = await compile(ours("tcprules"), lines.map(([a, b]) => `${a}${b}\n`).join(""));
      for (const q of queries) {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(q)) if (v !== undefined) env[k] = v;
        const a = await run(ours("tcprulescheck"), [c.cdb], { env, extendEnv: false });
        const b = await run(origCheck as string, [c.cdb], { env, extendEnv: false });
        expect(a).toEqual(b);
      }
    }
  }, 60_000);
});

describe.skipIf(!orig || !origCheck)("cdbs cross over", () => {
  test("Debian's tcprulescheck reads our cdb, ours reads Debian's, with the same answers", async () => {
    const a = await compile(ours("tcprules"), SPEC_RULES + PRECEDENCE);
    const b = await compile(orig as string, SPEC_RULES + PRECEDENCE);
    for (const env of [
      { TCPREMOTEIP: "127.0.0.1" },
      { TCPREMOTEIP: "10.0.0.3" },
      { TCPREMOTEIP: "9.9.9.9", TCPREMOTEHOST: "a.b.c", TCPREMOTEINFO: "joe" },
    ]) {
      const r1 = await run(origCheck as string, [a.cdb], { env, extendEnv: false });
      const r2 = await run(ours("tcprulescheck"), [b.cdb], { env, extendEnv: false });
      expect(r1.stdout).toBe(r2.stdout);
      expect(r1.code).toBe(0);
    }
  });
});
