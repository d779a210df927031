#!/bin/sh
# Reload one cluster's configuration, wait until the postmaster has read it,
# and print the settings that still wait for a restart (comma-separated).
# Usage: reload.sh DATA_DIRECTORY SOCKET_DIRECTORY
set -eu
socket=$2
port=$(sed -n 4p "$1/postmaster.pid")
q() { psql -XAtq -h "$socket" -p "$port" -d postgres -c "$1"; }
before=$(q "SELECT pg_conf_load_time()")
q "SELECT pg_reload_conf()" >/dev/null
tries=0
while [ "$(q 'SELECT pg_conf_load_time()')" = "$before" ] && [ "$tries" -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
q "SELECT coalesce(string_agg(name, ','), '') FROM pg_settings WHERE pending_restart"
