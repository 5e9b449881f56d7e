#!/usr/bin/env bash
# `--shard I/N` at N services (default 10,000): each shard's cold `build`
# and `check` without the local cache (a CI runner's fresh clone), for
# SHARDS = 1 2 4 8 shards, each shard measured alone and one after the other
# (CI runners would run them in parallel, one per machine). Then checks
# what docs/BENCHMARKS.md says about shards:
# - the shards' outputs together are byte-identical to one unsharded build;
# - shard 1 alone writes the shared files (ApplicationSets, CODEOWNERS,
#   generated/.gitignore): shards run in the order N..1 and the script notes
#   after which one they appear;
# - a broken shared input stops every shard (exit 2, output byte-identical);
# - a removed service's output is removed by exactly one shard, and no other
#   shard removes anything.
#
#   bench/shards.sh                           # N = 10000
#   N=1000 SHARDS="1 2 4" bench/shards.sh     # a quicker run
#   STAMP=/path/to/stamp bench/shards.sh      # any stamp binary
#
# Prints markdown on stdout, progress on stderr; exits 1 if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
SHARDS=${SHARDS:-"1 2 4 8"}
WORK=${WORK:-/tmp/stamp-shards}
if [ -z "${STAMP:-}" ]; then
  cargo build --release --quiet
  STAMP=$PWD/target/release/stamp
fi
if [ -z "${SYNTH:-}" ]; then
  cargo build --release --quiet --example synth
  SYNTH=$PWD/target/release/examples/synth
fi
STAMP=$(realpath "$STAMP")
REPO=$WORK/repo
rm -rf "$WORK"
mkdir -p "$WORK/trash"
cleanup() { rm -rf "$WORK/trash"; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

say() { echo "shards: $*" >&2; }
FAILED=0
fail() {
  echo "**check failed:** $*"
  say "check failed: $*"
  FAILED=1
}
# See bench/scale.sh: old output is moved aside, deleted at exit.
clear_output() {
  local d
  for d in generated .github; do
    if [ -d "$REPO/$d" ]; then mv "$REPO/$d" "$WORK/trash/$(date +%s%N)"; fi
  done
}
settle() {
  sync
  sleep 2
}
drop_caches() { rm -rf "$REPO"/generated/.stamp-*cache* "$REPO"/generated/.stamp-snapshot; }
# One hash of every file stamp owns (not its local lock and cache files).
tree_hash() {
  (cd "$REPO" && find generated .github -type f ! -name '.stamp*' -print0 2>/dev/null |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
# Runs "$@" once: "wall_ms peak_kb exit_code"; its output goes to $WORK/out.
measure() {
  local t0 t1 rc=0
  t0=$(date +%s%N)
  /usr/bin/time -f %M -o "$WORK/mem" "$@" >"$WORK/out" 2>&1 || rc=$?
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000)) $(tail -1 "$WORK/mem") $rc"
}
built_targets() { grep '^built ' "$WORK/out" | tail -1 | sed -E 's/^built ([0-9]+) targets.*/\1/'; }
removed_count() { grep '^built ' "$WORK/out" | tail -1 | sed -E 's/.* ([0-9]+) removed.*/\1/'; }

say "writing $N services"
"$SYNTH" --services "$N" --out "$REPO" >/dev/null
say "the unsharded reference build"
"$STAMP" -C "$REPO" build >/dev/null 2>&1
REFERENCE=$(tree_hash)

echo "stamp \`--shard\` benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $("$STAMP" --version); N = $N services"
echo
echo "Each shard alone, one after the other, no local cache: its cold \`build\` (its services' folders absent) and its \`check\` (what a CI runner's fresh clone does)."
echo
echo "| shards | targets per shard | build: slowest shard | build: peak RSS | check: slowest shard | check: peak RSS | shared files written by | outputs together = one build |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
: >"$WORK/fit"
for n in $SHARDS; do
  clear_output
  settle
  targets=() build_ms=0 build_kb=0 check_ms=0 check_kb=0 shared_by=""
  for i in $(seq "$n" -1 1); do
    say "build --shard $i/$n"
    drop_caches
    settle
    read -r ms kb rc < <(measure "$STAMP" -C "$REPO" build --shard "$i/$n")
    [ "$rc" = 0 ] || fail "build --shard $i/$n exited $rc: $(tail -3 "$WORK/out")"
    targets+=("$(built_targets)")
    ((ms > build_ms)) && build_ms=$ms
    ((kb > build_kb)) && build_kb=$kb
    if [ -z "$shared_by" ] && [ -d "$REPO/generated/argocd" ] && [ -f "$REPO/.github/CODEOWNERS" ]; then
      shared_by="shard $i/$n"
    fi
  done
  [ "$shared_by" = "shard 1/$n" ] || fail "the shared files appeared after ${shared_by:-no shard}, not shard 1/$n"
  union=$(tree_hash)
  same="yes"
  [ "$union" = "$REFERENCE" ] || { same="NO"; fail "$n shards together differ from one build"; }
  for i in $(seq "$n" -1 1); do
    say "check --shard $i/$n"
    drop_caches
    read -r ms kb rc < <(measure "$STAMP" -C "$REPO" check --shard "$i/$n")
    [ "$rc" = 0 ] || fail "check --shard $i/$n exited $rc: $(tail -3 "$WORK/out")"
    ((ms > check_ms)) && check_ms=$ms
    ((kb > check_kb)) && check_kb=$kb
  done
  range=$(printf '%s\n' "${targets[@]}" | sort -n | sed -n '1p;$p' | paste -sd- | sed 's/-/–/')
  echo "$n $build_ms $check_ms" >>"$WORK/fit"
  printf '| %s | %s | %s ms | %s MB | %s ms | %s MB | %s | %s |\n' "$n" "$range" "$build_ms" "$((build_kb / 1024))" \
    "$check_ms" "$((check_kb / 1024))" "$shared_by" "$same"
done

# Time ≈ a + b / shards (least squares over the rows above): `a` is what
# every shard pays whatever its share (load, parse and resolve of the whole
# catalog), `b` the work that splits.
echo
echo "Fit of the slowest shard's time as a + b / shards (ms):"
echo
echo "| | a (every shard) | b (split) |"
echo "| --- | ---: | ---: |"
for col in 2 3; do
  name=$([ $col = 2 ] && echo "cold build" || echo "check, no cache")
  awk -v c=$col -v name="$name" '{x = 1 / $1; y = $c; n++; sx += x; sy += y; sxx += x * x; sxy += x * y}
    END {b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n
         printf "| %s | %.0f | %.0f |\n", name, a, b}' "$WORK/fit"
done

echo
say "fail closed: a broken shared input with --shard"
"$STAMP" -C "$REPO" build >/dev/null 2>&1
before=$(tree_hash)
cp "$REPO/catalog/sizes.yaml" "$WORK/sizes.yaml"
printf 'small: [unclosed\n' >>"$REPO/catalog/sizes.yaml"
codes=""
for i in 1 2 3 4; do
  read -r _ _ rc < <(measure "$STAMP" -C "$REPO" build --shard "$i/4")
  codes="$codes $rc"
  [ "$rc" = 2 ] || fail "build --shard $i/4 with a broken sizes.yaml exited $rc, not 2"
done
[ "$(tree_hash)" = "$before" ] || fail "a shard wrote or removed output with a broken sizes.yaml"
cp "$WORK/sizes.yaml" "$REPO/catalog/sizes.yaml"
echo "- A broken \`catalog/sizes.yaml\`: \`build --shard i/4\` exited${codes} for i = 1..4; output byte-identical: $([ "$(tree_hash)" = "$before" ] && echo yes || echo NO)."

say "a removed service under --shard"
victim=svc-00003
rm "$REPO/catalog/services/$victim.yaml"
removals=""
for i in 4 3 2 1; do
  had=$([ -d "$REPO/generated/$victim" ] && echo 1 || echo 0)
  read -r _ _ rc < <(measure "$STAMP" -C "$REPO" build --shard "$i/4")
  [ "$rc" = 0 ] || fail "build --shard $i/4 exited $rc"
  removed=$(removed_count)
  gone=$([ -d "$REPO/generated/$victim" ] && echo 0 || echo 1)
  if [ "$had$gone" = 11 ]; then
    removals="$removals shard $i/4 removed $removed files (the folder of $victim);"
  else
    removals="$removals shard $i/4 removed nothing;"
    [ "$removed" = 0 ] || fail "shard $i/4 removed $removed files that were not $victim's"
  fi
done
if [ -d "$REPO/generated/$victim" ]; then fail "no shard removed $victim's folder"; fi
echo "- \`$victim\` deleted from the catalog, shards run 4..1:${removals%;}."
exit "$FAILED"
