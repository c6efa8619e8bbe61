// SPDX-License-Identifier: MIT
// mailsubj subject recip...: Subject and To put in front of stdin, then qmail-inject (netqmail's mailsubj.sh).
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, run, tmp } from "../lib/harness.ts";

function home() {
  const h = tmp("qts-mailsubj-");
  mkdirSync(join(h, "control"));
  writeFileSync(join(h, "control", "me"), "me.example.com\n");
  writeFileSync(join(h, "qq"), `#!/bin/sh\ncat > "${h}/mess"\ncat <&1 > "${h}/env"\n`, { mode: 0o755 });
  return h;
}

async function ms(h: string, args: string[], input: string) {
  return await run(ours("mailsubj"), args, {
    input,
    env: { PATH: "/usr/bin:/bin", TZ: "UTC", QMAILHOME: h, QMAILQUEUE: join(h, "qq"), USER: "u" },
    extendEnv: false,
  });
}

const strip = (s: string) => s.replace(/^Date: .*\nMessage-ID: .*\n/, "");

test("Subject and To from the arguments; recipients from the To line", async () => {
  const h = home();
  const r = await ms(h, ["Weekly report", "boss@corp.example", "team"], "all good\n");
  expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
  expect(strip(readFileSync(join(h, "mess"), "latin1"))).toBe(
    "From: u@me.example.com\nSubject: Weekly report\nTo: boss@corp.example, team@me.example.com\n\nall good\n",
  );
  expect(readFileSync(join(h, "env"), "latin1")).toBe(
    "Fu@me.example.com\0Tteam@me.example.com\0Tboss@corp.example\0\0",
  );
});

test("no recipients: an empty To line, nothing in the envelope", async () => {
  const h = home();
  const r = await ms(h, [], "x");
  expect(r.code).toBe(0);
  expect(strip(readFileSync(join(h, "mess"), "latin1"))).toBe("From: u@me.example.com\nSubject: \nTo:\n\nx\n");
  expect(readFileSync(join(h, "env"), "latin1")).toBe("Fu@me.example.com\0\0");
});

test("a newline in the subject folds into the Subject field instead of adding a header or ending the header", async () => {
  const h = home();
  const r = await ms(h, ["hi\nBcc: victim@evil.example\n\nfake body", "a@b.c"], "real body\n");
  expect(r.code).toBe(0);
  expect(strip(readFileSync(join(h, "mess"), "latin1"))).toBe(
    "From: u@me.example.com\nSubject: hi\n Bcc: victim@evil.example\n \n fake body\nTo: a@b.c\n\nreal body\n",
  );
  expect(readFileSync(join(h, "env"), "latin1")).toBe("Fu@me.example.com\0Ta@b.c\0\0");
});
