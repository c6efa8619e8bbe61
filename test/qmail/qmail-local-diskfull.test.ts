// SPDX-License-Identifier: MIT
// A full disk never loses a message: qmail-local defers (111), an mbox is cut
// back to its old length, a maildir keeps nothing half-written. Each case runs
// in a private mount namespace (unshare -m) on a 256 KiB tmpfs.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ours, runSync, tmp } from "../lib/harness.ts";
import { GID, UID } from "./fixtures/local-user.ts";

const canUnshare = runSync("unshare", ["-m", "--propagation", "private", "true"]).code === 0;

function inTmpfs(script: string, message: string): { out: string; status: number | null } {
  const base = tmp("qts-full-");
  chmodSync(base, 0o755);
  const mnt = join(base, "mnt");
  mkdirSync(mnt);
  const msg = join(base, "msg");
  writeFileSync(msg, message);
  const ql = ours("qmail-local");
  const run = `setpriv --reuid=${UID} --regid=${GID} --clear-groups ${ql} -- joe "$D" joe "" "" example.com a@b ./Mailbox < "$MSG" 2>&1; echo "rc=$?"`;
  const sh = [
    'mount -t tmpfs -o size=256k,mode=755 tmpfs "$D" || exit 9',
    `chown ${UID}:${GID} "$D"`,
    script.replaceAll("RUN", run),
  ].join("\n");
  const r = runSync("unshare", ["-m", "--propagation", "private", "sh", "-c", sh], {
    env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", D: mnt, MSG: msg },
    extendEnv: false,
    timeout: 30_000,
  });
  return { out: r.stdout + r.stderr, status: r.code };
}

const big = `Subject: big\n\n${"y".repeat(99)}\n`.repeat(1500);

describe.skipIf(!canUnshare)("disk full (tmpfs in a private mount namespace)", () => {
  test("mbox: 111, the mailbox cut back to its old length; delivered once space is back", () => {
    const r = inTmpfs(
      [
        `printf 'old\\n' > "$D/Mailbox"; chown ${UID}:${GID} "$D/Mailbox"; chmod 600 "$D/Mailbox"`,
        'dd if=/dev/zero of="$D/filler" bs=1k count=180 2>/dev/null || true',
        "RUN",
        'echo "size=$(stat -c %s "$D/Mailbox")"',
        'rm "$D/filler"',
        "RUN",
        'echo "size=$(stat -c %s "$D/Mailbox")"',
      ].join("\n"),
      big,
    );
    const lines = r.out.split("\n");
    expect(lines.slice(0, 3)).toEqual(["Unable to write ./Mailbox: out of disk space. (#4.3.0)", "rc=111", "size=4"]);
    expect(lines[3]).toBe("did 1+0+0");
    expect(lines[4]).toBe("rc=0");
    expect(Number(lines[5]?.slice(5))).toBeGreaterThan(big.length);
  });

  test("maildir: 111, nothing in tmp/ or new/; delivered once space is back", () => {
    const r = inTmpfs(
      [
        'mkdir -p "$D/Maildir/tmp" "$D/Maildir/new" "$D/Maildir/cur"',
        `chown -R ${UID}:${GID} "$D/Maildir"`,
        `printf './Maildir/\\n' > "$D/.qmail"; chown ${UID}:${GID} "$D/.qmail"`,
        'dd if=/dev/zero of="$D/filler" bs=1k count=180 2>/dev/null || true',
        "RUN",
        'echo "tmp=$(ls "$D/Maildir/tmp" | wc -l) new=$(ls "$D/Maildir/new" | wc -l)"',
        'rm "$D/filler"',
        "RUN",
        'echo "tmp=$(ls "$D/Maildir/tmp" | wc -l) new=$(ls "$D/Maildir/new" | wc -l)"',
      ].join("\n"),
      big,
    );
    expect(r.out).toBe(
      "Temporary error on maildir delivery. (#4.3.0)\nrc=111\ntmp=0 new=0\ndid 1+0+0\nrc=0\ntmp=0 new=1\n",
    );
  });

  test("program writing to a full disk: its failure defers, the report says why", () => {
    const r = inTmpfs(
      [
        `printf '|cat > out || exit 111\\n' > "$D/.qmail"; chown ${UID}:${GID} "$D/.qmail"`,
        'dd if=/dev/zero of="$D/filler" bs=1k count=200 2>/dev/null || true',
        "RUN",
      ].join("\n"),
      big,
    );
    expect(r.out).toMatch(/No space left on device\nrc=111\n$/);
  });
});
