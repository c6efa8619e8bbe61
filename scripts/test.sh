#!/bin/bash
# make test: the whole suite through bun test, ending with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 2
BUN=node_modules/.bin/bun
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$BUN" test --timeout 60000 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
pass=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9)
fail=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9)
echo "${pass:-0} passed, ${fail:-0} failed"
if [ "$rc" -eq 0 ] && [ "${fail:-0}" -ne 0 ]; then rc=1; fi
if [ "${pass:-0}" -eq 0 ]; then rc=1; fi
exit "$rc"
