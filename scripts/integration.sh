#!/usr/bin/env bash
# The module integration suite once per PostgreSQL major: PG_VERSIONS="13 14" scripts/integration.sh [pytest args]
# PG_VERSIONS_SUBSET="16 17" with SUBSET_TESTS="tests/integration/test_user.py ..." runs only those files on
# those majors. Each major is its own pytest session with PGDIST_PG_VERSION=<major> (tests/support/pgcluster.py),
# on its own clusters and free ports, so INTEGRATION_JOBS sessions (default 2) run at once: a session waits on
# ansible-playbook and its servers about half of the time. Each session's output is printed when it ends; every
# major runs even when another fails; the summary at the end gives each one's result and time.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${VENV:-.venv}/bin/python
whole=${PG_VERSIONS-13 14 15 16 17 18}
subset=${PG_VERSIONS_SUBSET-}
subset_tests=${SUBSET_TESTS:-tests/integration}
jobs_at_once=${INTEGRATION_JOBS:-2}
[ -n "$whole$subset" ] || exit 0
# Fetch and cache the binaries first, so a failed fetch is reported once instead of as every test's error.
"$python" tests/support/pgbinaries.py $whole $subset || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# session NAME MAJOR TESTS...: one pytest session; its output, exit code and time go to $logs/NAME.*
session() {
  local name=$1 major=$2 start=$SECONDS
  shift 2
  PGDIST_PG_VERSION=$major "$python" -m pytest "$@" >"$logs/$name.out" 2>&1
  echo $? >"$logs/$name.rc"
  echo $((SECONDS - start)) >"$logs/$name.time"
  echo "=== module integration suite on PostgreSQL $major ($name)"
  cat "$logs/$name.out"
}

names=()
launch() {
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_at_once" ]; do wait -n; done
  names+=("$1")
  echo "=== started: PostgreSQL $2 ($1)"
  session "$@" &
}
# The whole suites first: they are the longest.
for major in $whole; do launch "$major-whole" "$major" tests/integration "$@"; done
for major in $subset; do launch "$major-subset" "$major" $subset_tests "$@"; done
wait

status=0
echo "=== module integration suite per major"
for name in "${names[@]}"; do
  code=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  verdict=ok
  [ "$code" -eq 0 ] || { verdict="FAILED, pytest exit $code"; status=1; }
  outcome=$(grep -E '(passed|failed|error|no tests ran)' "$logs/$name.out" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
  echo "PostgreSQL ${name%-*} (${name#*-}): $verdict, ${outcome:-no summary}, $(cat "$logs/$name.time" 2>/dev/null) s"
done
exit $status
