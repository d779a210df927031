"""default: coordinator + 2 shards; list (booksample), hash (events), range (parent) tables."""

from __future__ import annotations

import os
import re

import pytest

from conftest import by_address, foreign_placement, plan_text
import pgdist_checks

# listen_addresses, pg_hba and fdw connection checks shared by every scenario
globals().update(pgdist_checks.checks())


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


# -- the release's own PostgreSQL (scripts/molecule.sh default@bullseye, default@trixie) ----------------

def test_every_host_runs_the_major_its_debian_release_ships(coordinator, shards):
    """pgdist_postgresql_version is the major of the release's `postgresql` package, from its own archive."""
    major = str(coordinator.vars["pgdist_postgresql_version"])
    for node in [coordinator, *shards]:
        assert node.value("SELECT current_setting('server_version_num')::int / 10000") == major, node
        depends = node.run("apt-cache depends postgresql").stdout
        assert re.search(rf"^\s*Depends: postgresql-{major}$", depends, re.M), (node, depends)
        assert "pgdg" not in node.run("apt-cache policy").stdout, node


def test_extension_is_built_from_the_release_s_headers(coordinator):
    """The server role built pgdist.so with PGXS against postgresql-server-dev-<major> of the same minor."""
    major = coordinator.vars["pgdist_postgresql_version"]
    versions = coordinator.run(
        f"dpkg-query --show --showformat='${{Version}} ' postgresql-{major} postgresql-server-dev-{major}"
    ).stdout.split()
    assert len(versions) == 2 and versions[0] == versions[1], versions
    assert coordinator.host.file(f"/usr/lib/postgresql/{major}/lib/pgdist.so").exists
    pg_config = f"/usr/lib/postgresql/{major}/bin/pg_config"
    assert coordinator.run(f"{pg_config} --version").stdout.split()[1] == coordinator.value("SHOW server_version").split()[0]


# -- distributed transactions (the coordinator extension the roles built and preloaded) ----------------

CONTROL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "extension", "pgdist",
                       "pgdist.control")


def extension_default_version():
    with open(CONTROL) as control:
        return re.search(r"^default_version = '([^']+)'", control.read(), re.M).group(1)


def test_coordinator_extension_is_built_preloaded_and_created(coordinator, shards, pgvars):
    db = pgvars["database"]
    assert coordinator.value("SHOW shared_preload_libraries").split(",")[0] == "pgdist"
    assert coordinator.value("SELECT extversion FROM pg_extension WHERE extname = 'pgdist'", db) == extension_default_version()
    assert coordinator.value("SHOW pgdist.database") == db
    for shard in shards:
        assert shard.value("SHOW max_prepared_transactions") == "100"
        # SHOW gives 0 on the unix socket; the configuration entry is what TCP sessions get.
        assert shard.value(
            "SELECT setting FROM pg_file_settings WHERE name = 'tcp_keepalives_idle' AND applied"
        ) == "10"


def test_a_commit_that_fails_on_one_shard_leaves_nothing_on_the_other(coordinator, shards, loaded):
    """Issue 13's case: a deferred constraint on shard lagos refuses at commit; paris must not keep its part."""
    placement = foreign_placement(coordinator, loaded)
    lagos = by_address(shards, placement["booksample_lagos"])
    lagos.psql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN IF NEW.state = 'boom' THEN RAISE EXCEPTION 'boom at commit'; END IF; RETURN NEW; END$$;"
        "CREATE CONSTRAINT TRIGGER boom AFTER UPDATE ON booksample_lagos DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION boom()",
        loaded,
    )
    try:
        failed = coordinator.psql(
            "BEGIN; UPDATE booksample SET state = 'atomic' WHERE id = 1;"  # paris
            "UPDATE booksample SET state = 'boom' WHERE id = 3; COMMIT;",  # lagos
            loaded,
            check=False,
        )
        assert failed.rc != 0 and "boom at commit" in failed.stderr, failed.stderr
        assert coordinator.value("SELECT state FROM booksample WHERE id = 1", loaded) == "ok"
        for shard in shards:
            assert shard.value("SELECT count(*) FROM pg_prepared_xacts") == "0"
        # The same two shards without the failure commit in two phases.
        before = int(coordinator.value("SELECT two_phase_commits FROM pgdist.stats()", loaded))
        coordinator.psql(
            "BEGIN; UPDATE booksample SET state = 'both' WHERE id IN (1, 3); COMMIT;", loaded
        )
        assert coordinator.value("SELECT string_agg(state, ',') FROM booksample WHERE id IN (1, 3)", loaded) == "both,both"
        assert int(coordinator.value("SELECT two_phase_commits FROM pgdist.stats()", loaded)) == before + 1
    finally:
        lagos.psql("DROP TRIGGER boom ON booksample_lagos; DROP FUNCTION boom()", loaded)
        coordinator.psql("UPDATE booksample SET state = 'ok' WHERE id IN (1, 3)", loaded)


def test_a_shard_that_cannot_prepare_fails_the_commit_with_nothing_committed(coordinator, shards, loaded):
    """Every prepared-transaction slot of lagos is taken: its PREPARE fails, and neither shard keeps a row."""
    placement = foreign_placement(coordinator, loaded)
    paris = by_address(shards, placement["booksample_paris"])
    lagos = by_address(shards, placement["booksample_lagos"])
    slots = int(lagos.value("SHOW max_prepared_transactions"))
    holds = [f"pgdist_molecule_hold_{n}" for n in range(slots)]
    lagos.psql_each([f"BEGIN; PREPARE TRANSACTION '{gid}'" for gid in holds], loaded)
    try:
        failed = coordinator.psql(
            "BEGIN; INSERT INTO booksample VALUES (1001, 'new', 'paris'), (1002, 'new', 'lagos'); COMMIT;",
            loaded,
            check=False,
        )
        assert failed.rc != 0 and "maximum number of prepared transactions reached" in failed.stderr, failed.stderr
        assert coordinator.value("SELECT count(*) FROM booksample WHERE id > 1000", loaded) == "0"
        assert paris.value("SELECT count(*) FROM booksample_paris WHERE id > 1000", loaded) == "0"
        assert lagos.value("SELECT count(*) FROM booksample_lagos WHERE id > 1000", loaded) == "0"
        assert paris.value("SELECT count(*) FROM pg_prepared_xacts") == "0"
        assert lagos.value(
            "SELECT count(*) FROM pg_prepared_xacts WHERE gid NOT LIKE 'pgdist_molecule_hold_%'"
        ) == "0"
    finally:
        lagos.psql_each([f"ROLLBACK PREPARED '{gid}'" for gid in holds], loaded)
    # With its slots free again the same transaction commits on both shards, in two phases.
    coordinator.psql(
        "BEGIN; INSERT INTO booksample VALUES (1001, 'new', 'paris'), (1002, 'new', 'lagos'); COMMIT;", loaded
    )
    assert paris.value("SELECT count(*) FROM booksample_paris WHERE id > 1000", loaded) == "1"
    assert lagos.value("SELECT count(*) FROM booksample_lagos WHERE id > 1000", loaded) == "1"
    coordinator.psql("DELETE FROM booksample WHERE id > 1000", loaded)
