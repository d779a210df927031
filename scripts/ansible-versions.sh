#!/usr/bin/env bash
# Sanity and the unit suite on older ansible-core releases, each in its own virtualenv (.venv-ansible-<version>,
# made once): scripts/ansible-versions.sh 2.16 2.17 2.18. The newest supported (2.19, .venv's) runs in make
# sanity and make unit; meta/runtime.yml's requires_ansible names the oldest. ansible-core 2.20 needs Python 3.12,
# which this machine lacks (3.11). With INTEGRATION=1 the module integration suite (on Debian's 15) runs on the
# first version given too (the oldest: make test-full).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
summary=()
oldest=${1:-}
for version in "$@"; do
  venv=.venv-ansible-$version
  start=$SECONDS
  verdict=ok
  if [ ! -e "$venv/.installed" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip &&
      "$venv/bin/pip" install -q "ansible-core==$version.*" \
        $(grep -E '^(psycopg2-binary|pytest)==' tests/requirements.txt) && touch "$venv/.installed" ||
      { summary+=("ansible-core $version: FAILED to install"); status=1; continue; }
  fi
  echo "=== ansible-core $("$venv/bin/ansible" --version | head -1 | sed 's/.*core //; s/]//')"
  VENV=$venv bash scripts/sanity.sh || { verdict="sanity FAILED"; status=1; }
  "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider || { verdict="$verdict, unit FAILED"; status=1; }
  if [ "${INTEGRATION:-0}" = 1 ] && [ "$version" = "$oldest" ]; then
    make --no-print-directory integration VENV="$venv" PG_VERSIONS=15 PG_VERSIONS_SUBSET= ||
      { verdict="$verdict, integration FAILED"; status=1; }
  fi
  summary+=("ansible-core $version: $verdict, $((SECONDS - start)) s")
done
echo "=== ansible-core versions"
printf '%s\n' "${summary[@]}"
exit $status
