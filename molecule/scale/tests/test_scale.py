"""scale: coordinator + 4 shards, the fourth added to a running deployment (side_effect.yml: previewed with
--check first, which changed nothing); a hash table with 32 partitions made after it joined spreads over
every shard, the first table keeps its partitions where they were."""

from __future__ import annotations

import pytest

from conftest import by_address, foreign_placement, plan_text
import pgdist_checks

# listen_addresses, pg_hba and fdw connection checks shared by every scenario
globals().update(pgdist_checks.checks())

ROWS = 6400
PARTITIONS = 32


@pytest.fixture(scope="module")
def loaded(coordinator, pgvars):
    db = pgvars["database"]
    coordinator.psql(
        "BEGIN; DELETE FROM measurements;"
        f"INSERT INTO measurements SELECT g, g % 17, g * 0.5 FROM generate_series(1, {ROWS}) g;"
        "COMMIT;",
        db,
    )
    return db


@pytest.fixture(scope="module")
def partitions(coordinator, loaded):
    rows = coordinator.query(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'measurements'::regclass ORDER BY 1",
        loaded,
    )
    return dict(rows)


def test_32_hash_partitions_cover_every_remainder(partitions):
    assert len(partitions) == PARTITIONS
    bounds = sorted(partitions.values())
    expected = sorted(f"FOR VALUES WITH (modulus {PARTITIONS}, remainder {r})" for r in range(PARTITIONS))
    assert bounds == expected


def test_every_shard_holds_an_even_share_of_partitions(coordinator, shards, partitions, loaded):
    placement = foreign_placement(coordinator, loaded)
    assert set(partitions) <= set(placement), "every partition is a foreign table"
    per_shard = {s.address: 0 for s in shards}
    for name in partitions:
        per_shard[placement[name]] += 1
    assert sorted(per_shard.values()) == [PARTITIONS // len(shards)] * len(shards), per_shard


def test_rows_spread_over_every_shard(coordinator, shards, partitions, loaded):
    placement = foreign_placement(coordinator, loaded)
    rows_per_shard = {s.name: 0 for s in shards}
    for name in partitions:
        shard = by_address(shards, placement[name])
        local = int(shard.value(f"SELECT count(*) FROM {name}", loaded))
        assert local > 0, f"{name} on {shard.name} is empty"
        rows_per_shard[shard.name] += local
    assert sum(rows_per_shard.values()) == ROWS
    share = ROWS / len(shards)
    for name, count in rows_per_shard.items():
        assert 0.75 * share < count < 1.25 * share, f"uneven spread: {rows_per_shard}"
    # nothing lands on the coordinator
    assert coordinator.value("SELECT count(*) FROM ONLY measurements", loaded) == "0"


def test_shard_partitions_hold_only_their_remainder(coordinator, shards, partitions, loaded):
    """Each partition's rows, read through the coordinator, are the rows hash routing sends there."""
    wrong = coordinator.value(
        "SELECT count(*) FROM measurements m JOIN pg_class c ON c.oid = m.tableoid "
        f"WHERE NOT satisfies_hash_partition('measurements'::regclass, {PARTITIONS}, "
        "substring(pg_get_expr(c.relpartbound, c.oid) from 'remainder (\\d+)')::int, m.id)",
        loaded,
    )
    assert wrong == "0"


def test_key_lookup_plans_one_foreign_scan(coordinator, loaded):
    plan = plan_text(coordinator, "SELECT * FROM measurements WHERE id = 4242", loaded)
    assert plan.count("Foreign Scan") == 1 and "Append" not in plan, plan


def test_the_first_table_kept_its_partitions_on_the_first_three_shards(coordinator, shards, pgvars):
    placement = foreign_placement(coordinator, pgvars["database"])
    readings = sorted(address for name, address in placement.items() if name.startswith("readings_p"))
    assert readings == sorted(s.address for s in shards[:3]), placement
