#!/usr/bin/env bash
# The module integration suite once per PostgreSQL major: PG_VERSIONS="13 14" scripts/integration.sh [pytest args]
# INTEGRATION_TESTS="tests/integration/test_user.py ..." runs those files instead of the whole suite.
# Each major is its own pytest session with PGDIST_PG_VERSION=<major> (tests/support/pgcluster.py). Every
# major runs even when an earlier one fails; the summary at the end gives each one's result and time.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${VENV:-.venv}/bin/python
versions=${PG_VERSIONS-13 14 15 16 17 18}
tests=${INTEGRATION_TESTS:-tests/integration}
[ -n "$versions" ] || exit 0
# Fetch and cache the binaries first, so a failed fetch is reported once instead of as every test's error.
"$python" tests/support/pgbinaries.py $versions || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
summary=()
for major in $versions; do
  echo "=== module integration suite on PostgreSQL $major"
  start=$SECONDS
  PGDIST_PG_VERSION=$major "$python" -m pytest $tests "$@" 2>&1 | tee "$logs/$major"
  code=${PIPESTATUS[0]}
  verdict=ok
  [ "$code" -eq 0 ] || { verdict="FAILED, pytest exit $code"; status=1; }
  outcome=$(grep -E '(passed|failed|error|no tests ran)' "$logs/$major" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
  summary+=("PostgreSQL $major: $verdict, ${outcome:-no summary}, $((SECONDS - start)) s")
done
echo "=== module integration suite per major"
printf '%s\n' "${summary[@]}"
exit $status
