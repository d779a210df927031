"""Restore points on every node at once (pgdist.create_restore_point) on real clusters."""

import time

import psycopg2
import pytest

from support.inthread import InThread
from support.pgdist_ext import FDW_PASSWORD, FDW_USER

POINT = "SELECT node, lsn::text, commits_paused_ms FROM pgdist.create_restore_point('ext-test')"


def wal_position(cluster):
    return cluster.scalar('SELECT pg_current_wal_lsn()::text')


def lsn_between(cluster, low, lsn, high):
    return cluster.scalar('SELECT %s::pg_lsn > %s::pg_lsn AND %s::pg_lsn <= %s::pg_lsn', (lsn, low, lsn, high))


@pytest.fixture()
def points(items):
    """The shards let the fdw user take restore points, as the backup role grants it (superusers only by default)."""
    for shard in items.shards:
        shard.query('GRANT EXECUTE ON FUNCTION pg_catalog.pg_create_restore_point(text) TO %s' % FDW_USER)
    yield items


@pytest.mark.contract
def test_a_restore_point_waits_for_no_decision_and_holds_commits_back_until_every_node_has_it(points):
    """A transaction that wrote on two shards before the point commits after it on both: its decision waits
    while the points are being written, here while shard 2's is held on its way."""
    items = points
    nodes = [items.coordinator] + items.shards
    before = [wal_position(node) for node in nodes]
    conn = items.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'after-point' WHERE id IN (1, 101)")
    hold = items.proxies[1].hold(b'pg_create_restore_point')
    point = InThread(lambda: items.coordinator.query(POINT))
    assert hold.reached.wait(10)
    committer = InThread(conn.commit)
    time.sleep(1)
    assert committer.is_alive(), 'the commit decided while a restore point was being taken'
    hold.release()
    point.join(10)
    committer.join(10)
    conn.close()
    assert point.error is None and committer.error is None, (point.error, committer.error)
    assert [row[0] for row in point.result] == ['coordinator', 's1', 's2', 's3']
    for node, low, (_name, lsn, _paused) in zip(nodes, before, point.result):
        assert lsn_between(node, low, lsn, wal_position(node)), (node.name, low, lsn)
    assert point.result[0][2] >= 1000
    assert items.shards[0].scalar('SELECT v FROM items_s1 WHERE id = 1') == 'after-point'
    assert items.shards[1].scalar('SELECT v FROM items_s2 WHERE id = 101') == 'after-point'


def test_a_restore_point_needs_every_node_and_a_superuser(points):
    items = points
    items.coordinator.query("CREATE ROLE point_taker LOGIN PASSWORD '%s'" % FDW_PASSWORD)
    try:
        conn = items.coordinator.connect(user='point_taker', password=FDW_PASSWORD)
        try:
            with pytest.raises(psycopg2.Error, match='permission denied|must be superuser'):
                with conn.cursor() as cursor:
                    cursor.execute(POINT)
        finally:
            conn.close()
    finally:
        items.coordinator.query('DROP ROLE point_taker')
    items.shards[2].stop('fast')
    with pytest.raises(psycopg2.Error, match='server "s3" cannot be reached') as refused:
        items.coordinator.query(POINT)
    assert 'every node at once' in refused.value.diag.message_detail
