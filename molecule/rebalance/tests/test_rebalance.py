"""rebalance: a hash table of 8 partitions on 2 shards, 2 shards added and rebalanced (2 per shard, checked in
side_effect.yml), then rebalance-shard4 drained and left out of the shards group. Here: no partition points at
it, the other three hold 3/3/2, and every row loaded before the moves is there once, unchanged."""

from __future__ import annotations

import hashlib

from conftest import foreign_placement
import pgdist_checks

# listen_addresses, pg_hba and fdw connection checks shared by every scenario
globals().update(pgdist_checks.checks())

ROWS = 8000


def test_no_partition_points_at_the_drained_shard(coordinator, nodes, shards, pgvars):
    placement = foreign_placement(coordinator, pgvars["database"])
    assert len(placement) == 8
    assert nodes["rebalance-shard4"].address not in placement.values()
    per_shard = sorted(list(placement.values()).count(s.address) for s in shards)
    assert per_shard == [2, 3, 3], placement


def test_every_row_is_there_once_and_unchanged(coordinator, pgvars):
    expected = hashlib.md5(",".join(f"{g}:row {g}" for g in range(1, ROWS + 1)).encode()).hexdigest()
    got = coordinator.value(
        "SELECT count(*) || ' ' || md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM items",
        pgvars["database"],
    )
    assert got == f"{ROWS} {expected}"


def test_no_move_left_behind_on_the_shards(shards, pgvars):
    for shard in shards:
        left = shard.value(
            "SELECT count(*) FROM (SELECT pubname::text AS n FROM pg_publication UNION ALL "
            "SELECT subname::text FROM pg_subscription UNION ALL SELECT slot_name::text FROM pg_replication_slots) x "
            "WHERE n LIKE 'pgdist\\_move\\_%'",
            pgvars["database"],
        )
        assert left == "0", shard.name
