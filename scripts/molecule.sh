#!/usr/bin/env bash
# Runs the molecule scenarios (all of them, or the ones named): `molecule test -s NAME` each,
# on a Docker engine this script starts when none runs, with the base image built when missing.
# Containers and networks of a scenario are removed after it, pass or fail (also on Ctrl-C).
# Exits non-zero when any scenario failed. Prints the time each scenario took.
#
#   scripts/molecule.sh                 every scenario under molecule/
#   scripts/molecule.sh default scale   only these
#   PGDIST_MOLECULE_IMAGE=...           another base image (see scripts/molecule-image.sh)
#   MOLECULE_OPTS="--debug"             extra options for `molecule`
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ -x "$root/.venv/bin/molecule" ]; then
  export PATH="$root/.venv/bin:$PATH"
fi
command -v molecule >/dev/null || { echo "molecule.sh: molecule not found (make venv)" >&2; exit 1; }

bash scripts/docker-up.sh
bash scripts/molecule-image.sh

# The collection under test is this checkout, found through a link (no galaxy install).
link=build/collections/ansible_collections/pgdist/cluster
if [ ! -e "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../../.. "$link"
fi

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for f in molecule/*/molecule.yml; do
    scenarios+=("$(basename "$(dirname "$f")")")
  done
fi

# Everything a scenario created carries the label pgdist.molecule.scenario=<name>.
cleanup_scenario() {
  local s=$1 ids
  molecule destroy -s "$s" >/dev/null 2>&1 || true
  ids=$(docker ps -aq --filter "label=pgdist.molecule.scenario=$s")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  ids=$(docker network ls -q --filter "label=pgdist.molecule.scenario=$s")
  [ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1 || true
}

current=""
on_exit() {
  local rc=$?
  if [ -n "$current" ]; then
    echo "molecule.sh: interrupted during '$current', cleaning up" >&2
    cleanup_scenario "$current"
  fi
  exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

failed=()
summary=()
total_start=$(date +%s)
for s in "${scenarios[@]}"; do
  [ -f "molecule/$s/molecule.yml" ] || { echo "molecule.sh: no scenario '$s'" >&2; failed+=("$s"); continue; }
  current=$s
  echo "===== molecule test -s $s ====="
  start=$(date +%s)
  # shellcheck disable=SC2086
  if molecule ${MOLECULE_OPTS:-} test -s "$s"; then
    result=passed
  else
    result=FAILED
    failed+=("$s")
  fi
  cleanup_scenario "$s"
  current=""
  summary+=("$(printf '%-14s %-7s %4ss' "$s" "$result" "$(($(date +%s) - start))")")
done

echo "===== molecule summary ($(($(date +%s) - total_start))s) ====="
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule.sh: failed: ${failed[*]}" >&2
  exit 1
fi
