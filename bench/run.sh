#!/bin/bash
# make bench: ours side by side with the originals, in one run, and bench/RESULTS.md.
#
#   bash bench/run.sh                       everything (as root; about 30-60 minutes on 2 cores)
#   ONLY=startup,tcpserver bash bench/run.sh  some sections: startup tcpserver supervise multilog qmail tree
#   QUICK=1 bash bench/run.sh               smaller counts, fewer runs (a smoke test, a few minutes)
#
# Sides: ours = a snapshot of bin/qts (installed with scripts/setup.ts into a temp qmail home, so a
# rebuild by someone else cannot change the binary mid-run); the originals = Debian's daemontools and
# ucspi-tcp in ORIG (default /usr/bin) and, if CQMAIL=<dir> names a C qmail home (bin/ control/ queue/,
# e.g. notqmail installed there), that qmail. Without CQMAIL the qmail figures are ours only, next to
# shared/bench/README.md's notqmail baseline, labelled "orientation only, not measured in this run".
#
# Variables: ORIG=/usr/bin CQMAIL= RUNS=3 (repeats per figure; medians) QN=500 (messages per qmail run)
# PROGS="svok tcpserver" (start-up: only these programs) PORT_BASE=23100 (ports PORT_BASE..PORT_BASE+9 on 127.0.0.1) RESULTS=bench/RESULTS.md KEEP=1 (keep work dir)
# Benchmark scripts come from ../shared/bench beside the checkout, else bench/vendor (a copy of them).
# Needs root, python3, hyperfine, GNU time, setpriv. Never touches /var/qmail or /service.
set -u
{ # parsed whole before it runs: editing this file during a run cannot change the run
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
BUN=$REPO/node_modules/.bin/bun
ORIG=${ORIG:-/usr/bin}
CQMAIL=${CQMAIL:-}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then : "${RUNS:=1}" "${QN:=100}" "${SU_RUNS:=10}" "${TCP_N:=500}" "${ML_RUNS:=1}"; fi
RUNS=${RUNS:-3}
QN=${QN:-500}
SU_RUNS=${SU_RUNS:-30}
TCP_N=${TCP_N:-2000}
ML_RUNS=${ML_RUNS:-3}
PORT_BASE=${PORT_BASE:-23100}
ONLY=${ONLY:-startup,tcpserver,supervise,multilog,qmail,tree}
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
SHARED=""
for d in "$REPO/../shared/bench" "$REPO/bench/vendor"; do
  if [ -f "$d/daemontools/bench_tcpserver.sh" ] && [ -f "$d/qmail/bench_smtp.py" ]; then SHARED=$(cd "$d" && pwd); break; fi
done
[ -n "$SHARED" ] || { echo "run.sh: no benchmark scripts in ../shared/bench or bench/vendor" >&2; exit 111; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (qmail-start, setuid, the bench user)" >&2; exit 111; }
for t in python3 hyperfine /usr/bin/time setpriv; do
  command -v "$t" >/dev/null || { echo "run.sh: $t is missing" >&2; exit 111; }
done
[ -x "$REPO/bin/qts" ] || { echo "run.sh: bin/qts is missing: run make first" >&2; exit 111; }

W=$(mktemp -d /tmp/qts-bench.XXXXXX)
chmod 755 "$W"
FIGS=$W/figs.jsonl
LOG=$W/log.txt
PIDS=()
# Every process still running a program from this run's own temp homes is ours: end those by pid.
# (qmail-queued and the logger outlive a TERMed qmail-send, see bench/profiles.md.)
reap_ours() {
  local p e
  for p in /proc/[0-9]*; do
    e=$(readlink "$p/exe" 2>/dev/null) || continue
    case $e in "$W"/*) kill "${p#/proc/}" 2>/dev/null ;; esac
  done
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  reap_ours
  [ -n "${STATE:-}" ] && [ -f "$STATE/qmail-send.pid" ] && kill -TERM "$(cat "$STATE/qmail-send.pid")" 2>/dev/null
  [ -n "${STATE:-}" ] && [ -f "$STATE/tcpserver.pid" ] && kill -TERM "$(cat "$STATE/tcpserver.pid")" 2>/dev/null
  sleep 0.5
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fig() { python3 "$REPO/bench/figs.py" add "$FIGS" "$@" | tee -a "$LOG"; }
say() { echo "== $* (load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%H:%M:%S))" | tee -a "$LOG"; }
has() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
med() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:] if x not in ("","None")]; print("%.3f"%s.median(v) if v else "")' "$@"; }
runs_note() { echo "runs: $*" | tr -s ' '; }

# ---- ours: install a snapshot of bin/qts into a qmail home ------------------------------------------
QHOME=$W/qmail
"$BUN" scripts/setup.ts --home "$QHOME" >"$W/setup.log" 2>&1 || { cat "$W/setup.log"; exit 111; }
OURS=$QHOME/bin
SHA=$(sha256sum "$OURS/qts" | cut -c1-12)
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git -C "$REPO" status --porcelain -- packages 2>/dev/null | wc -l)

python3 - "$W/machine.json" "$BUN" "$ORIG" "$CQMAIL" "$COMMIT" "$DIRTY" "$SHA" "$SHARED" "$RUNS" "$QN" <<'PY'
import json, os, platform, subprocess, sys, time
out, bun, orig, cq, commit, dirty, sha, shared, runs, qn = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
def ver(cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except Exception: return "?"
m = {
    "date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    "nproc": os.cpu_count(),
    "CPU": cpu,
    "memory": f"{int(mem) / 1048576:.1f} GiB",
    "kernel": platform.release(),
    "Bun": ver([bun, "--version"]),
    "hyperfine": ver(["hyperfine", "--version"]),
    "Python (load generators)": platform.python_version(),
    "ours": f"a copy of the checkout's bin/qts taken when the run started (HEAD was {commit}" + (f", with {dirty} uncommitted files under packages/" if dirty != "0" else "") + f"; sha256 {sha}…)",
    "originals": f"Debian daemontools 0.76 and ucspi-tcp 0.88 in {orig}" + (f"; C qmail home {cq}" if cq else "; no C qmail on this machine (CQMAIL unset)"),
    "benchmark scripts": shared,
    "repeats": f"RUNS={runs} per figure (medians), QN={qn} messages per qmail run",
    "load average at start": open("/proc/loadavg").read().split()[0],
}
json.dump(m, open(out, "w"), indent=1)
PY
say "work dir $W; ours $OURS (sha256 $SHA); originals $ORIG; scripts $SHARED"

# ---- start-up time and peak RSS of every program ------------------------------------------------------
startup() {
  say "start-up: every program in bin/ (hyperfine -N, $SU_RUNS runs)"
  local S=$W/startup prog cmd oc h rss orss ms oms
  mkdir -p "$S/cwd" "$S/none"
  "$BUN" scripts/setup.ts --home "$S/home" >/dev/null 2>&1 || return
  ln -f "$OURS/qts" "$S/home/bin/qts"
  mkdir -p "$S/svc/supervise" && mkfifo "$S/svc/supervise/ok"
  : >"$S/empty.ts"
  "$BUN" scripts/build.ts --bare "$S/bare-bun" >/dev/null 2>&1 # the same flags as bin/qts
  cd "$S/cwd" || return
  cpu_of() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]; print('%.3f' % ((r['user'] + r['system']) * 1000))" "$@"; }
  bline() { # name, command
    hyperfine -N -i -w 5 -r "$SU_RUNS" --export-json "$S/b.json" "$2" >/dev/null 2>&1
    ms=$(python3 "$REPO/bench/figs.py" hf "$S/b.json")
    rss=$(rss_of $2)
    fig "start-up" "$1" "ms down" "$ms" - "CPU $(cpu_of "$S/b.json" 0) ms; peak RSS $rss KiB"
    cpu_of "$S/b.json" 0 >"$S/$3"
  }
  rss_of() { local i v=(); for i in 1 2 3; do v+=("$(/usr/bin/time -f %M "$@" </dev/null 2>&1 >/dev/null | tail -1)"); done; med "${v[@]}" | cut -d. -f1; }
  bline "bare Bun: empty program compiled like ours (scripts/build.ts --bare)" "$S/bare-bun" bare.ms
  bline "bare Bun: \`bun -e 0\`" "$BUN -e 0" bune.ms
  local bare
  bare=$(cat "$S/bare.ms")
  : >"$S/rss.tsv"
  for prog in ${PROGS:-$(ls "$S/home/bin")}; do
    case $prog in
    qts) continue ;;
    svscanboot | qmail-start | qmail-send | qmail-queued)
      echo "  $prog: not timed (a daemon with no exit-at-once invocation)" | tee -a "$LOG"
      continue
      ;;
    svscan) cmd="svscan $S/none/x" ;;
    config-fast) cmd="config-fast test.example" ;;
    qmail-inject) cmd="qmail-inject -n" ;;
    svok) cmd="svok $S/svc" ;;
    *) cmd=$prog ;;
    esac
    oc=""
    if [ -x "$ORIG/$prog" ] && head -c4 "$ORIG/$prog" | grep -q ELF; then
      oc="$ORIG/$cmd"
    elif [ -n "$CQMAIL" ] && [ -x "$CQMAIL/bin/$prog" ]; then
      case $prog in qmail-local | qmail-remote | qmail-smtpd | qmail-showctl | qmail-qstat | qmail-qread | qmail-tcpto | forward | predate | preline | condredirect | bouncesaying | except | maildirmake | maildir2mbox | qmail-inject | qmail-getpw | splogger) oc="$CQMAIL/bin/$cmd" ;; esac
    fi
    # each command once, bounded, before timing it
    timeout 10 $S/home/bin/$cmd </dev/null >/dev/null 2>&1
    if [ $? -eq 124 ]; then
      echo "  $prog: skipped (did not exit within 10 s)" | tee -a "$LOG"
      continue
    fi
    if [ -n "$oc" ]; then
      hyperfine -N -i -w 3 -r "$SU_RUNS" --export-json "$S/h.json" "$S/home/bin/$cmd" "$oc" >/dev/null 2>&1
      oms=$(python3 "$REPO/bench/figs.py" hf "$S/h.json" 1)
      orss=$(rss_of $oc)
    else
      hyperfine -N -i -w 3 -r "$SU_RUNS" --export-json "$S/h.json" "$S/home/bin/$cmd" >/dev/null 2>&1
      oms=-
      orss=-
    fi
    ms=$(python3 "$REPO/bench/figs.py" hf "$S/h.json" 0)
    local cpu ocpu="" chain=""
    cpu=$(cpu_of "$S/h.json" 0)
    [ -n "$oc" ] && ocpu=" vs $(cpu_of "$S/h.json" 1) ms"
    case $prog in datemail | mailq | mailsubj | sendmail | newaliases) chain=" (runs further programs of ours)" ;; esac
    rss=$(rss_of $S/home/bin/$cmd)
    fig "start-up" "\`$cmd\`$chain" "ms down" "$ms" "$oms" "CPU $cpu ms$ocpu = $(python3 -c "print('%.2f'%($cpu/$bare))")x bare Bun's CPU; peak RSS $rss KiB vs $orss KiB"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$prog" "$ms" "$oms" "$rss" "$orss" "$cpu" >>"$S/rss.tsv"
  done
  local mr omr
  mr=$(med $(cut -f4 "$S/rss.tsv"))
  omr=$(med $(awk -F'\t' '$5!="-"{print $5}' "$S/rss.tsv"))
  fig "start-up" "peak RSS, median over the programs timed above (originals: over those that exist)" "KiB down" "$mr" "$omr" "$(wc -l <"$S/rss.tsv") programs ours; $(awk -F'\t' '$5!="-"' "$S/rss.tsv" | wc -l) originals"
  local worst
  worst=$(python3 -c "import sys;r=[l.split() for l in open(sys.argv[1]) if l.split()[0] not in ('datemail','mailq','mailsubj','sendmail','newaliases')];m=max(r,key=lambda x:float(x[5]));print(m[0],float(m[5])/$bare)" "$S/rss.tsv")
  fig "start-up" "most CPU at start-up among ours ÷ bare Bun's (${worst% *})" "x down" "${worst#* }" - "CPU (user+system), programs that run further programs excluded; target: within 2x"
  fig "start-up" "programs within 2x of bare Bun's CPU" "count up" "$(awk -v b="$bare" '$6 <= 2 * b' "$S/rss.tsv" | wc -l)" - "of $(wc -l <"$S/rss.tsv") timed"
  cd "$REPO" || exit 1
}

# ---- tcpserver: connections/s ---------------------------------------------------------------------
tcpserver_bench() {
  say "tcpserver: connections/s, $TCP_N connections, $RUNS runs per side, interleaved"
  local T=$W/tcp port=$((PORT_BASE + 1)) r side bin child label
  mkdir -p "$T/svc/supervise" && mkfifo "$T/svc/supervise/ok"
  for child in true svok; do
    declare -A seq=() con=() rss=()
    local n=$TCP_N
    [ "$child" = svok ] && n=$((TCP_N / 4))
    for r in $(seq 1 "$RUNS"); do
      for side in orig ours; do
        [ "$side" = orig ] && bin=$ORIG || bin=$OURS
        if [ "$child" = true ]; then set -- /bin/true; else set -- "$OURS/svok" "$T/svc"; fi
        timeout 300 "$bin/tcpserver" -q -RHl0 -c 100 -b 100 127.0.0.1 "$port" "$@" &
        local sp=$!
        PIDS+=("$sp")
        sleep 0.7
        timeout 120 python3 "$SHARED/daemontools/connbench.py" 127.0.0.1 "$port" 100 1 >/dev/null
        seq[$side]+="$(timeout 300 python3 "$SHARED/daemontools/connbench.py" 127.0.0.1 "$port" "$n" 1 | sed -n 's/.*conns_per_sec=//p') "
        con[$side]+="$(timeout 300 python3 "$SHARED/daemontools/connbench.py" 127.0.0.1 "$port" "$n" 20 | sed -n 's/.*conns_per_sec=//p') "
        rss[$side]+="$(ps -o rss= -p "$(pgrep -P $sp | head -1)") "
        kill "$sp" 2>/dev/null
        wait "$sp" 2>/dev/null
      done
    done
    [ "$child" = true ] && label="/bin/true child" || label="TypeScript child (our svok)"
    fig tcpserver "$label, sequential client" "conn/s up" "$(med ${seq[ours]})" "$(med ${seq[orig]})" "$n conns; $(runs_note ours ${seq[ours]}/ orig ${seq[orig]})"
    fig tcpserver "$label, 20 concurrent clients" "conn/s up" "$(med ${con[ours]})" "$(med ${con[orig]})" "$n conns; $(runs_note ours ${con[ours]}/ orig ${con[orig]})"
    [ "$child" = true ] && fig tcpserver "tcpserver RSS after the runs" "KiB down" "$(med ${rss[ours]})" "$(med ${rss[orig]})" "ps -o rss"
    unset seq con rss
  done
}

# ---- supervise: restart and svc latencies ----------------------------------------------------------
supervise_bench() {
  say "supervise: bench_supervise.sh, $RUNS runs per side, interleaved"
  local r side bin out
  declare -A a=() c=() d=() b=() rss=()
  for r in $(seq 1 "$RUNS"); do
    for side in orig ours; do
      [ "$side" = orig ] && bin=$ORIG || bin=$OURS
      out=$(timeout 120 bash "$SHARED/daemontools/bench_supervise.sh" "$bin" "$W/sv-$side" 2>&1)
      echo "$out" >>"$LOG"
      a[$side]+="$(echo "$out" | sed -n 's/^(a).*median=\([0-9.]*\).*/\1/p') "
      b[$side]+="$(echo "$out" | sed -n 's/^(b).*median=\([0-9.]*\).*/\1/p') "
      c[$side]+="$(echo "$out" | sed -n 's/^(c).*median=\([0-9.]*\).*/\1/p') "
      d[$side]+="$(echo "$out" | sed -n 's/^(d).*median=\([0-9.]*\).*/\1/p') "
      rss[$side]+="$(echo "$out" | sed -n 's/^supervise RSS (kB): *//p') "
    done
  done
  fig supervise "(a) child exit → next child start (child lived 1.2 s)" "ms down" "$(med ${a[ours]})" "$(med ${a[orig]})" "$(runs_note ours ${a[ours]}/ orig ${a[orig]})"
  fig supervise "(b) start-to-start when ./run exits at once (must stay ≈1020)" "ms" "$(med ${b[ours]})" "$(med ${b[orig]})" "the 1-second rule; should match, not improve"
  fig supervise "(c) svc -d → child reaped (includes svc's start-up)" "ms down" "$(med ${c[ours]})" "$(med ${c[orig]})" "$(runs_note ours ${c[ours]}/ orig ${c[orig]})"
  fig supervise "(d) svc -u → pid in status (includes svc's start-up)" "ms down" "$(med ${d[ours]})" "$(med ${d[orig]})" "$(runs_note ours ${d[ours]}/ orig ${d[orig]})"
  fig supervise "supervise RSS" "KiB down" "$(med ${rss[ours]})" "$(med ${rss[orig]})" "ps -o rss after 7.5 s"
}

# ---- multilog: throughput ---------------------------------------------------------------------------
multilog_bench() {
  say "multilog: 1e6 x 100-byte lines, t s1000000 n5, $ML_RUNS hyperfine runs per side, twice interleaved"
  local M=$W/ml side bin out r
  declare -A t=() rss=()
  mkdir -p "$M"
  for r in 1 2; do
    for side in orig ours; do
      [ "$side" = orig ] && bin=$ORIG || bin=$OURS
      out=$(timeout 600 bash "$SHARED/daemontools/bench_multilog.sh" "$bin" "$M" "$ML_RUNS" 2>&1)
      echo "$out" >>"$LOG"
      t[$side]+="$(python3 "$REPO/bench/figs.py" hf "$M/hf.json") "
      rss[$side]+="$(echo "$out" | sed -n 's/^multilog peak RSS (kB): *//p') "
    done
  done
  local to tg
  to=$(med ${t[ours]})
  tg=$(med ${t[orig]})
  fig multilog "1e6 lines through \`multilog t s1000000 n5\`" "lines/s up" "$(python3 -c "print(1e9/$to)")" "$(python3 -c "print(1e9/$tg)")" "wall ms ours ${t[ours]}/ orig ${t[orig]}(hyperfine medians)"
  fig multilog "same, input MB/s" "MB/s up" "$(python3 -c "print(1e5/$to)")" "$(python3 -c "print(1e5/$tg)")" ""
  fig multilog "multilog peak RSS" "KiB down" "$(med ${rss[ours]})" "$(med ${rss[orig]})" "/usr/bin/time %M"
  rm -f "$M/in.txt"
}

# ---- qmail: injection, local, SMTP, remote ------------------------------------------------------------
# README baseline (notqmail on a 2-core VM), for the rows where no C qmail is measured.
declare -A QBASE=(
  [inject1]=207 [inject4]=307 [e2e1]=207 [e2e4]=223 [prequeue]=579 [deliver]=374
  [smtp1]=192 [smtp1e]=191 [smtp10]=223 [smtp10e]=212 [smtp100]=231 [smtp100e]=231
  [remote]=257 [remotepre]=356 [p_inject]=4.3 [p_smtpd]=4.5 [p_local]=2.5
)
qmail_prepare() { # home: users, bench user, Maildir, aliases, control (shared/bench/README.md preconditions)
  local H=$1
  id bench >/dev/null 2>&1 || useradd -m -d /home/bench -s /bin/sh bench || return 1
  local bh
  bh=$(getent passwd bench | cut -d: -f6)
  mkdir -p "$bh" && chown bench: "$bh"
  [ -d "$bh/Maildir/new" ] || setpriv --reuid=bench --regid=bench --clear-groups "$OURS/maildirmake" "$bh/Maildir"
  echo "./Maildir/" >"$bh/.qmail" && chown bench: "$bh/.qmail" && chmod 644 "$bh/.qmail"
  for a in postmaster root mailer-daemon; do echo "&bench" >"$H/alias/.qmail-$a"; done
  if [ "$H" = "$QHOME" ]; then "$H/bin/config-fast" test.example >/dev/null; fi
  echo 10 >"$H/control/concurrencylocal"
  echo 20 >"$H/control/concurrencyremote"
}
qmail_side() { # label home dt_bin
  local label=$1 H=$2 DT=$3 n2=$((QN / 2))
  export QROOT=$H DT_BIN=$DT SMTP_PORT=$((PORT_BASE + 5)) SINK_PORT=$((PORT_BASE + 6)) STATE=$W/state-$label
  mkdir -p "$STATE"
  local J=$W/q-$label.jsonl Q=$SHARED/qmail
  : >"$J"
  qmail_prepare "$H" || return
  "$Q/start-send.sh" >>"$LOG" 2>&1
  "$Q/start-smtpd.sh" >>"$LOG" 2>&1
  qs() { # name, python script + args
    local name=$1
    shift
    say "qmail ($label): $name"
    echo "### $label $name" >>"$LOG"
    timeout 1800 python3 "$@" --runs "$RUNS" --out "$W/q-$label-$name.jsonl" >>"$LOG" 2>&1 || echo "  $name: failed or timed out" | tee -a "$LOG"
    echo "$(cut -d' ' -f1 /proc/loadavg)" >"$W/q-$label-$name.load"
  }
  qs inject1 "$Q/bench_inject.py" -n "$QN" -p 1
  qs inject4 "$Q/bench_inject.py" -n "$QN" -p 4
  qs prequeue "$Q/bench_inject.py" -n "$QN" -p 4 --prequeue
  qs smtp1 "$Q/bench_smtp.py" -n "$QN" -c 1 -m 1
  qs smtp10 "$Q/bench_smtp.py" -n "$QN" -c 10 -m 1
  qs smtp100 "$Q/bench_smtp.py" -n "$QN" -c 1 -m 100
  qs remote "$Q/bench_remote.py" -n "$n2" -p 4
  qs remotepre "$Q/bench_remote.py" -n "$n2" -p 4 --prequeue
  say "qmail ($label): bench_proc.sh (per-process cost, 30 runs)"
  RUNS=30 timeout 900 "$Q/bench_proc.sh" >"$W/proc-$label.txt" 2>&1
  cp "$STATE/proc/hf-inject.json" "$W/proc-$label.json" 2>/dev/null
  cat "$W/proc-$label.txt" >>"$LOG"
  "$Q/stop-smtpd.sh" >/dev/null 2>&1
  "$Q/stop-send.sh" >/dev/null 2>&1
  rm -f "$H/control/smtproutes"
  sleep 1
  reap_ours
}
qv() { python3 "$REPO/bench/figs.py" json "$W/q-$1-$2.jsonl" "$3" 2>/dev/null; }
qmail_bench() {
  local cq=""
  if [ -n "$CQMAIL" ]; then
    qmail_side c "$CQMAIL" "$ORIG"
    cq=c
  fi
  qmail_side ours "$QHOME" "$OURS"
  local note="" o
  [ -z "$cq" ] && note="original: notqmail baseline of shared/bench/README.md, orientation only, not measured in this run"
  qf() { # key name unit ours-bench field [orig-baseline-key]
    local k=$1 name=$2 unit=$3 b=$4 f=$5 bk=${6:-$1} v
    v=$(qv ours "$b" "$f")
    if [ -n "$cq" ]; then o=$(qv c "$b" "$f"); else o=${QBASE[$bk]}; fi
    fig "qmail${cq:+ (C qmail measured)}" "$name" "$unit" "${v:-}" "${o:--}" "${note:-runs $RUNS, n=$QN}; load at end $(cat "$W/q-ours-$b.load" 2>/dev/null)"
  }
  qf inject1 "qmail-inject, 1 injector: injection rate" "msg/s up" inject1 median_inject_rate
  qf e2e1 "qmail-inject, 1 injector: end to end into the Maildir" "msg/s up" inject1 median_e2e_rate
  qf inject4 "qmail-inject, 4 injectors: injection rate" "msg/s up" inject4 median_inject_rate
  qf e2e4 "qmail-inject, 4 injectors: end to end into the Maildir" "msg/s up" inject4 median_e2e_rate
  qf prequeue "queue only (qmail-send stopped), 4 injectors" "msg/s up" prequeue median_inject_rate
  qf deliver "local delivery into a Maildir (qmail-send on a full queue)" "msg/s up" prequeue median_deliver_rate
  qf smtp1 "SMTP 1 msg/connection sequential: accepted" "msg/s up" smtp1 median_accept_rate
  qf smtp1e "SMTP 1 msg/connection sequential: end to end" "msg/s up" smtp1 median_e2e_rate
  qf smtp10 "SMTP 10 concurrent clients: accepted" "msg/s up" smtp10 median_accept_rate
  qf smtp10e "SMTP 10 concurrent clients: end to end" "msg/s up" smtp10 median_e2e_rate
  qf smtp100 "SMTP 100 msgs/connection: accepted" "msg/s up" smtp100 median_accept_rate
  qf smtp100e "SMTP 100 msgs/connection: end to end" "msg/s up" smtp100 median_e2e_rate
  qf remote "remote delivery to a local sink (qmail-send running, 4 injectors)" "msg/s up" remote median_deliver_rate
  qf remotepre "remote delivery, prequeued" "msg/s up" remotepre median_deliver_rate
  local i name key v
  for i in 0 1 2; do
    name=$(python3 -c "import json;print(json.load(open('$W/proc-ours.json'))['results'][$i]['command'])" 2>/dev/null) || continue
    key=(p_inject p_smtpd p_local)
    v=$(python3 -c "import json;print(json.load(open('$W/proc-ours.json'))['results'][$i]['mean']*1000)")
    if [ -n "$cq" ]; then o=$(python3 -c "import json;print(json.load(open('$W/proc-c.json'))['results'][$i]['mean']*1000)" 2>/dev/null); else o=${QBASE[${key[$i]}]}; fi
    fig "qmail${cq:+ (C qmail measured)}" "per process: $name (hyperfine mean, shell subtracted)" "ms down" "$v" "${o:--}" "${note:-30 runs}"
  done
}

# ---- the article's process tree at rest: total RSS --------------------------------------------------------
tree_side() { # label dt_bin qhome port -> $W/tree-label.tsv: comm rss pss
  local label=$1 DT=$2 H=$3 port=$4 T
  T=$W/tree-$1
  mkdir -p "$T/service/qmail-send" "$T/service/qmail-smtpd/log/main"
  chown qmaill "$T/service/qmail-smtpd/log/main" 2>/dev/null
  printf '#!/bin/sh\nexec env - PATH="%s/bin:%s:$PATH" qmail-start ./Maildir/ splogger qmail\n' "$H" "$DT" >"$T/service/qmail-send/run"
  printf '#!/bin/sh\nexec %s/tcpserver -v -R -H -l0 -u %s -g %s 127.0.0.1 %s %s/bin/qmail-smtpd 2>&1\n' \
    "$DT" "$(id -u qmaild)" "$(getent group nofiles | cut -d: -f3)" "$port" "$H" >"$T/service/qmail-smtpd/run"
  printf '#!/bin/sh\nexec %s/setuidgid qmaill %s/multilog t ./main\n' "$DT" "$DT" >"$T/service/qmail-smtpd/log/run"
  chmod 755 "$T"/service/*/run "$T/service/qmail-smtpd/log/run"
  (cd "$T/service" && exec env - PATH="$DT:/usr/bin:/bin" "$DT/svscan" .) </dev/null >"$T/svscan.out" 2>&1 &
  local sv=$!
  PIDS+=("$sv")
  sleep 4
  python3 - "$port" <<'PY' >>"$LOG" 2>&1
import smtplib, sys
for i in range(5):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=30)
    s.sendmail("a@client.example", ["bench@test.example"], b"Subject: tree %d\r\n\r\nhello\r\n" % i)
    s.quit()
PY
  sleep 5
  # every process in svscan's session-less tree: walk the children recursively
  python3 - "$sv" >"$W/tree-$label.tsv" <<'PY'
import os, sys
root = int(sys.argv[1])
kids = {}
for p in os.listdir("/proc"):
    if not p.isdigit(): continue
    try:
        st = open(f"/proc/{p}/stat").read()
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    except OSError: pass
todo, seen = [root], []
while todo:
    p = todo.pop(); seen.append(p); todo += kids.get(p, [])
for p in sorted(seen):
    try:
        comm = open(f"/proc/{p}/comm").read().strip()
        rss = next(l.split()[1] for l in open(f"/proc/{p}/status") if l.startswith("VmRSS"))
        pss = next(l.split()[1] for l in open(f"/proc/{p}/smaps_rollup") if l.startswith("Pss:"))
        print(f"{comm}\t{rss}\t{pss}")
    except (OSError, StopIteration): pass
PY
  cat "$W/tree-$label.tsv" >>"$LOG"
  kill "$sv" 2>/dev/null
  wait "$sv" 2>/dev/null
  "$DT/svc" -dx "$T/service/qmail-send" "$T/service/qmail-smtpd" "$T/service/qmail-smtpd/log" 2>>"$LOG"
  local i
  for i in $(seq 1 50); do
    "$DT/svok" "$T/service/qmail-send" || "$DT/svok" "$T/service/qmail-smtpd" || "$DT/svok" "$T/service/qmail-smtpd/log" || break
    sleep 0.2
  done
  sleep 1
  reap_ours
  find "$(getent passwd bench | cut -d: -f6)/Maildir/new" -type f -delete 2>/dev/null
}
tree_bench() {
  say "process tree at rest (svscan, 3 supervise, qmail-send and helpers, splogger, multilog, tcpserver)"
  qmail_prepare "$QHOME" || return
  tree_side ours "$OURS" "$QHOME" $((PORT_BASE + 7))
  if [ -n "$CQMAIL" ]; then tree_side orig "$ORIG" "$CQMAIL" $((PORT_BASE + 8)); else tree_side orig "$ORIG" "$QHOME" $((PORT_BASE + 8)); fi
  python3 - "$W/tree-ours.tsv" "$W/tree-orig.tsv" "$CQMAIL" "$REPO/bench/figs.py" "$FIGS" <<'PY' | tee -a "$LOG"
import sys, subprocess, collections
ours, orig, cq, figs, store = sys.argv[1:]
def rd(f):
    d = collections.defaultdict(list)
    for l in open(f):
        c, r, p = l.split("\t"); d[c].append((int(r), int(p)))
    return d
o, g = rd(ours), rd(orig)
dt = {"svscan", "supervise", "multilog", "tcpserver", "readproctitle"}
# README baseline for C qmail processes (orientation only)
base = {"qmail-send": 1388, "qmail-lspawn": 1776, "qmail-rspawn": 1572, "qmail-clean": 1156}
def add(name, unit, a, b, note):
    subprocess.run([sys.executable, figs, "add", store, "process tree at rest", name, unit, str(a), str(b), note])
tot_o = tot_op = tot_g = tot_gp = 0; gnote = []; gp_all = True
for c in sorted(set(o) | set(g)):
    ro = sum(r for r, _ in o.get(c, [])); po = sum(p for _, p in o.get(c, []))
    n = len(o.get(c, []))
    if c in dt or cq:
        rg = sum(r for r, _ in g.get(c, [])); src = "measured"; tot_gp += sum(p for _, p in g.get(c, []))
    elif c in base:
        rg = base[c] * n; src = "orientation only (README baseline), not measured in this run"; gnote.append(c)
    else:
        rg = None; src = "no original figure"
    tot_o += ro; tot_op += po
    if rg is not None: tot_g += rg
    if src != "measured": gp_all = False
    if c == "qmail-queued" and not cq: src = "C qmail has no such process"
    add(f"{c} x{n}", "KiB RSS down", ro, rg if rg is not None else "-", f"ours PSS {po} KiB; original: {src}")
add("total RSS of the tree", "KiB down", tot_o, tot_g,
    "sum of VmRSS; ours counts the shared multicall text once per process" + ("; C qmail rows from the README baseline: " + ", ".join(gnote) if gnote else ""))
add("total PSS of the tree (shared pages split between processes)", "KiB down", tot_op, tot_gp if gp_all else "-",
    "what the tree really costs in RAM" + ("" if gp_all else f"; originals' PSS measured only for the daemontools/ucspi processes: {tot_gp} KiB"))
PY
}

has startup && startup
has tcpserver && tcpserver_bench
has supervise && supervise_bench
has multilog && multilog_bench
has qmail && qmail_bench
has tree && tree_bench

python3 - "$W/machine.json" <<PY
import json; m = json.load(open("$W/machine.json")); m["load average at end"] = open("/proc/loadavg").read().split()[0]
m["finished (UTC)"] = __import__("time").strftime("%H:%M", __import__("time").gmtime()); m["sections"] = "$ONLY"
json.dump(m, open("$W/machine.json", "w"), indent=1)
PY
python3 "$REPO/bench/figs.py" render "$FIGS" "$W/machine.json" "$RESULTS" "$REPO/bench/profiles.md"
# make lint checks Markdown under bench/ with biome: write it formatted
[ -x "$REPO/node_modules/.bin/biome" ] && "$REPO/node_modules/.bin/biome" format --write "$RESULTS" >/dev/null 2>&1
cp "$LOG" "${RESULTS%.md}.log" 2>/dev/null
say "wrote $RESULTS (raw log ${RESULTS%.md}.log)"
exit 0
}
