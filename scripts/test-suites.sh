#!/usr/bin/env bash
# Every suite of `make test` (or of `make test-full` with the same variables make passes on): the quick ones first,
# then three lanes at once, since they use different resources and each keeps about one core busy:
#   roles    site.yml on pg_createcluster clusters of this machine (Debian's PostgreSQL 15)
#   modules  the module integration suite (throw-away clusters on free ports), then the extension suite
#            (the npm binaries, built into a cache of their own)
#   docker   the molecule scenarios (containers)
# Each lane's output is printed when it ends; every lane runs even when another fails; the summary gives each
# suite's result and time. TEST_LANES=serial runs the lanes one after another (for a loaded machine or a bisect).
set -uo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
started=$SECONDS

# suite NAME: make NAME, its output and time kept under $logs
suite() {
  local name=$1 start=$SECONDS
  "$make" --no-print-directory "$name" >"$logs/$name.out" 2>&1
  echo $? >"$logs/$name.rc"
  echo $((SECONDS - start)) >"$logs/$name.time"
}

# lane NAME SUITE...: the suites one after another; the lane's output when it ends
lane() {
  local name=$1
  shift
  for each in "$@"; do suite "$each"; done
  for each in "$@"; do
    echo "=== $name lane: make $each ($(cat "$logs/$each.time") s, exit $(cat "$logs/$each.rc"))"
    cat "$logs/$each.out"
  done
}

quick=(sanity lint unit)
# name: its suites, in order
lanes=("roles:roles" "modules:integration extension" "docker:molecule")
for each in "${quick[@]}"; do
  suite "$each"
  echo "=== make $each ($(cat "$logs/$each.time") s, exit $(cat "$logs/$each.rc"))"
  cat "$logs/$each.out"
done
suites=("${quick[@]}")
for spec in "${lanes[@]}"; do
  read -r -a members <<<"${spec#*:}"
  suites+=("${members[@]}")
  if [ "${TEST_LANES:-parallel}" = serial ]; then lane "${spec%%:*}" "${members[@]}"; else lane "${spec%%:*}" "${members[@]}" & fi
done
wait

status=0
echo "=== every suite"
for each in "${suites[@]}"; do
  code=$(cat "$logs/$each.rc" 2>/dev/null || echo 1)
  verdict=ok
  [ "$code" -eq 0 ] || { verdict="FAILED (exit $code)"; status=1; }
  printf '%-12s %-20s %5s s\n' "$each" "$verdict" "$(cat "$logs/$each.time" 2>/dev/null)"
done
echo "all suites: $((SECONDS - started)) s"
exit $status
