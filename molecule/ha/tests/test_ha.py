"""ha: coordinator + 2 shards of 2 members each under Patroni, etcd on the coordinator and the shard hosts.

Each shard's members stream synchronously and the coordinator's foreign server lists both. A writer inserts
through the coordinator while the container of shard1's primary is stopped (every process in it killed, as when
the host is lost): writes through the coordinator succeed again within 30 s, every row whose INSERT returned
success is there afterwards, and the old primary rejoins as a standby when its container is started and the
converge playbook runs again (which starts its etcd and Patroni)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import pgdist_checks

globals().update(pgdist_checks.checks())

FAILOVER_LIMIT = 30
PATRONI_USER = "pgdist_patroni"
# Runs in the coordinator container: inserts, one per transaction, only ids whose partition is on the shard
# named in argv[3] (the other shard's keep working all along), and prints which returned success and when.
WRITER = r"""
import json, sys, time
import psycopg2
conn = psycopg2.connect(dbname=sys.argv[1], host='/var/run/postgresql')
conn.autocommit = True
cursor = conn.cursor()
cursor.execute('''
    SELECT g FROM generate_series(1000001, 1040000) g
     WHERE EXISTS (SELECT 1 FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid
                     JOIN pg_foreign_server s ON s.oid = f.ftserver
                    WHERE s.srvname = %s AND c.relname ~ '^items_p[0-9]+$'
                      AND satisfies_hash_partition('items'::regclass, 4,
                                                   substring(c.relname from '[0-9]+$')::int, g::bigint))
     ORDER BY g''', (sys.argv[3],))
ids = [row[0] for row in cursor.fetchall()]
acked, failed, end = [], [], time.time() + float(sys.argv[2])
for row_id in ids:
    if time.time() > end:
        break
    try:
        conn.cursor().execute("INSERT INTO items VALUES (%s, 'ha')", (row_id,))
        acked.append((row_id, time.time()))
    except psycopg2.Error as exc:
        failed.append((row_id, time.time(), str(exc).splitlines()[0]))
        time.sleep(0.2)
    time.sleep(0.02)
print(json.dumps(dict(acked=acked, failed=failed)))
"""


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return predicate()


@pytest.fixture(scope="module")
def db(pgvars):
    return pgvars["database"]


@pytest.fixture(scope="module")
def groups(inventory):
    """{shard: [shard, standby]} from the inventory."""
    out = {}
    for name in sorted(inventory.get("standbys", {}).get("hosts", [])):
        shard = inventory["_meta"]["hostvars"][name]["pgdist_standby_of"]
        out.setdefault(shard, [shard]).append(name)
    return out


def primary_of(nodes, members):
    up = [name for name in members if nodes[name].psql("SELECT pg_is_in_recovery()", check=False).stdout.strip() == "f"]
    return up[0] if len(up) == 1 else None


def test_members_stream_synchronously(nodes, groups):
    assert sorted(groups) == ["ha-shard1", "ha-shard2"]
    for shard, members in groups.items():
        primary = primary_of(nodes, members)
        assert primary is not None, f"{shard}: no single primary among {members}"
        assert wait_for(lambda: nodes[primary].value("SELECT string_agg(sync_state || ' ' || state, ',') "
                                                     "FROM pg_stat_replication") == "sync streaming"), shard
        for name in members:
            # The plan's settings through Patroni, the same on every member.
            assert nodes[name].value("SHOW max_prepared_transactions") == "100"
            # Patroni's own logins pass pg_hba (a standby reads its timeline on its socket before a failover).
            refused = nodes[name].run(f"grep -h 'no pg_hba.conf entry.*user \"{PATRONI_USER}\"' "
                                      "/var/log/postgresql/patroni@*.log", check=False).stdout
            assert not refused, f"{name}: {refused.splitlines()[:2]}"


def test_foreign_servers_list_every_member(coordinator, nodes, groups, db):
    for shard, members in groups.items():
        options = coordinator.value(f"SELECT array_to_string(srvoptions, ' ') FROM pg_foreign_server "
                                    f"WHERE srvname = '{shard}'", db).split()
        assert f"host={','.join(nodes[m].address for m in members)}" in options
        assert "target_session_attrs=read-write" in options


def test_writes_survive_losing_a_primary(coordinator, nodes, groups, db):
    members = groups["ha-shard1"]
    primary = primary_of(nodes, members)
    (standby,) = [name for name in members if name != primary]
    writer = subprocess.Popen(["docker", "exec", "-u", "postgres", coordinator.name, "python3", "-c", WRITER, db, "75",
                               "ha-shard1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(10)
    stopped = time.time()
    subprocess.run(["docker", "stop", "--time", "0", primary], check=True, stdout=subprocess.DEVNULL)
    out, err = writer.communicate(timeout=180)
    assert writer.returncode == 0, err
    result = json.loads(out)
    assert len(result["acked"]) > 50, result["failed"][-3:]
    after = [at for row_id, at in result["acked"] if at > stopped + 1]
    assert after, f"no write succeeded after {primary} was stopped: {result['failed'][-3:]}"
    assert after[0] - stopped <= FAILOVER_LIMIT, f"writes came back {after[0] - stopped:.1f} s after the stop"
    assert any(at > stopped for row_id, at, error in result["failed"]), "the stop interrupted no write"
    print(f"writes came back {after[0] - stopped:.1f} s after {primary} was stopped")
    for row_id, at, error in result["failed"]:
        print(f"  insert failed {at - stopped:+.1f} s: {error}")
    assert nodes[standby].value("SELECT pg_is_in_recovery()") == "f"
    present = {int(row[0]) for row in coordinator.query("SELECT id FROM items WHERE id > 1000000", db)}
    lost = {row_id for row_id, at in result["acked"]} - present
    print(f"{len(result['acked'])} inserts acknowledged ({len(after)} after the stop), {len(result['failed'])} failed, "
          f"{len(present)} rows present, {len(lost)} acknowledged rows missing")
    assert not lost, f"{len(lost)} rows whose INSERT returned success are gone"

    # The old primary comes back: its container, then the converge playbook (its etcd and Patroni).
    started = time.time()
    subprocess.run(["docker", "start", primary], check=True, stdout=subprocess.DEVNULL)
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "build",
                                                                 "collections"))
    converge = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                               "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(scenario, "converge.yml")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert converge.returncode == 0, converge.stdout[-4000:]
    assert wait_for(lambda: nodes[primary].psql("SELECT pg_is_in_recovery()", check=False).stdout.strip() == "t", 120)
    assert wait_for(lambda: nodes[standby].value("SELECT count(*) FROM pg_stat_replication "
                                                 "WHERE state = 'streaming'") == "1", 120)
    # The rows are in the shard's own tables (the coordinator's foreign partitions name them).
    tables = [row[0] for row in coordinator.query(
        "SELECT c.relname FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid "
        "JOIN pg_foreign_server s ON s.oid = f.ftserver WHERE s.srvname = 'ha-shard1' ORDER BY 1", db)]
    rows_there = " UNION ALL ".join(f"SELECT id FROM {table}" for table in tables)
    assert wait_for(lambda: nodes[primary].value(f"SELECT count(*) FROM ({rows_there}) r WHERE id > 1000000", db)
                    == str(len(present)), 60)
    print(f"{primary} rejoined as a standby of {standby} with all {len(present)} rows, "
          f"{time.time() - started:.0f} s after its container was started")
