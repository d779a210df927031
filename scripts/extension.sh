#!/usr/bin/env bash
# The coordinator extension's suite (tests/extension) once per PostgreSQL major, one major after another (its
# tests wait on the extension's timers and fault holds: two at once on 2 cores would only slow both):
#   EXTENSION_PG_VERSIONS="15 17"            the whole suite on these (default: all six)
#   EXTENSION_PG_VERSIONS_SUBSET="13 14"     the tests marked contract (pytest -m contract) on these (default: none)
# make extension passes the Makefile's.
# Each major is its own pytest session with PGDIST_PG_VERSION=<major>: the extension built against that major's
# headers (tests/support/pgheaders.py) into its server (tests/support/pgbinaries.py). Every major runs even when
# another fails; the summary at the end gives each one's result and time. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${VENV:-.venv}/bin/python
whole=${EXTENSION_PG_VERSIONS-13 14 15 16 17 18}
subset=${EXTENSION_PG_VERSIONS_SUBSET-}
[ -n "$whole$subset" ] || exit 0
# Fetch and cache servers and headers first, so a failed fetch is reported once instead of as every test's error.
"$python" tests/support/pgbinaries.py $whole $subset >/dev/null || exit 1
"$python" tests/support/pgheaders.py $whole $subset >/dev/null || exit 1

status=0
summary=()
# session MAJOR KIND PYTEST-ARGS...: one pytest session, its verdict and time added to the summary
session() {
  local major=$1 kind=$2 start=$SECONDS verdict=ok
  shift 2
  echo "=== extension suite on PostgreSQL $major ($kind)"
  PGDIST_PG_VERSION=$major "$python" -m pytest tests/extension "$@" 2>&1 | tee "$log"
  local code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || { verdict="FAILED, pytest exit $code"; status=1; }
  local outcome
  outcome=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
  summary+=("PostgreSQL $major ($kind): $verdict, ${outcome:-no summary}, $((SECONDS - start)) s")
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for major in $whole; do session "$major" whole "$@"; done
for major in $subset; do session "$major" contract -m contract "$@"; done

echo "=== extension suite per major"
printf '%s\n' "${summary[@]}"
exit $status
