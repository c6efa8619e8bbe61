#!/bin/bash
# Start-up cost: our multicall build vs. bare Bun vs. the C original, and the
# other build forms considered (Bun running the source, a per-program bundle).
# usage: bash bench/startup.sh [RUNS=300]   (prints a markdown table)
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-300}
BUN=$(readlink -f node_modules/.bin/bun)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/svc/supervise"
# Form: Bun running the TypeScript source through a shebang.
cat > "$W/src-svok" <<EOS
#!$BUN --no-env-file
import { main } from "$PWD/packages/daemontools/src/bin/svok.ts";
import { run } from "$PWD/packages/core/src/run.ts";
run(main);
EOS
chmod +x "$W/src-svok"
# Form: one bundled JS file per program, run by Bun through a shebang.
"$BUN" build "$W/src-svok" --target=bun --outfile "$W/bundle.js" >/dev/null 2>&1 || cp "$W/src-svok" "$W/bundle.js"
{ echo "#!$BUN --no-env-file"; grep -v '^#!' "$W/bundle.js"; } > "$W/bundle-svok"; chmod +x "$W/bundle-svok"
cmds=("$BUN -e 0" "bin/svok $W/svc" "$W/bundle-svok $W/svc" "$W/src-svok $W/svc")
names=("bun -e 0" "ours: bin/svok (multicall, --compile --bytecode)" "per-program bundle + shebang" "source .ts + shebang")
if [ -x /usr/bin/svok ]; then cmds+=("/usr/bin/svok $W/svc"); names+=("C svok (Debian daemontools)"); fi
hyperfine -N -i -w 30 -r "$RUNS" --export-json "$W/h.json" "${cmds[@]}" >/dev/null 2>&1
echo "| program | mean ms | median ms | ± ms | max RSS KiB |"
echo "|---|---|---|---|---|"
for i in "${!cmds[@]}"; do
  read -r mean med sd < <(python3 -c "import json,sys;r=json.load(open('$W/h.json'))['results'][$i];print('%.2f %.2f %.2f'%(r['mean']*1e3,r['median']*1e3,r['stddev']*1e3))")
  rss=$(/usr/bin/time -f %M ${cmds[$i]} 2>&1 >/dev/null | tail -1)
  echo "| ${names[$i]} | $mean | $med | $sd | $rss |"
done
