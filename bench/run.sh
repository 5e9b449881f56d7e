#!/usr/bin/env bash
# The benchmark behind docs/BENCHMARKS.md: stamp on synthetic catalogs of
# N services, and in the same run the seed-style baseline (one
# `kubectl kustomize` process per target, two at a time) on N = 100.
#
#   bench/run.sh                 # N = 100, 1000, 10000
#   SIZES="100" bench/run.sh     # a quick smoke run
#
# Prints a markdown table; timings are medians of several runs, wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100 1000 10000"}
WORK=${WORK:-/tmp/stamp-bench}
RUNS=${RUNS:-5}

cargo build --release --quiet --example synth
cargo build --release --quiet
STAMP=$PWD/target/release/stamp
SYNTH=$PWD/target/release/examples/synth

# Empties generated/ and lets the disk settle before a cold run. Old trees
# are only deleted when the run is over: on this machine's disk (ext4,
# online discard) a large rm -rf slows every write for seconds after.
clear_output() {
  mkdir -p "$WORK/trash"
  if [ -d "$1/generated" ]; then mv "$1/generated" "$WORK/trash/$(date +%s%N)"; fi
  if [ -d "$1/.github" ]; then mv "$1/.github" "$WORK/trash/$(date +%s%N)"; fi
  sync
  sleep 2
}
trap 'rm -rf "$WORK/trash"' EXIT
now_ms() { date +%s%N | awk '{printf "%.1f", $1 / 1e6}'; }
# Median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# Runs "$@" once and prints its wall time in ms.
timed() { local t0 t1; t0=$(now_ms); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(now_ms); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", b - a}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); stamp $($STAMP --version | cut -d' ' -f2); $(kubectl version --client 2>/dev/null | grep Kustomize)"
echo
echo "| services | targets | objects | cold build | no-op build | one service edited | one archetype edited | check (nothing to do) | peak memory (cold) |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
declare -A COLD_PER_TARGET
for n in $SIZES; do
  repo=$WORK/repo-$n
  kustomize_flag=""
  [ "$n" = 100 ] && kustomize_flag="--kustomize"
  "$SYNTH" --services "$n" --out "$repo" $kustomize_flag >/dev/null
  # Cold: nothing under generated/, no cache.
  cold=$(for _ in 1 2 3; do clear_output "$repo"; timed "$STAMP" -C "$repo" build; done | median)
  summary=$("$STAMP" -C "$repo" build --no-cache 2>&1 | tail -1)
  targets=$(echo "$summary" | sed -E 's/built ([0-9]+) targets.*/\1/')
  objects=$(echo "$summary" | sed -E 's/.*rendered, ([0-9]+) objects.*/\1/')
  clear_output "$repo"
  /usr/bin/time -f '%M' -o "$WORK/mem" "$STAMP" -C "$repo" build >/dev/null 2>&1
  mem_kb=$(tail -1 "$WORK/mem")
  "$STAMP" -C "$repo" build >/dev/null 2>&1
  noop=$(for _ in $(seq "$RUNS"); do timed "$STAMP" -C "$repo" build; done | median)
  svc="$repo/catalog/services/svc-00001.yaml"
  edit=$(for i in $(seq "$RUNS"); do sed -i -E "s/^  tag: .*/  tag: \"9.9.$i\"/" "$svc"; timed "$STAMP" -C "$repo" build; done | median)
  tpl="$repo/archetypes/api/deployment.yaml.j2"
  arch=$(for i in 1 2 3; do sed -i -E "s/revisionHistoryLimit: [0-9]+/revisionHistoryLimit: $((5 + i))/" "$tpl"; timed "$STAMP" -C "$repo" build; done | median)
  check=$(for _ in $(seq "$RUNS"); do timed "$STAMP" -C "$repo" check; done | median)
  COLD_PER_TARGET[$n]=$(awk -v c="$cold" -v t="$targets" 'BEGIN {printf "%.3f", c / t}')
  printf '| %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms | %.0f MB |\n' \
    "$n" "$targets" "$objects" "$cold" "$noop" "$edit" "$arch" "$check" "$(awk -v k="$mem_kb" 'BEGIN {print k / 1024}')"
done

if [[ " $SIZES " == *" 100 "* ]]; then
  overlays=$WORK/repo-100/kustomize/overlays
  count=$(ls "$overlays" | wc -l)
  run_loop() { ls -d "$overlays"/* | xargs -P "$1" -I{} sh -c 'kubectl kustomize "$1" > "$1/out.yaml"' _ {}; }
  two=$(for _ in 1 2 3; do sync; sleep 2; timed run_loop 2; done | median)
  sync; sleep 2
  one=$(timed run_loop 1)
  per_two=$(awk -v t="$two" -v c="$count" 'BEGIN {printf "%.2f", t / c}')
  per_one=$(awk -v t="$one" -v c="$count" 'BEGIN {printf "%.2f", t / c}')
  echo
  echo "| per target, N = 100 ($count targets) | ms per target | stamp is faster by |"
  echo "| --- | ---: | ---: |"
  echo "| kustomize loop, one process per target, 2 at a time | $per_two | |"
  echo "| kustomize loop, one at a time | $per_one | |"
  for n in $SIZES; do
    echo "| stamp cold build, N = $n | ${COLD_PER_TARGET[$n]} | $(awk -v k="$per_two" -v s="${COLD_PER_TARGET[$n]}" 'BEGIN {printf "%.0f x", k / s}') |"
  done
fi
