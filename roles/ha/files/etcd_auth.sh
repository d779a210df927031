#!/bin/sh
# etcd's authentication: the root user (which administers etcd), Patroni's user with read-write access to PREFIX
# only, then `auth enable`. Idempotent; a running cluster keeps its keys (Patroni re-authenticates by itself).
# Prints "changed" when it changed something, "ok" otherwise.
# Usage: etcd_auth.sh USER PREFIX  with the endpoint and CA in ETCDCTL_ENDPOINTS and ETCDCTL_CACERT, and the
# passwords in PGDIST_ETCD_ROOT_PASSWORD and PGDIST_ETCD_PASSWORD (never on a command line).
set -eu
user=$1 prefix=$2
export ETCDCTL_API=3
unset ETCDCTL_USER
as_root() { ETCDCTL_USER="root:$PGDIST_ETCD_ROOT_PASSWORD" etcdctl "$@"; }
# A password on stdin: etcdctl reads it from there with --interactive=false.
with_password() { printf '%s\n' "$1"; }

if out=$(etcdctl user list 2>&1); then
    # Authentication is off: set everything up, then turn it on. Each step is repeatable after a failed run.
    as_root user get root >/dev/null 2>&1 || with_password "$PGDIST_ETCD_ROOT_PASSWORD" | as_root user add root --interactive=false >/dev/null
    with_password "$PGDIST_ETCD_ROOT_PASSWORD" | as_root user passwd root --interactive=false >/dev/null
    as_root user get root | grep -q 'Roles:.*\broot\b' || as_root user grant-role root root >/dev/null
    as_root role get "$user" >/dev/null 2>&1 || as_root role add "$user" >/dev/null
    as_root role grant-permission "$user" --prefix=true readwrite "$prefix" >/dev/null
    as_root user get "$user" >/dev/null 2>&1 || with_password "$PGDIST_ETCD_PASSWORD" | as_root user add "$user" --interactive=false >/dev/null
    with_password "$PGDIST_ETCD_PASSWORD" | as_root user passwd "$user" --interactive=false >/dev/null
    as_root user get "$user" | grep -q "Roles:.*\b$user\b" || as_root user grant-role "$user" "$user" >/dev/null
    as_root auth enable >/dev/null
    echo changed
    exit 0
fi
case "$out" in
*"user name is empty"*) ;;
*)
    echo "etcd does not answer: $out" >&2
    exit 1
    ;;
esac
# Authentication is on: root must be ours, Patroni's user must log in with its password.
if ! as_root user get "$user" >/dev/null 2>&1; then
    echo "etcd's root user does not log in with pgdist_ha_etcd_root_password (or $user is missing); set that" \
        "variable to etcd's root password" >&2
    exit 1
fi
if ETCDCTL_USER="$user:$PGDIST_ETCD_PASSWORD" etcdctl get "$prefix" --prefix --keys-only --limit=1 >/dev/null 2>&1; then
    echo ok
else
    with_password "$PGDIST_ETCD_PASSWORD" | as_root user passwd "$user" --interactive=false >/dev/null
    echo changed
fi
