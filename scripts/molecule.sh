#!/usr/bin/env bash
# Runs the molecule scenarios (all of them, or the ones named): `molecule test -s NAME` each,
# on a Docker engine this script starts when none runs, with the base image built when missing.
# NAME@SUITE runs scenario NAME on another Debian release (bullseye, trixie; bookworm without a suffix):
# its containers come from that suite's image and deploy the PostgreSQL major the suite ships
# (PGDIST_POSTGRESQL_VERSION, which the scenario's molecule.yml must read).
# Containers and networks of a scenario are removed after it, pass or fail (also on Ctrl-C).
# Exits non-zero when any scenario failed. Prints the time each scenario took (and its image's build).
#
#   scripts/molecule.sh                 every scenario under molecule/, on bookworm
#   scripts/molecule.sh default scale   only these
#   scripts/molecule.sh default@trixie  the default scenario on Debian 13 with its PostgreSQL 17
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
user_image=${PGDIST_MOLECULE_IMAGE:-}

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
  name=${s%%@*}
  suite=bookworm
  [[ $s != *@* ]] || suite=${s#*@}
  if [ ! -f "molecule/$name/molecule.yml" ]; then
    echo "molecule.sh: no scenario '$name'" >&2; failed+=("$s"); continue
  fi
  if [[ $s == *@* ]] && ! grep -q PGDIST_POSTGRESQL_VERSION "molecule/$name/molecule.yml"; then
    echo "molecule.sh: scenario '$name' runs on bookworm only (its molecule.yml does not read PGDIST_POSTGRESQL_VERSION)" >&2
    failed+=("$s"); continue
  fi
  start=$(date +%s)
  if ! image=$(PGDIST_MOLECULE_IMAGE=$user_image bash scripts/molecule-image.sh "$suite"); then
    echo "molecule.sh: no image for $suite" >&2; failed+=("$s"); continue
  fi
  built=$(($(date +%s) - start))
  major=$(docker image inspect --format '{{ index .Config.Labels "pgdist.postgresql.major" }}' "$image")
  export PGDIST_MOLECULE_IMAGE=$image
  if [[ $major =~ ^[0-9]+$ ]]; then export PGDIST_POSTGRESQL_VERSION=$major; else unset PGDIST_POSTGRESQL_VERSION; fi
  current=$name
  echo "===== molecule test -s $name ($image, PostgreSQL ${PGDIST_POSTGRESQL_VERSION:-of the scenario}) ====="
  start=$(date +%s)
  # shellcheck disable=SC2086
  if molecule ${MOLECULE_OPTS:-} test -s "$name"; then
    result=passed
  else
    result=FAILED
    failed+=("$s")
  fi
  cleanup_scenario "$name"
  current=""
  summary+=("$(printf '%-18s %-7s %4ss (image %ss)' "$s" "$result" "$(($(date +%s) - start))" "$built")")
done

echo "===== molecule summary ($(($(date +%s) - total_start))s) ====="
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule.sh: failed: ${failed[*]}" >&2
  exit 1
fi
