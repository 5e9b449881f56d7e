#!/usr/bin/env bash
# A/B: two stamp binaries on the same synthetic catalog, in one run, runs
# interleaved so disk and CPU noise hit both alike. Prints medians and B/A.
#
#   bench/compare.sh OLD_STAMP NEW_STAMP [N]        # N services, default 1000
#
# Each binary gets its own copy of the repo, written by the synth example
# (SYNTH_A / SYNTH_B to use each side's own generator; default: this tree's;
# BASE_REV=<rev> to give side A the built-ins of an older revision).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1"); B=$(realpath "$2"); N=${3:-1000}
RUNS=${RUNS:-7}
WORK=${WORK:-/tmp/stamp-compare}
if [ -z "${SYNTH_A:-}" ] || [ -z "${SYNTH_B:-}" ]; then
  cargo build --release --quiet --example synth
fi
SYNTH_A=${SYNTH_A:-$PWD/target/release/examples/synth}
SYNTH_B=${SYNTH_B:-$PWD/target/release/examples/synth}
rm -rf "$WORK"; mkdir -p "$WORK/trash"
"$SYNTH_A" --services "$N" --out "$WORK/a" >/dev/null
"$SYNTH_B" --services "$N" --out "$WORK/b" >/dev/null
# BASE_REV: give repo A the archetypes, components and shared catalog files
# of that git revision, for an old binary that cannot read today's templates.
if [ -n "${BASE_REV:-}" ]; then
  rm -rf "$WORK/a/archetypes" "$WORK/a/components"
  git archive "$BASE_REV" archetypes components catalog/profiles.yaml catalog/sizes.yaml catalog/environments.yaml | tar -x -C "$WORK/a"
fi
trap 'rm -rf "$WORK/trash"' EXIT

now_ms() { date +%s%N | awk '{printf "%.1f", $1 / 1e6}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# Wall time in ms of "$@"; exit codes 0 and 1 (drift) are both fine here.
timed() { local t0 t1 rc=0; t0=$(now_ms); "$@" >/dev/null 2>&1 || rc=$?; t1=$(now_ms); [ "$rc" -le 1 ] || { echo "failed ($rc): $*" >&2; exit 1; }; awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", b - a}'; }
clear_output() { for d in generated .github; do [ -d "$1/$d" ] && mv "$1/$d" "$WORK/trash/$(date +%s%N)"; done; sync; sleep 1; }

declare -A T
record() { T[$1,$2]="${T[$1,$2]:-} $3"; }
for side in a b; do
  bin=$A; [ $side = b ] && bin=$B
  "$bin" -C "$WORK/$side" build >/dev/null 2>&1 || true
done
for i in $(seq "$RUNS"); do
  for side in a b; do
    bin=$A; [ $side = b ] && bin=$B; repo=$WORK/$side
    record cold $side "$(clear_output "$repo"; timed "$bin" -C "$repo" build)"
    record noop $side "$(timed "$bin" -C "$repo" build)"
    sed -i -E "s/^  tag: .*/  tag: \"9.9.$i\"/" "$repo/catalog/services/svc-00001.yaml"
    record edit $side "$(timed "$bin" -C "$repo" build)"
    record check $side "$(timed "$bin" -C "$repo" check)"
    rm -f "$repo/generated/.stamp-cache" "$repo/generated/.stamp-snapshot"   # a fresh clone has no local cache
    record fresh_check $side "$(timed "$bin" -C "$repo" check)"
  done
done
mem() { clear_output "$2"; /usr/bin/time -f '%M' -o "$WORK/mem" "$1" -C "$2" build >/dev/null 2>&1 || true; awk '{printf "%.0f", $1/1024}' "$WORK/mem"; }
echo "N = $N services, $RUNS runs each, interleaved; medians in ms"
echo
echo "| operation | A: $(basename "$A") | B: $(basename "$B") | B / A |"
echo "| --- | ---: | ---: | ---: |"
for op in cold noop edit check fresh_check; do
  a=$(echo "${T[$op,a]}" | tr ' ' '\n' | grep . | median)
  b=$(echo "${T[$op,b]}" | tr ' ' '\n' | grep . | median)
  echo "| $op | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') |"
done
ma=$(mem "$A" "$WORK/a"); mb=$(mem "$B" "$WORK/b")
echo "| peak memory, cold build (MB) | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b / a}') |"
