#!/usr/bin/env bash
# make demo: deploy inventories/local (a coordinator and two shards as three PostgreSQL clusters on
# this machine), insert sample rows through the coordinator, show where they landed, and end with the psql
# command an application connects with (its first pgdist_app_users entry, over TCP with TLS), run once here.
# Run it again: the deploy reports changed=0.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
export PATH="$venv/bin:$PATH"
inventory=inventories/local/hosts.yml
log="$(mktemp /tmp/pgdist-demo-XXXXXX.log)"

echo "== deploying $inventory (log: $log)"
if ! ANSIBLE_NOCOLOR=1 ansible-playbook -i "$inventory" site.yml >"$log" 2>&1; then
    tail -n 40 "$log"
    exit 1
fi
sed -n '/PLAY RECAP/,$p' "$log"

# The clusters' ports and the database, from the inventory.
port() { ansible-inventory -i "$inventory" --host "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pgdist_port"])'; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
sql() { as_postgres psql -X -q -d library -p "$1" -v ON_ERROR_STOP=1 "${@:2}"; }
coordinator=$(port coordinator1)

echo
echo "== sample rows inserted through the coordinator (port $coordinator; the sample tables are emptied first)"
sql "$coordinator" <<'SQL'
TRUNCATE lend, booksample, parent, events;
-- English seed: the insert triggers route book samples by location, lends through their sample.
INSERT INTO booksample VALUES (1, 'new', true, 'paris', 1), (2, 'new', true, 'lagos', 2),
                              (3, 'used', false, 'paris', 3), (4, 'used', true, 'lagos', 4), (5, 'new', true, 'lagos', 5);
INSERT INTO lend VALUES (100, 1, '2024-01-10', NULL), (101, 2, '2024-01-11', NULL), (102, 4, '2024-01-12', '2024-02-01');
-- Vietnamese seed: range partitions child1..3 (child3 stays on the coordinator).
INSERT INTO parent VALUES (1, 'a', 1), (2, 'b', 199999), (3, 'c', 200000);
-- A hash table over both shards.
INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 1000) AS g;
SELECT 'booksample' AS "table", tableoid::regclass AS partition, count(*) FROM booksample GROUP BY 1, 2
UNION ALL SELECT 'lend', tableoid::regclass, count(*) FROM lend GROUP BY 1, 2
UNION ALL SELECT 'parent', tableoid::regclass, count(*) FROM parent GROUP BY 1, 2
UNION ALL SELECT 'events', tableoid::regclass, count(*) FROM events GROUP BY 1, 2
ORDER BY 1, 2;
SQL

for shard in shard1 shard2; do
    echo "== rows stored on $shard (port $(port "$shard"))"
    sql "$(port "$shard")" <<'SQL'
SELECT c.relname AS "table",
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname),
                                            false, true, '')))[1]::text::int AS rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE '\_pgdist%'
ORDER BY 1;
SQL
done

echo "== a key lookup scans one shard only (partition pruning, the query runs on the shard)"
sql "$coordinator" -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM events WHERE id = 42"
sql "$coordinator" -c "EXPLAIN (COSTS OFF) SELECT * FROM parent WHERE range = 150000"
echo "== run 'make demo' again: the deploy above then reports changed=0"

# The application's connection: the coordinator's address and port, the first application user, TLS checked
# against the CA when the inventory gives one (verify-full), else encrypted without it (require).
app_command=$(ansible-inventory -i "$inventory" --host coordinator1 2>/dev/null | python3 -c '
import json, shlex, sys
host = json.load(sys.stdin)
user = host["pgdist_app_users"][0]
ca = host.get("pgdist_ssl_ca_file") or ""
tls = "sslmode=verify-full sslrootcert=%s" % ca if ca else "sslmode=require"
conninfo = "host=%s port=%s dbname=%s user=%s %s" % (host["pgdist_address"], host["pgdist_port"],
                                                      host["pgdist_database"], user["name"], tls)
print("PGPASSWORD=%s psql %s" % (shlex.quote(user["password"]), shlex.quote(conninfo)))')
check="SELECT current_user AS logged_in_as, ssl, version AS tls FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
echo
echo "== an application logs in over TCP with TLS (pgdist_app_users, pgdist_app_networks):"
if ! env -i PATH="$PATH" bash -c "$app_command -X -c \"$check\""; then
    echo "the application's connection failed: $app_command" >&2
    exit 1
fi
echo "Connect as the application with:"
echo "    $app_command"
