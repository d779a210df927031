"""replication: coordinator + 2 shards + a synchronous replica of shard1; reference table countries.

Rows written on shard1 reach the replica (insert, update, delete, truncate; counts and md5 compared), the
replica stopped mid-stream catches up, a commit on shard1 waits while the synchronous replica is down, and a
reference row inserted on the coordinator is readable on every shard. pg_hba on the publishers admits the
replication user from the subscribers' own container addresses only, as a database entry."""

from __future__ import annotations

import time

import pytest

import pgdist_checks

# listen_addresses, pg_hba and fdw connection checks shared by every scenario
globals().update(pgdist_checks.checks())

REPL_USER = "pgdist_replication"
LOCAL = "SET synchronous_commit = local;"


@pytest.fixture(scope="module")
def replica(inventory, nodes):
    (name,) = sorted(inventory["replicas"]["hosts"])
    return nodes[name]


@pytest.fixture(scope="module")
def shard1(nodes, replica):
    return nodes[replica.vars["pgdist_replica_of"]]


@pytest.fixture(scope="module")
def db(pgvars):
    return pgvars["database"]


def pg_ctl(node, action):
    node.run(f"pg_ctlcluster 15 {node.vars.get('pgdist_cluster_name', 'main')} {action}")


def checksum(node, table, db):
    return node.value(
        f"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t", db
    )


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def wait_same(source, copy, table, db, timeout=60):
    assert wait_for(lambda: checksum(source, table, db) == checksum(copy, table, db), timeout), (
        f"{table}: {checksum(source, table, db)} on {source.name}, {checksum(copy, table, db)} on {copy.name}"
    )
    return checksum(copy, table, db)


def test_publisher_settings(shard1, replica):
    assert shard1.value("SHOW wal_level") == "logical"
    assert shard1.value("SHOW max_slot_wal_keep_size") == "1GB"
    assert shard1.value("SHOW synchronous_standby_names") == 'ANY 1 ("pgdist_replica_replication_replica1")'
    assert replica.value("SHOW wal_level") == "replica"


def test_replication_user_admitted_from_subscribers_only(coordinator, shards, shard1, replica, pgvars, db):
    password = replica.vars["pgdist_replication_password"]
    # The replica reaches shard1, and every shard reaches the coordinator (reference tables).
    assert replica.connect_as(shard1, REPL_USER, password, db).rc == 0
    for shard in shards:
        assert shard.connect_as(coordinator, REPL_USER, password, db).rc == 0
    # The other shard is no subscriber of shard1: no pg_hba entry for it.
    other = [s for s in shards if s is not shard1][0]
    refused = other.connect_as(shard1, REPL_USER, password, db)
    assert refused.rc != 0 and "no pg_hba.conf entry" in refused.stderr
    rows = shard1.query("SELECT array_to_string(database, ','), address FROM pg_hba_file_rules "
                        f"WHERE '{REPL_USER}' = ANY (user_name)")
    assert rows == [[db, replica.address]]


def test_dml_reaches_the_replica(coordinator, shard1, replica, db):
    shard1.psql("TRUNCATE child1; INSERT INTO child1 SELECT g, 'c' || g, g FROM generate_series(1, 300) g", db)
    coordinator.psql("DELETE FROM orders; INSERT INTO orders SELECT g, 'fr', g FROM generate_series(1, 300) g", db)
    wait_same(shard1, replica, "child1", db)
    wait_same(shard1, replica, "orders_p0", db)
    shard1.psql("UPDATE child1 SET childname = 'u' WHERE id % 3 = 0; DELETE FROM child1 WHERE id % 5 = 0", db)
    coordinator.psql("UPDATE orders SET amount = 0 WHERE id % 2 = 0; DELETE FROM orders WHERE id < 30", db)
    assert wait_same(shard1, replica, "child1", db).startswith("240 ")
    wait_same(shard1, replica, "orders_p0", db)
    shard1.psql("TRUNCATE child1", db)
    assert wait_same(shard1, replica, "child1", db) == "0"


def test_replica_stopped_mid_stream_catches_up(shard1, replica, db):
    shard1.psql("INSERT INTO child1 SELECT g, 'before', g FROM generate_series(1, 500) g", db)
    wait_same(shard1, replica, "child1", db)
    pg_ctl(replica, "stop")
    try:
        shard1.psql(LOCAL + "INSERT INTO child1 SELECT g, 'down', g FROM generate_series(501, 2000) g;"
                    "UPDATE child1 SET childname = 'moved' WHERE id BETWEEN 400 AND 700;"
                    "DELETE FROM child1 WHERE id % 7 = 0", db)
    finally:
        pg_ctl(replica, "start")
    expected = checksum(shard1, "child1", db)
    assert expected.startswith(f"{2000 - 2000 // 7} ")
    assert wait_same(shard1, replica, "child1", db, timeout=120) == expected


def test_synchronous_commit_waits_for_the_stopped_replica(shard1, replica, db):
    pg_ctl(replica, "stop")
    try:
        waited = shard1.run(
            f"timeout 5 runuser -u postgres -- psql -XAtq -p {shard1.port} -d {db} "
            "-c \"INSERT INTO child1 VALUES (99999, 'sync', 99999)\"", check=False)
        assert waited.rc == 124, "the commit did not wait for the synchronous replica"
    finally:
        pg_ctl(replica, "start")
    # The row was committed locally when psql was killed while waiting; it reaches the replica once it is back.
    assert wait_for(lambda: replica.value("SELECT count(*) FROM child1 WHERE id = 99999", db) == "1", 120)
    shard1.psql("INSERT INTO child1 VALUES (99998, 'sync', 99998)", db)
    assert wait_for(lambda: replica.value("SELECT count(*) FROM child1 WHERE id = 99998", db) == "1", 30)


def test_reference_row_readable_on_every_shard(coordinator, shards, replica, db):
    coordinator.psql("INSERT INTO countries VALUES ('vn', 'Viet Nam') ON CONFLICT (code) DO UPDATE "
                     "SET name = excluded.name", db)
    for node in [*shards, replica]:
        assert wait_for(lambda: node.value("SELECT name FROM countries WHERE code = 'vn'", db) == "Viet Nam"), node
