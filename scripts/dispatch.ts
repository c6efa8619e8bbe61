// SPDX-License-Identifier: MIT
// The main of bin/qts, the multicall executable: picks the program by the name
// it was run as (busybox style), or by its first argument ("qts NAME args"),
// and loads that program's bundle, which starts it (scripts/multicall.ts).
// It imports nothing of ours, so that the process holds one copy of core: the
// bundle's (scripts/build.ts).

/** names: the programs, space-separated; dir: where their bundles are in the executable. */
export function dispatch(names: string, dir: string): void {
  const all = ` ${names} `;
  const known = (n: string) => n !== "" && !n.includes(" ") && all.includes(` ${n} `);
  let name = process.argv0.slice(process.argv0.lastIndexOf("/") + 1);
  if (!known(name)) {
    if (process.argv.length === 3 && process.argv[2]?.startsWith("--")) {
      // "qts --help", "qts --version": the multicall binary itself.
      name = "";
    } else {
      // "qts NAME args..." runs NAME, for installs without the links; "qts" alone, its usage.
      name = process.argv[2] ?? "";
      process.argv.splice(2, 1);
      if (name !== "" && !known(name)) {
        process.stderr.write(`qts: fatal: unknown program: ${name}\nqts: programs: ${names}\n`);
        process.exitCode = 100; // EXIT_USAGE (core/exit.ts)
        return;
      }
    }
  }
  const bundle = `${dir}/${name === "" ? "_qts" : name}.js`;
  import(bundle).catch((e: unknown) => {
    // A bundle that failed to load is one line, as core/boot.ts reports a failed start.
    process.stderr.write(`${name || "qts"}: fatal: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 111; // EXIT_TEMP (core/exit.ts)
  });
}
