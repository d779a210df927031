#!/usr/bin/env bash
# ansible-lint --profile production (its yamllint rules included) over
# whatever of roles/, playbooks/, site.yml, inventories/ (hosts and
# group_vars) and molecule/ (each scenario's molecule.yml and its playbooks:
# converge, side_effect, verify) exists, with this repository installed as
# pgdist.cluster so FQCNs of our modules and roles resolve. Extra arguments go
# to ansible-lint.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
case "$venv" in /*) ;; *) venv="$repo/$venv" ;; esac
export PATH="$venv/bin:$PATH"

cd "$repo"
targets=()
for path in roles playbooks site.yml inventories molecule; do
    [ -e "$path" ] && targets+=("$path")
done
if [ "${#targets[@]}" -eq 0 ]; then
    echo "lint: no roles/, playbooks/, site.yml, inventories/ or molecule/ yet; nothing to lint"
    exit 0
fi

# The collection itself, and the venv's collections, on the collections path.
collections="$(mktemp -d /tmp/pgdist-lint-XXXXXX)"
trap 'rm -rf "$collections"' EXIT
mkdir -p "$collections/ansible_collections/pgdist"
ln -s "$repo" "$collections/ansible_collections/pgdist/cluster"
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export ANSIBLE_COLLECTIONS_PATH="$collections:$site_packages"
export ANSIBLE_ROLES_PATH="$repo/roles"

# --offline: no galaxy downloads (not reachable here); the collection is on the path above.
# Settings (and the one skipped rule, with its reason) are in .ansible-lint.
exec ansible-lint --nocolor --offline --profile production "$@" "${targets[@]}"
