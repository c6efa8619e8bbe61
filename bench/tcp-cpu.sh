#!/bin/bash
# tcpserver's own CPU per connection and its system calls per connection, ours against the original.
# /bin/true child, N sequential connections from shared/bench's connbench.py.
#   bash bench/tcp-cpu.sh [ORIG_BIN=/usr/bin] [OURS_BIN=bin] [N=1000] [PORT=23160]   (strace -c needs root)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
ORIG=${1:-/usr/bin}
OURS=$(cd "${2:-$REPO/bin}" && pwd)
N=${3:-1000}
PORT=${4:-23160}
CB=$REPO/../shared/bench/daemontools/connbench.py
[ -f "$CB" ] || CB=$REPO/bench/vendor/daemontools/connbench.py
cpu() { awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13], f[14] + f[15] }' "/proc/$1/stat"; }
for side in "$ORIG" "$OURS"; do
  "$side/tcpserver" -q -RHl0 -c 100 -b 100 127.0.0.1 "$PORT" /bin/true &
  sp=$!
  sleep 1
  python3 "$CB" 127.0.0.1 "$PORT" 100 1 >/dev/null
  read -r o0 k0 < <(cpu $sp)
  r=$(python3 "$CB" 127.0.0.1 "$PORT" "$N" 1)
  read -r o1 k1 < <(cpu $sp)
  hz=$(getconf CLK_TCK)
  echo "== $side/tcpserver: $r"
  python3 -c "print(f'  CPU per connection: tcpserver itself {($o1-$o0)*1000/$hz/$N:.3f} ms, its /bin/true children {($k1-$k0)*1000/$hz/$N:.3f} ms (load $(cut -d' ' -f1 /proc/loadavg))')"
  strace -qq -c -f -p $sp -o /tmp/tcp-cpu-strace.$$ &
  st=$!
  sleep 1
  python3 "$CB" 127.0.0.1 "$PORT" 300 1 >/dev/null
  kill -INT $st; wait $st 2>/dev/null
  echo "  system calls of tcpserver and its threads/children over 300 connections (strace -c -f), per connection:"
  awk 'NR>2 && $NF!="total" && $1 ~ /^[0-9.]+$/ { calls = ($4 ~ /^[0-9]+$/) ? $4 : 0; name = $NF; if (calls > 0) printf "    %-16s %7.2f\n", name, calls / 300 }' /tmp/tcp-cpu-strace.$$ | sort -k2 -nr | head -14
  rm -f /tmp/tcp-cpu-strace.$$
  kill $sp; wait $sp 2>/dev/null
done
