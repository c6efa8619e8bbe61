#!/bin/bash
# usage: bench/ucspi-tcp.sh [ROUNDS=3] [N=3000] [PORT=21100]
# tcpserver side by side, rounds interleaved (Debian's, then ours): the shared
# bench_tcpserver.sh (/bin/true per connection, sequential and 20 concurrent
# clients, RSS), then the same with a TypeScript child (our tcprulescheck,
# i.e. one start of the multicall Bun executable per connection).
ROUNDS=${1:-3}; N=${2:-3000}; PORT=${3:-21100}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(dirname "$HERE")
SHARED=${SHARED:-$ROOT/../shared/bench/daemontools}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
printf ':allow,X="1"\n' | "$ROOT/bin/tcprules" "$W/r.cdb" "$W/r.tmp"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for B in /usr/bin "$ROOT/bin"; do
    echo "=== round $r: $B (/bin/true)"
    bash "$SHARED/bench_tcpserver.sh" "$B" "$PORT" "$N"
    echo "=== round $r: $B (TypeScript child: $ROOT/bin/tcprulescheck)"
    "$B/tcpserver" -q -RHl0 -c 100 -b 100 127.0.0.1 "$PORT" "$ROOT/bin/tcprulescheck" "$W/r.cdb" & S=$!
    sleep 0.5
    python3 "$SHARED/connbench.py" 127.0.0.1 "$PORT" 20 1 >/dev/null
    echo "sequential:";    python3 "$SHARED/connbench.py" 127.0.0.1 "$PORT" $((N / 10)) 1
    echo "20 concurrent:"; python3 "$SHARED/connbench.py" 127.0.0.1 "$PORT" $((N / 5)) 20
    kill $S; wait $S 2>/dev/null
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
