#!/bin/sh
# What a run that must change nothing leaves as it was on one container: the installed packages, every file
# under /etc/postgresql, the clusters, and in each running one its roles, databases, configuration load and
# start times and the objects the roles manage in every database.
set -eu
dpkg-query -W -f '${Package}=${Version} ${db:Status-Abbrev}\n' | sort
find /etc/postgresql -type f -exec md5sum {} + 2>/dev/null | sort || true
command -v pg_lsclusters >/dev/null || exit 0
pg_lsclusters -h | while read -r version name port status rest; do
    echo "cluster $version/$name port $port $status"
    [ "$status" = online ] || continue
    q() { runuser -u postgres -- psql -XAtq -p "$port" -d "$1" -c "$2"; }
    q postgres "SELECT pg_conf_load_time(), pg_postmaster_start_time()"
    q postgres "SELECT rolname, rolpassword FROM pg_authid ORDER BY 1"
    for db in $(q postgres "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
        echo "database $db"
        q "$db" "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2"
        q "$db" "SELECT srvname, srvoptions FROM pg_foreign_server ORDER BY 1"
        q "$db" "SELECT srvname, usename FROM pg_user_mappings ORDER BY 1, 2"
        q "$db" "SELECT extname, extversion FROM pg_extension ORDER BY 1"
    done
done
