#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at ansible_collections/pgdist/cluster.
#
# ansible-test needs the collection at that path, and bootstraps pip for the
# virtual environments of its tests from get-pip, which lives on a host
# outside the package registries. A cached get_pip_<version>.py that installs
# that pip from PyPI through ensurepip satisfies it.
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8]
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
case "$venv" in /*) ;; *) venv="$repo/$venv" ;; esac
python_version="${PGDIST_SANITY_PYTHON:-3.11}"
export PATH="$venv/bin:$PATH"

cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
# The pip version this ansible-test bootstraps (each ansible-core pins its own: 23.1.2 for 2.16, 24.2 for 2.19).
pip_version=$("$venv/bin/python" - <<'PY'
import os, re, ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)
cat > "$cache/get_pip_${pip_version//./_}.py" <<PY
"""Stand-in for get-pip $pip_version: ensurepip, then pip $pip_version from the package index.

ansible-test passes get-pip options (pip==$pip_version --no-setuptools --no-wheel);
they are what this does, so they are not forwarded to pip.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check', 'pip==$pip_version'])
PY

work="$(mktemp -d /tmp/pgdist-sanity-XXXXXX)"
trap 'rm -rf "$work"' EXIT
target="$work/ansible_collections/pgdist/cluster"
mkdir -p "$target"

# Tracked files plus new, not ignored ones: what a commit of the working tree holds.
cd "$repo"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' path; do
    [ -e "$path" ] || continue          # deleted in the working tree
    mkdir -p "$target/$(dirname "$path")"
    cp -P "$path" "$target/$path"
done

cd "$target"
# ansible-test only looks at files git knows about when a .git is present.
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@invalid commit -q -m sanity

# Tests that need docker or the network are not run here: --local runs on this
# host, and shellcheck/pwsh tests skip themselves when their tools are missing.
ansible-test sanity --local --python "$python_version" --requirements --color no \
    --skip-test shellcheck "$@"
