#!/usr/bin/env bash
# Runs the real pre-commit tool with this repository's .pre-commit-hooks.yaml
# against a fixture platform repo: the check hook fails on drift and passes
# when up to date; the build hook repairs the drift. The -system hooks use
# target/release/stamp; the language: rust hook is built by pre-commit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$here/target/release:$PATH"
export PRE_COMMIT_HOME="$work/cache"

repo="$work/platform"
mkdir -p "$repo"
cp -r "$here/archetypes" "$here/components" "$repo/"
cp -r "$here/tests/fixtures/basic/." "$repo/"
cd "$repo"
git init -q
git config user.email ci@example.com
git config user.name ci
stamp build -q
git add -A
git commit -qm "platform repo"

hook() { pre-commit try-repo "$here" "$1" --all-files >"$work/out" 2>&1; }

echo "-- up to date: stamp-check passes"
hook stamp-check-system || { cat "$work/out"; exit 1; }

echo "-- drift in a generated file: stamp-check fails"
sed -i 's/maxReplicas: 10/maxReplicas: 99/' generated/web/prod/eu/manifests.yaml
if hook stamp-check-system; then cat "$work/out"; echo "the hook passed on drift"; exit 1; fi
grep -q 'generated/web/prod/eu/manifests.yaml' "$work/out" || { cat "$work/out"; exit 1; }

echo "-- stamp-build repairs it, then stamp-check passes"
hook stamp-build-system || true
hook stamp-check-system || { cat "$work/out"; exit 1; }
git diff --quiet -- generated || { echo "stamp-build did not restore the file"; exit 1; }

echo "-- a catalog change without regenerating: stamp-check fails"
sed -i 's/"2.1.0"/"2.2.0"/' catalog/services/jobs.yaml
if hook stamp-check-system; then cat "$work/out"; echo "the hook passed on a stale catalog change"; exit 1; fi

echo "-- the language: rust hook (pre-commit builds stamp with cargo, ~2 minutes)"
git checkout -q -- catalog
hook stamp-check || { cat "$work/out"; exit 1; }
sed -i 's/maxReplicas: 10/maxReplicas: 99/' generated/web/prod/eu/manifests.yaml
if hook stamp-check; then cat "$work/out"; echo "the rust hook passed on drift"; exit 1; fi

echo "-- stamp init pins a commit of this repository, in a config pre-commit accepts"
scaffold="$work/scaffold"
stamp init -q "$scaffold"
pre-commit validate-config "$scaffold/.pre-commit-config.yaml"
rev=$(awk '$1 == "rev:" { print $2; exit }' "$scaffold/.pre-commit-config.yaml")
[ -n "$rev" ] || { cat "$scaffold/.pre-commit-config.yaml"; echo "no rev pinned"; exit 1; }
git -C "$here" cat-file -e "$rev^{commit}" || { echo "rev $rev is no commit of this repository"; exit 1; }

echo "pre-commit hooks behave"
