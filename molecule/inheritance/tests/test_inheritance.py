"""inheritance: the English seed's booksample and lend, routed by INSERT triggers on the coordinator."""

from __future__ import annotations

import pytest

from conftest import by_address, foreign_placement, plan_text
import pgdist_checks

# listen_addresses, pg_hba and fdw connection checks shared by every scenario
globals().update(pgdist_checks.checks())

LOCATIONS = {"booksample_paris": "paris", "booksample_lagos": "lagos"}


@pytest.fixture(scope="module")
def loaded(coordinator, pgvars):
    """Seed-style inserts through the coordinator (rerunnable: emptied first)."""
    db = pgvars["database"]
    coordinator.psql(
        "BEGIN;"
        "DELETE FROM lend; DELETE FROM booksample;"
        # 1..12: paris when odd, lagos when even
        "INSERT INTO booksample (id, state, location, book_id) SELECT g, 'new',"
        "  CASE WHEN g % 2 = 1 THEN 'paris' ELSE 'lagos' END, 100 + g FROM generate_series(1, 12) g;"
        "INSERT INTO booksample VALUES (13, 'new', false, 'paris', 1);"
        # each sample lent twice; the lend goes where its sample is
        "INSERT INTO lend (student_id, booksample_id, at) SELECT s, b, date '2024-01-01' + s"
        "  FROM generate_series(1, 13) b, generate_series(1, 2) s;"
        "COMMIT;",
        db,
    )
    return db


def test_parents_are_plain_tables_with_foreign_children(coordinator, loaded):
    for parent in ("booksample", "lend"):
        assert coordinator.value(f"SELECT relkind FROM pg_class WHERE oid = '{parent}'::regclass", loaded) == "r"
        children = coordinator.query(
            "SELECT c.relname, c.relkind FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            f"WHERE i.inhparent = '{parent}'::regclass ORDER BY 1",
            loaded,
        )
        assert children == [[f"{parent}_lagos", "f"], [f"{parent}_paris", "f"]]
        triggers = coordinator.value(
            f"SELECT count(*) FROM pg_trigger WHERE tgrelid = '{parent}'::regclass AND NOT tgisinternal",
            loaded,
        )
        assert triggers == "1", f"{parent}: one routing trigger"


def test_nothing_stays_on_the_coordinator(coordinator, loaded):
    assert coordinator.value("SELECT count(*) FROM ONLY booksample", loaded) == "0"
    assert coordinator.value("SELECT count(*) FROM ONLY lend", loaded) == "0"
    assert coordinator.value("SELECT count(*) FROM booksample", loaded) == "13"
    assert coordinator.value("SELECT count(*) FROM lend", loaded) == "26"


def test_booksample_rows_on_their_shard(coordinator, shards, loaded):
    placement = foreign_placement(coordinator, loaded)
    counts = {"booksample_paris": 7, "booksample_lagos": 6}
    for table, location in LOCATIONS.items():
        shard = by_address(shards, placement[table])
        assert shard.name.endswith(location), f"{table} placed on {shard.name}"
        assert shard.value(f"SELECT count(*) FROM {table}", loaded) == str(counts[table])
        assert shard.value(f"SELECT string_agg(DISTINCT location, ',') FROM {table}", loaded) == location


def test_lend_rows_follow_their_booksample(coordinator, shards, loaded):
    placement = foreign_placement(coordinator, loaded)
    for table, location in LOCATIONS.items():
        lend = table.replace("booksample", "lend")
        shard = by_address(shards, placement[lend])
        assert placement[lend] == placement[table], f"{lend} and {table} on the same shard"
        assert shard.value(f"SELECT count(*) FROM {lend}", loaded) == str(2 * (7 if location == "paris" else 6))
        # every lend on this shard references a booksample stored on this same shard
        orphans = shard.value(
            f"SELECT count(*) FROM {lend} l WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} b WHERE b.id = l.booksample_id)",
            loaded,
        )
        assert orphans == "0"


def test_location_lookup_scans_one_shard(coordinator, loaded):
    plan = plan_text(coordinator, "SELECT * FROM booksample WHERE location = 'lagos'", loaded)
    assert plan.count("Foreign Scan") == 1, plan
    assert "booksample_lagos" in plan and "booksample_paris" not in plan, plan
