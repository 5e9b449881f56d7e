#!/usr/bin/env bash
# Every row of issue 16's table at N services (default 10,000), with peak
# memory and the per-stage timings, and at N = 1,000 the cold build against
# the kustomize loop and the issue 4 budgets. Prints markdown on stdout,
# progress on stderr. docs/BENCHMARKS.md says what each row means.
#
#   bench/scale.sh                        # N = 10000, 5 runs of each row
#   N=2000 RUNS=3 bench/scale.sh          # a quicker run
#   STAMP=/path/to/stamp bench/scale.sh   # any stamp binary (default: this tree's release build)
#
# Each row is the median wall time of RUNS runs, with the highest peak RSS
# (`/usr/bin/time -f %M`) among them. SKIP_1000=1 leaves out the N = 1,000
# section; KEEP=1 keeps the synthetic repos under $WORK. DELIVERY=1 gives a
# quarter of the services rollouts, flags, alerts and migrations
# (`synth --delivery`) and copies this repo's `policies/` in.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/stamp-scale}
if [ -z "${STAMP:-}" ]; then
  cargo build --release --quiet
  STAMP=$PWD/target/release/stamp
fi
if [ -z "${SYNTH:-}" ]; then
  cargo build --release --quiet --example synth
  SYNTH=$PWD/target/release/examples/synth
fi
STAMP=$(realpath "$STAMP")
rm -rf "$WORK"
mkdir -p "$WORK/trash"
cleanup() { rm -rf "$WORK/trash"; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

say() { echo "scale: $*" >&2; }
# Moves the output aside (deleted at exit: a large rm -rf slows every write
# for seconds after on a disk with online discard) and lets the disk settle.
clear_output() {
  local d
  for d in generated .github; do
    if [ -d "$1/$d" ]; then mv "$1/$d" "$WORK/trash/$(date +%s%N)"; fi
  done
  sync
  sleep 2
}
# The local files a fresh clone does not have: the stat cache and the
# no-op snapshot.
drop_caches() { rm -rf "$1"/generated/.stamp-*cache* "$1"/generated/.stamp-snapshot; }
# Runs "$@" once; prints "wall_ms peak_kb" (peak 0 for a shell function,
# which /usr/bin/time cannot run). Its output goes to $WORK/out. Exit codes
# up to $MAX_RC (default 0) are fine.
measure() {
  local t0 t1 rc=0
  t0=$(date +%s%N)
  if declare -F "$1" >/dev/null; then
    echo 0 >"$WORK/mem"
    "$@" >"$WORK/out" 2>&1 || rc=$?
  else
    /usr/bin/time -f %M -o "$WORK/mem" "$@" >"$WORK/out" 2>&1 || rc=$?
  fi
  t1=$(date +%s%N)
  if [ "$rc" -gt "${MAX_RC:-0}" ]; then
    echo "failed ($rc): $*" >&2
    tail -20 "$WORK/out" >&2
    exit 1
  fi
  echo "$(((t1 - t0) / 1000)) $(tail -1 "$WORK/mem")"
}
# Runs `prepare` (a function) then measures "$@", RUNS times; sets MS to
# the median wall time in ms and MB to the highest peak RSS in MB.
repeat() {
  local prepare=$1 i
  shift
  : >"$WORK/runs"
  for i in $(seq "$RUNS"); do
    "$prepare" "$i"
    measure "$@" >>"$WORK/runs"
  done
  MS=$(sort -g -k1,1 "$WORK/runs" | awk '{t[NR] = $1 / 1000}
    END {printf "%.0f\n", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2}')
  MB=$(awk '$2 > m {m = $2} END {printf "%.0f\n", m / 1024}' "$WORK/runs")
  say "  median $MS ms, peak $MB MB"
}
# The tag of one service, changed to a new value each call.
EDITS=0
edit_service() {
  EDITS=$((EDITS + 1))
  sed -i -E "s/^  tag: .*/  tag: \"9.9.$EDITS\"/" "$REPO/catalog/services/$1.yaml"
}
# A synthetic catalog of $1 services in $2 (see DELIVERY above).
synth() {
  if [ -n "${DELIVERY:-}" ]; then
    "$SYNTH" --services "$1" --out "$2" --delivery >/dev/null
    cp -r policies "$2/"
  else
    "$SYNTH" --services "$1" --out "$2" >/dev/null
  fi
}
stamp_timings() { grep '^timing:' "$WORK/out" | sed 's/^timing: *//'; }
fmt_ms() { awk -v t="$1" 'BEGIN {if (t >= 1000) printf "%.2f s", t / 1000; else printf "%d ms", t}'; }

prep_cold() { clear_output "$REPO"; }
prep_none() { :; }
prep_fresh() { drop_caches "$REPO"; }
prep_edit() { edit_service svc-00001; }

# The rows of the issue's table at N services; sets ROWS and the timings.
measure_rows() {
  REPO=$WORK/repo-$N
  say "N = $N: writing the synthetic catalog"
  synth "$N" "$REPO"
  say "cold build x $RUNS"
  repeat prep_cold "$STAMP" -C "$REPO" build
  cold_ms=$MS cold_mb=$MB
  local summary
  summary=$(grep '^built ' "$WORK/out" | tail -1)
  TARGETS=$(echo "$summary" | sed -E 's/built ([0-9]+) targets.*/\1/')
  OBJECTS=$(echo "$summary" | sed -E 's/.*rendered, ([0-9]+) objects.*/\1/')
  OUTPUT_MB=$(du -sm --apparent-size "$REPO/generated" | cut -f1)
  say "cold build with STAMP_TIMINGS"
  clear_output "$REPO"
  STAMP_TIMINGS=1 measure "$STAMP" -C "$REPO" build >/dev/null
  COLD_TIMINGS=$(stamp_timings)
  "$STAMP" -C "$REPO" build >/dev/null 2>&1
  say "no-op build x $RUNS"
  repeat prep_none "$STAMP" -C "$REPO" build
  noop_ms=$MS noop_mb=$MB
  STAMP_TIMINGS=1 measure "$STAMP" -C "$REPO" build >/dev/null
  NOOP_TIMINGS=$(stamp_timings)
  say "check after a build x $RUNS"
  repeat prep_none "$STAMP" -C "$REPO" check
  check_ms=$MS check_mb=$MB
  say "check without the local cache x $RUNS"
  repeat prep_fresh "$STAMP" -C "$REPO" check
  fresh_ms=$MS fresh_mb=$MB
  "$STAMP" -C "$REPO" build >/dev/null 2>&1
  say "one-service edit, then build x $RUNS"
  repeat prep_edit "$STAMP" -C "$REPO" build
  edit_ms=$MS edit_mb=$MB
  say "git init and commit (catalog and output)"
  git -C "$REPO" init -q
  git -C "$REPO" add -A
  # No automatic gc: a detached one would still be writing .git when the
  # repo is deleted below.
  git -C "$REPO" -c gc.auto=0 -c user.name=bench -c user.email=bench@example.com commit -q -m "synthetic catalog"
  # For reference: git's own check of the same tree, which stats every
  # tracked file as a no-op `build` does (the floor both share).
  say "git diff-files x $RUNS (reference)"
  repeat prep_none git -C "$REPO" diff-files --quiet
  gitstat_ms=$MS gitstat_mb=$MB
  edit_service svc-00002
  say "affected --base HEAD x $RUNS"
  repeat prep_none "$STAMP" -C "$REPO" affected --base HEAD
  affected_ms=$MS affected_mb=$MB
  AFFECTED_OUT=$(head -8 "$WORK/out")
  say "$AFFECTED_OUT"
  ROWS=$(
    row() { printf '| %s | %s | %s MB | %s |\n' "$1" "$(fmt_ms "$2")" "$3" "$4"; }
    goal() { [ "$N" = 10000 ] && echo "$1" || echo "(goals are for N = 10,000)"; }
    row "no-op \`build\` (the pre-commit hook)" "$noop_ms" "$noop_mb" "$(goal "≤ 100 ms")"
    row "\`check\` after a build" "$check_ms" "$check_mb" "$(goal "≤ 100 ms")"
    row "\`check\` without the local cache (a fresh clone)" "$fresh_ms" "$fresh_mb" "$(goal "≤ 3 s")"
    row "one-service edit, then \`build\`" "$edit_ms" "$edit_mb" "$(goal "≤ 150 ms")"
    row "\`affected --base HEAD\` (one service changed)" "$affected_ms" "$affected_mb" "$(goal "≤ 0.3 s, ≤ 200 MB")"
    row "cold \`build\`" "$cold_ms" "$cold_mb" "$(goal "≤ 5 s, ≤ 400 MB")"
    row "reference: \`git diff-files\` on the same tree (git's stat of every tracked file)" "$gitstat_ms" "$gitstat_mb" "(not stamp)"
  )
  rm -rf "$REPO"
}

# At N = 1,000: the issue 4 budgets, and the cold build against the
# kustomize loop (one `kubectl kustomize` per target, two at a time, on the
# N = 100 catalog's overlays), measured in the same run.
measure_1000() {
  REPO=$WORK/repo-1000
  say "N = 1000: cold build, no-op and edit x $RUNS"
  synth 1000 "$REPO"
  repeat prep_cold "$STAMP" -C "$REPO" build
  k_cold_ms=$MS k_cold_mb=$MB
  K_TARGETS=$(grep '^built ' "$WORK/out" | tail -1 | sed -E 's/built ([0-9]+) targets.*/\1/')
  repeat prep_none "$STAMP" -C "$REPO" build
  k_noop_ms=$MS
  repeat prep_edit "$STAMP" -C "$REPO" build
  k_edit_ms=$MS
  rm -rf "$REPO"
  say "the kustomize loop on N = 100, 3 runs"
  "$SYNTH" --services 100 --out "$WORK/repo-100" --kustomize >/dev/null
  local overlays=$WORK/repo-100/kustomize/overlays
  LOOP_TARGETS=$(find "$overlays" -mindepth 1 -maxdepth 1 | wc -l)
  run_loop() {
    find "$overlays" -mindepth 1 -maxdepth 1 | xargs -P 2 -I{} sh -c 'kubectl kustomize "$1" > "$1/out.yaml"' _ {}
  }
  prep_sync() { sync; sleep 2; }
  local runs=$RUNS
  RUNS=3
  repeat prep_sync run_loop
  RUNS=$runs
  loop_ms=$MS
  rm -rf "$WORK/repo-100"
}

measure_rows
[ -n "${SKIP_1000:-}" ] || measure_1000

echo "stamp scale benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg); $("$STAMP" --version); median of $RUNS runs, highest peak RSS of those runs"
echo
echo "N = $N services: $TARGETS targets, $OBJECTS objects, $OUTPUT_MB MB under generated/"
echo
echo "| operation at N = $N | median | peak RSS | goal (issue 16) |"
echo "| --- | ---: | ---: | --- |"
echo "$ROWS"
echo
echo "Stage timings (\`STAMP_TIMINGS=1\`), one cold build and one no-op build:"
echo
echo '```'
echo "cold build:"
echo "$COLD_TIMINGS"
echo
echo "no-op build:"
echo "$NOOP_TIMINGS"
echo '```'
echo
echo "\`affected --base HEAD\` printed:"
echo
echo '```'
echo "$AFFECTED_OUT"
echo '```'
if [ -z "${SKIP_1000:-}" ]; then
  per_loop=$(awk -v t="$loop_ms" -v c="$LOOP_TARGETS" 'BEGIN {printf "%.2f", t / c}')
  per_stamp=$(awk -v t="$k_cold_ms" -v c="$K_TARGETS" 'BEGIN {printf "%.3f", t / c}')
  echo
  echo "| N = 1,000 ($K_TARGETS targets) | measured | goal |"
  echo "| --- | ---: | --- |"
  echo "| cold \`build\` | $(fmt_ms "$k_cold_ms"), $k_cold_mb MB | ≤ 2 s, ≤ 300 MB |"
  echo "| no-op \`build\` | $(fmt_ms "$k_noop_ms") | ≤ 50 ms |"
  echo "| one-service edit, then \`build\` | $(fmt_ms "$k_edit_ms") | ≤ 100 ms |"
  echo "| kustomize loop, per target (N = 100, $LOOP_TARGETS targets, 2 at a time) | $per_loop ms | |"
  echo "| stamp cold build, per target | $per_stamp ms | |"
  echo "| cold \`build\` vs the kustomize loop | $(awk -v a="$per_loop" -v b="$per_stamp" 'BEGIN {printf "%.0f×", a / b}') | ≥ 150× |"
fi
