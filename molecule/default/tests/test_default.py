"""default: coordinator + 2 shards; list (booksample), hash (events), range (parent) tables."""

from __future__ import annotations

import re

import pytest

from conftest import foreign_placement, plan_text

DB = "library"


@pytest.fixture(scope="module")
def loaded(coordinator, pgvars):
    """Rows inserted through the coordinator only (rerunnable: the tables are emptied first)."""
    db = pgvars["database"]
    coordinator.psql(
        "BEGIN;"
        "DELETE FROM booksample; DELETE FROM events; DELETE FROM parent;"
        "INSERT INTO booksample SELECT g, 'ok', CASE WHEN g % 3 = 0 THEN 'lagos' ELSE 'paris' END"
        "  FROM generate_series(1, 30) g;"
        "INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 400) g;"
        "INSERT INTO parent SELECT g, 'c' || g, g * 5000 FROM generate_series(1, 60) g;"
        "COMMIT;",
        db,
    )
    return db


def by_address(shards, address):
    (node,) = [s for s in shards if s.address == address]
    return node


# -- configuration the roles promise ---------------------------------------------------------


def test_listen_addresses(coordinator, shards):
    for node in [coordinator, *shards]:
        assert node.value("SHOW listen_addresses") == f"localhost,{node.address}"
        assert node.host.socket(f"tcp://{node.address}:{node.port}").is_listening
        assert node.host.socket(f"tcp://127.0.0.1:{node.port}").is_listening
        assert not node.host.socket(f"tcp://0.0.0.0:{node.port}").is_listening


def test_no_trust_over_tcp_and_hba_parses(coordinator, shards):
    for node in [coordinator, *shards]:
        rows = node.query("SELECT type, auth_method, coalesce(error, '') FROM pg_hba_file_rules")
        assert rows, f"{node.name}: empty pg_hba"
        assert all(err == "" for _, _, err in rows), f"{node.name}: pg_hba errors {rows}"
        assert not [r for r in rows if r[0].startswith("host") and r[1] == "trust"], node.name


def test_shard_hba_admits_fdw_user_from_coordinator_only(coordinator, shards, pgvars):
    for shard in shards:
        rows = shard.query(
            "SELECT array_to_string(database, ','), array_to_string(user_name, ','), address, "
            "netmask, auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'"
        )
        fdw_rules = [r for r in rows if pgvars["fdw_user"] in r[1].split(",") or r[1] == "all"]
        assert fdw_rules == [
            [pgvars["database"], pgvars["fdw_user"], coordinator.address, "255.255.255.255", "scram-sha-256"]
        ], f"{shard.name}: {rows}"


def test_coordinator_hba_has_no_fdw_rule(coordinator, pgvars):
    users = coordinator.value(
        "SELECT string_agg(array_to_string(user_name, ','), ';') FROM pg_hba_file_rules "
        "WHERE type LIKE 'host%'"
    )
    assert pgvars["fdw_user"] not in users


def test_fdw_user_connects_from_coordinator(coordinator, shards, pgvars):
    for shard in shards:
        r = coordinator.connect_as(shard, pgvars["fdw_user"], pgvars["fdw_password"], pgvars["database"])
        assert r.rc == 0, f"coordinator -> {shard.name}: {r.stderr}"
        assert r.stdout.strip() == f"{shard.address}|{coordinator.address}"


def test_fdw_user_rejected_from_other_shard(shards, pgvars):
    for source in shards:
        for target in shards:
            if source is target:
                continue
            r = source.connect_as(target, pgvars["fdw_user"], pgvars["fdw_password"], pgvars["database"])
            assert r.rc != 0, f"{source.name} -> {target.name} must be rejected"
            assert "no pg_hba.conf entry" in r.stderr and source.address in r.stderr, r.stderr


def test_wrong_password_rejected_from_coordinator(coordinator, shards, pgvars):
    r = coordinator.connect_as(shards[0], pgvars["fdw_user"], "not-the-password", pgvars["database"])
    assert r.rc != 0 and "password authentication failed" in r.stderr, r.stderr


# -- data placement ----------------------------------------------------------------------------


def test_list_rows_on_their_shard(coordinator, shards, loaded):
    placement = foreign_placement(coordinator, loaded)
    expected = {"booksample_paris": ("paris", 20), "booksample_lagos": ("lagos", 10)}
    for table, (location, count) in expected.items():
        shard = by_address(shards, placement[table])
        assert shard.value(f"SELECT count(*) FROM {table}", loaded) == str(count)
        assert shard.value(f"SELECT string_agg(DISTINCT location, ',') FROM {table}", loaded) == location
        for other in shards:
            if other is not shard:
                assert other.value(f"SELECT to_regclass('{table}') IS NULL", loaded) == "t"
    assert placement["booksample_paris"] != placement["booksample_lagos"]


def test_range_rows_on_their_shard_and_local(coordinator, shards, loaded):
    placement = foreign_placement(coordinator, loaded)
    assert "child3" not in placement, "child3 has no shard: it must stay a local partition"
    # range = g * 5000 for g in 1..60: child1 < 100000 (g 1..19), child2 < 200000 (g 20..39)
    assert by_address(shards, placement["child1"]).value("SELECT count(*) FROM child1", loaded) == "19"
    assert by_address(shards, placement["child2"]).value("SELECT count(*) FROM child2", loaded) == "20"
    assert coordinator.value("SELECT count(*) FROM ONLY child3", loaded) == "21"


def test_hash_rows_spread_over_both_shards(coordinator, shards, loaded):
    placement = foreign_placement(coordinator, loaded)
    parts = coordinator.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass ORDER BY 1",
        loaded,
    )
    names = [p[0] for p in parts]
    assert len(names) == 4
    assert {placement[n] for n in names} == {s.address for s in shards}, "every shard holds events"
    total = 0
    for name in names:
        shard = by_address(shards, placement[name])
        on_shard = int(shard.value(f"SELECT count(*) FROM {name}", loaded))
        via_coordinator = int(coordinator.value(f"SELECT count(*) FROM {name}", loaded))
        assert on_shard == via_coordinator > 0
        total += on_shard
    assert total == 400


@pytest.mark.parametrize(
    "where",
    ["booksample WHERE location = 'paris'", "events WHERE id = 42", "parent WHERE range = 150000"],
)
def test_key_lookup_plans_one_foreign_scan(coordinator, loaded, where):
    plan = plan_text(coordinator, f"SELECT * FROM {where}", loaded)
    assert len(re.findall(r"Foreign Scan", plan)) == 1, plan
    assert "Append" not in plan, plan
