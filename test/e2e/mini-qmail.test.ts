// SPDX-License-Identifier: MIT
// "Many machines" in README.md, end to end on one machine: two qmail homes made by
// scripts/setup.ts in a temp root. The central host runs qmail-start and qmail-qmqpd
// under our tcpserver as qmaild (rules in control/qmqp.cdb) on a loopback address of
// its own, port 628; the satellite has no daemons: its qmail-inject hands each message
// to qmail-qmqpc through $QMAILQUEUE, and the message lands in a Maildir on the central.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { getpwnam } from "@qts/sys/pwd";
import { ROOT, run, runSync, type Started, start, tmp, waitFor } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const NOBODY = 65534;

let base = "";
let central = "";
let sat = "";
let meHome = "";
let ip = "";
let send: Started | undefined;
let server: Started | undefined;

/** 127.0.0.2 as in the README when port 628 is free there, else a loopback address of this run's own. */
async function pickAddress(): Promise<string> {
  for (const a of ["127.0.0.2", `127.${(process.pid >> 8) & 255}.${process.pid & 255}.2`]) {
    const free = await new Promise<boolean>((ok) => {
      const s = createServer();
      s.once("error", () => ok(false));
      s.listen(628, a, () => s.close(() => ok(true)));
    });
    if (free) return a;
  }
  throw new Error("no free loopback address for port 628");
}

function setup(home: string): void {
  const s = runSync(BUN, [join(ROOT, "scripts/setup.ts"), "--home", home, "--hardlink"], { timeout: 120_000 });
  if (s.code !== 0) throw new Error(`setup ${home}: ${s.stderr}`);
}

function mkMaildir(dir: string, uid: number, gid: number): void {
  for (const d of ["", "tmp", "new", "cur"]) {
    mkdirSync(join(dir, "Maildir", d), { recursive: true });
    chownSync(join(dir, "Maildir", d), uid, gid);
    chmodSync(join(dir, "Maildir", d), 0o700);
  }
}

function rules(text: string): void {
  const c = join(central, "control/qmqp");
  writeFileSync(c, text);
  const r = runSync(join(central, "bin/tcprules"), [`${c}.cdb`, `${c}.tmp`], { input: text });
  if (r.code !== 0) throw new Error(r.stderr);
}

const lines = () => (send?.all("latin1") ?? "").split("\n").map((l) => l.replace(/^@?[0-9a-f.]+ /, ""));

beforeAll(async () => {
  base = tmp("qts-mini-");
  chmodSync(base, 0o755);
  central = join(base, "central");
  sat = join(base, "satellite");
  setup(central);
  setup(sat);
  ip = await pickAddress();

  // the central host: a mailbox for me@central.test, QMQP for 127.* only
  writeFileSync(join(central, "control/me"), "central.test\n");
  writeFileSync(join(central, "control/locals"), "central.test\n");
  writeFileSync(join(central, "control/rcpthosts"), "central.test\n");
  meHome = join(base, "me");
  mkdirSync(meHome);
  chownSync(meHome, NOBODY, NOBODY);
  mkMaildir(meHome, NOBODY, NOBODY);
  const alias = getpwnam("alias");
  const nofiles = getpwnam("qmaild");
  if (!alias || !nofiles) throw new Error("qmail users missing");
  mkMaildir(join(central, "alias"), alias.uid, nofiles.gid);
  writeFileSync(join(central, "alias/.qmail-postmaster"), "", { mode: 0o644 });
  writeFileSync(
    join(central, "users/assign"),
    `=me:nobody:${NOBODY}:${NOBODY}:${meHome}:::\n+:alias:${alias.uid}:${nofiles.gid}:${central}/alias:-::\n.\n`,
  );
  expect((await run(join(central, "bin/qmail-newu"), [])).code).toBe(0);
  rules("127.:allow\n:deny\n");

  send = start(join(central, "bin/qmail-start"), ["./Maildir/"], {
    cwd: "/",
    env: { PATH: `${join(central, "bin")}:/usr/bin:/bin` },
    extendEnv: false,
    stdio: ["ignore", "pipe", "pipe"],
  });
  expect(await waitFor(() => lines().includes("status: local 0/10 remote 0/20"), 20000)).toBe(true);

  // as the service template runs it: envuidgid qmaild, tcpserver -U -x control/qmqp.cdb
  server = start(
    join(central, "bin/envuidgid"),
    [
      "qmaild",
      join(central, "bin/tcpserver"),
      "-U",
      "-H",
      "-R",
      "-x",
      `${central}/control/qmqp.cdb`,
      ip,
      "628",
      "qmail-qmqpd",
    ],
    {
      cwd: "/",
      env: { PATH: `${join(central, "bin")}:/usr/bin:/bin` },
      extendEnv: false,
      stdio: ["ignore", "ignore", "ignore"],
    },
  );
  const up = await waitFor(
    () =>
      new Promise<boolean>((ok) => {
        const s = connect(628, ip);
        s.on("connect", () => {
          s.destroy();
          ok(true);
        });
        s.on("error", () => ok(false));
      }),
    20000,
  );
  expect(up).toBe(true);

  // the satellite: its own name, and the central host to hand everything to
  writeFileSync(join(sat, "control/me"), "satellite.test\n");
  writeFileSync(join(sat, "control/qmqpservers"), `${ip}\n`);
});

afterAll(async () => {
  server?.kill("SIGTERM");
  send?.kill("SIGTERM");
  await send?.wait(8000);
});

async function inject(to: string, body: string) {
  return await run(join(sat, "bin/qmail-inject"), [to], {
    input: body,
    env: { PATH: "/usr/bin:/bin", QMAILQUEUE: join(sat, "bin/qmail-qmqpc"), USER: "root" },
    extendEnv: false,
  });
}

const newMail = () => readdirSync(join(meHome, "Maildir/new")).sort();

describe("mini-qmail: a satellite hands its mail to the central host by QMQP", () => {
  test("qmail-inject on the satellite -> qmail-qmqpc -> qmail-qmqpd -> the central queue -> the Maildir", async () => {
    const r = await inject("me@central.test", "Subject: from the satellite\n\nhello centre\n");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(await waitFor(() => newMail().length === 1, 20000)).toBe(true);
    const m = readFileSync(join(meHome, "Maildir/new", newMail()[0] as string), "latin1");
    // the central's qmail-queued records the uid of qmail-qmqpd (qmaild): "invoked from network"
    expect(m).toMatch(/^Return-Path: <root@satellite\.test>\nDelivered-To: me@central\.test\n/);
    expect(m).toContain("(qmail ");
    expect(m).toContain("invoked from network)");
    expect(m).toMatch(/\nReceived: from unknown \(127\.0\.0\.1\)\n {2}by \S+ with QMQP; /);
    // the header qmail-inject completed on the satellite, with the satellite's names
    expect(m).toMatch(/\nMessage-ID: <\d+\.\d+\.qmail@satellite\.test>\nFrom: root@satellite\.test\n/);
    expect(m).toContain("\nSubject: from the satellite\n\nhello centre\n");
    // nothing was queued on the satellite
    expect(readdirSync(join(sat, "queue/mess")).flatMap((d) => readdirSync(join(sat, "queue/mess", d)))).toEqual([]);
    expect(lines().some((l) => /^info msg \d+: bytes \d+ from <root@satellite\.test> qp \d+ uid \d+$/.test(l))).toBe(
      true,
    );
  });

  test("the central host refuses the satellite (tcprules deny): qmail-inject fails, nothing is delivered", async () => {
    rules(":deny\n");
    try {
      const before = newMail().length;
      const r = await inject("me@central.test", "Subject: refused\n\nno\n");
      expect(r.code).toBe(111);
      expect(r.stderr).toBe("qmail-inject: fatal: communication with mail server failed (#4.4.2)\n");
      await Bun.sleep(500);
      expect(newMail().length).toBe(before);
    } finally {
      rules("127.:allow\n:deny\n");
    }
  });

  test("qmqpservers in order: a host that refuses the connection is passed over", async () => {
    writeFileSync(join(sat, "control/qmqpservers"), `127.0.0.1\n${ip}\n`);
    try {
      const before = newMail().length;
      expect((await inject("me@central.test", "Subject: second server\n\nok\n")).code).toBe(0);
      expect(await waitFor(() => newMail().length === before + 1, 20000)).toBe(true);
      writeFileSync(join(sat, "control/qmqpservers"), "127.0.0.1\n");
      const r = await inject("me@central.test", "Subject: none\n\nno\n");
      expect(r).toMatchObject({
        code: 111,
        stderr: "qmail-inject: fatal: connection to mail server rejected (#4.4.1)\n",
      });
    } finally {
      writeFileSync(join(sat, "control/qmqpservers"), `${ip}\n`);
    }
  });
});

describe("the service templates for pop3d, qmqpd and qmtpd", () => {
  test("make setup's rendering (--down): run scripts, log scripts, down files, control/qmqp.cdb", async () => {
    const S = join(base, "service");
    const r = await run(BUN, [join(ROOT, "scripts/services.ts"), "--home", central, "--service", S, "--down"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      `services: ${S}: qmail smtpd smtpd/log pop3d pop3d/log qmqpd qmqpd/log qmtpd qmtpd/log (down)\n`,
    );
    for (const d of ["pop3d", "qmqpd", "qmtpd"]) {
      for (const f of [`${d}/run`, `${d}/log/run`]) {
        expect(runSync("sh", ["-n", join(S, f)]).code).toBe(0);
        expect(readFileSync(join(S, f), "utf8")).not.toContain("@");
      }
      expect(readdirSync(join(S, d))).toContain("down");
      expect(readdirSync(join(S, d, "log"))).toContain("down");
      expect(readFileSync(join(S, d, "log/run"), "utf8")).toContain(`splogger ${d} 2\n`);
    }
    expect(readFileSync(join(S, "pop3d/run"), "utf8")).toContain(`ME=\`head -n 1 ${central}/control/me\`\n`);
    expect(readFileSync(join(S, "pop3d/run"), "utf8")).toContain(
      'tcpserver -vRHl0 0 110 \\\nqmail-popup "$ME" checkpassword qmail-pop3d Maildir 2>&1\n',
    );
    expect(readFileSync(join(S, "qmqpd/run"), "utf8")).toContain(
      `envuidgid qmaild \\\nsoftlimit -m 500000000 \\\ntcpserver -UDHRQ -x ${central}/control/qmqp.cdb 0 628 \\\nqmail-qmqpd 2>&1\n`,
    );
    expect(readFileSync(join(S, "qmtpd/run"), "utf8")).toContain(
      `tcpserver -UDHRQ -x ${central}/control/tcp.smtp.cdb 0 209 \\\nqmail-qmtpd 2>&1\n`,
    );
    // the QMQP rules as rendered: this host only (the test's own rules file was there first, and is kept)
    const check = (ip: string) =>
      runSync(join(central, "bin/tcprulescheck"), [`${central}/control/qmqp.cdb`], {
        env: { TCPREMOTEIP: ip },
        extendEnv: false,
      }).stdout;
    expect(check("127.0.0.1")).toContain("allow");
    expect(check("10.1.2.3")).toContain("deny");
  });

  test("without --down (make start) they are not rendered", async () => {
    const S = join(base, "service-start");
    const r = await run(BUN, [join(ROOT, "scripts/services.ts"), "--home", central, "--service", S]);
    expect(r.stdout).toBe(`services: ${S}: qmail smtpd smtpd/log\n`);
    expect(readdirSync(S).sort()).toEqual(["qmail", "smtpd"]);
  });
});
