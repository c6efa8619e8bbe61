// SPDX-License-Identifier: MIT
// splogger against a real syslogd: a private mount namespace (unshare -m) gets its own /dev, so
// /dev/log there is a socket of the test's own, and the program runs unchanged.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { original, ours, run, tmp } from "../lib/harness.ts";

const SPLOGGER = ours("splogger");

/** Runs body (sh) in a namespace whose /dev is a tmpfs with null, zero, (u)random, full, tty and fd. */
async function inNamespace(body: string, env: Record<string, string> = {}) {
  const t = tmp("splog-");
  const script = `set -e
mount --make-rprivate /
mkdir -p "$T/olddev"
mount --rbind /dev "$T/olddev"
mount -t tmpfs tmpfs /dev
for n in null zero random urandom full tty; do touch /dev/$n; mount --bind "$T/olddev/$n" /dev/$n; done
ln -s /proc/self/fd /dev/fd
${body}`;
  return {
    t,
    r: await run("unshare", ["-m", "sh", "-c", script], { env: { T: t, SPLOGGER, ...env }, timeout: 15000 }),
  };
}

describe("splogger", () => {
  test.skipIf(!original("busybox"))("busybox syslogd receives each line with facility, priority and tag", async () => {
    const { t, r } = await inNamespace(`busybox syslogd -n -O "$T/messages" &
P=$!
i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done
printf 'hello world\\n\\nwarning: disk\\nalert: fire\\nwarning:x\\n' | "$SPLOGGER" qmail
printf 'in daemon\\n' | "$SPLOGGER" tag 3
printf 'no tag\\n' | "$SPLOGGER"
printf 'bad facility\\n' | "$SPLOGGER" t2 abc
sleep 0.3
kill $P
# busybox's lines: "Mmm dd hh:mm:ss HOST facility.priority tag: text"; the day is space-padded
# ("Dec  7"), so the date and host name go by pattern, not by field count.
grep -v -e 'syslogd started' -e 'syslogd exiting' "$T/messages" | sed -E 's/^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [^ ]+ //'`);
    expect(r.code).toBe(0);
    const got = r.stdout.replace(/ \d+\.\d{6} /g, " STAMP ");
    expect(got).toBe(
      [
        "mail.info qmail: STAMP hello world",
        "mail.warn qmail: STAMP warning: disk",
        "mail.alert qmail: STAMP alert: fire",
        "mail.warn qmail: STAMP warning:x",
        "daemon.info tag: STAMP in daemon",
        "mail.info splogger: STAMP no tag",
        "user.info t2: STAMP bad facility",
        "",
      ].join("\n"),
    );
    void t;
  });

  test("datagrams are glibc syslog()'s, byte for byte (time masked)", async () => {
    const d = tmp();
    const py = join(d, "recv.py");
    writeFileSync(
      py,
      `import socket, syslog, subprocess, os, sys, re
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log"); s.settimeout(0.5)
data = b"warning: hi\\nplain \\x01\\xff\\x7f line\\n" + b"y" * 799 + b"\\n" + b"x" * 1700 + b"\\n\\nlast line dropped"
subprocess.run([os.environ["SPLOGGER"], "tagx", "10"], input=data)
got = []
while True:
    try: got.append(s.recv(4096))
    except socket.timeout: break
syslog.openlog("tagx", 0, 10 << 3)
for g in got:
    m = re.match(rb"<(\\d+)>... .. ..:..:.. tagx: (.*)$", g, re.S)
    syslog.syslog(int(m.group(1)) & 7, m.group(2).decode("latin1"))
    want = s.recv(4096)
    mask = lambda b: re.sub(rb"^(<\\d+>)... .. ..:..:..", rb"\\1TIME", b)
    print(mask(g) == mask(want), mask(g)[:60].decode("latin1"), len(g))
`,
    );
    const { r } = await inNamespace(`python3 "${py}"`);
    expect(r.stderr).toBe("");
    const rows = r.stdout.trim().split("\n");
    expect(rows.length).toBe(6);
    for (const row of rows) expect(row.startsWith("True ")).toBe(true);
    expect(rows[0]).toMatch(/^True <84>TIME tagx: \d+\.\d{6} warning: hi /);
    expect(rows[1]).toMatch(/^True <86>TIME tagx: \d+\.\d{6} plain \?\?\? line/);
    // 799 bytes fit; 1700 go out as 799 + 799 + 102, the rest as "stamp+...".
    expect(rows[3]).toMatch(/ \d+\.\d{6} x+ /);
    expect(rows[4]).toMatch(/ \d+\.\d{6}\+x+ /);
    expect(rows[2]).toMatch(/ \d+\.\d{6} y+ /);
    const len = (i: number) => Number(rows[i]?.split(" ").at(-1));
    expect([len(2), len(3), len(4), len(5)].map((n) => n - len(2))).toEqual([0, 0, 0, 102 - 799]);
  });

  test("no syslogd: lines are dropped silently, exit 0", async () => {
    const { r } = await inNamespace(`printf 'a\\nb\\n' | "$SPLOGGER" x; echo rc=$?`);
    expect(r.stdout).toBe("rc=0\n");
    expect(r.stderr).toBe("");
  });
});
