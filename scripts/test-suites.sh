#!/usr/bin/env bash
# Every suite of `make test` (or `make test-full`: make passes its variables on): sanity, lint and unit first, then
# two lanes at once, since they use different resources and each keeps about one core busy:
#   system   what uses this machine's own PostgreSQL 15 (Debian's, /usr/lib/postgresql/15): the role suite
#            (pg_createcluster clusters) and the extension suite on 15 (it installs pgdist.so there);
#   private  what brings its own servers: the module integration suite (throw-away clusters on free ports), the
#            extension suite on the npm majors, the molecule scenarios (containers), sanity and unit on older
#            ansible-core releases.
# Each lane's output is printed when it ends; every suite runs even when another fails; the summary gives each
# suite's result and time. TEST_LANES=serial runs the lanes one after another (a loaded machine, a bisect).
set -uo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
started=$SECONDS

# The kernel picks ephemeral ports (32768-60999) for client connections and for port-0 binds; the inventories
# and role tests listen on fixed ports 55400-55699 inside that range, so while the lanes run a connection could
# hold one and a role test's server would fail to bind. Reserve the range where we may (root, writable sysctl).
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved" ] && ! grep -q 55400-55699 "$reserved"; then
  current=$(cat "$reserved")
  echo "${current:+$current,}55400-55699" >"$reserved" || true
fi

# The extension's majors (the Makefile's, passed in the environment) split by where their server is.
debian=15
# majors WHERE LIST: the majors of LIST whose server is (on_debian) or is not (on_npm) Debian's
majors() {
  local where=$1 major out=()
  for major in $2; do
    if [ "$major" = "$debian" ] && [ "$where" = on_debian ] || { [ "$major" != "$debian" ] && [ "$where" = on_npm ]; }; then
      out+=("$major")
    fi
  done
  echo "${out[*]}"
}
whole=${EXTENSION_PG_VERSIONS-}
subset=${EXTENSION_PG_VERSIONS_SUBSET-}

# suite LABEL MAKE-ARGS...: one make run, its output, exit code and time under $logs/LABEL.*
suite() {
  local label=$1 start=$SECONDS
  shift
  "$make" --no-print-directory "$@" >"$logs/$label.out" 2>&1
  echo $? >"$logs/$label.rc"
  echo $((SECONDS - start)) >"$logs/$label.time"
}

# lane NAME LABEL... : the suites one after another (their make arguments in the array args_<label>), then their
# output
lane() {
  local name=$1 label
  shift
  for label in "$@"; do
    local -n args="args_${label//-/_}"
    suite "$label" "${args[@]}"
  done
  for label in "$@"; do
    echo "=== $name lane: $label ($(cat "$logs/$label.time") s, exit $(cat "$logs/$label.rc"))"
    cat "$logs/$label.out"
  done
}

args_sanity=(sanity)
args_lint=(lint)
args_unit=(unit)
args_roles=(roles)
args_extension_15=(extension "EXTENSION_PG_VERSIONS=$(majors on_debian "$whole")"
                   "EXTENSION_PG_VERSIONS_SUBSET=$(majors on_debian "$subset")")
args_integration=(integration)
args_extension_npm=(extension "EXTENSION_PG_VERSIONS=$(majors on_npm "$whole")"
                    "EXTENSION_PG_VERSIONS_SUBSET=$(majors on_npm "$subset")")
args_molecule=(molecule)
args_ansible_versions=(ansible-versions)
system=(roles extension-15)
private=(integration extension-npm molecule ansible-versions)

lane quick sanity lint unit
if [ "${TEST_LANES:-parallel}" = serial ]; then
  lane system "${system[@]}"
  lane private "${private[@]}"
else
  lane system "${system[@]}" &
  lane private "${private[@]}" &
  wait
fi

status=0
echo "=== every suite"
for label in sanity lint unit "${system[@]}" "${private[@]}"; do
  code=$(cat "$logs/$label.rc" 2>/dev/null || echo 1)
  verdict=ok
  [ "$code" -eq 0 ] || { verdict="FAILED (exit $code)"; status=1; }
  printf '%-14s %-20s %5s s\n' "$label" "$verdict" "$(cat "$logs/$label.time" 2>/dev/null)"
done
echo "all suites: $((SECONDS - started)) s"
exit $status
