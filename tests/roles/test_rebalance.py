"""Issue 14 on real clusters: playbooks/rebalance.yml on a private copy of inventories/local (clusters
pgdist_rebal_*, ports 55512-55516) whose only table is a hash table of 8 partitions with rows, on 2 shards.
A third shard joins with a replica (site.yml moves nothing), check mode prints the plan only, rebalance.yml
spreads the partitions 3/3/2 with the rows intact (count and checksum), the replica copying the partitions its
shard received, nothing of the moves left behind; a second rebalance and a site.yml run change nothing. Then
the third shard is drained (its replica stops following the partitions that left), removed from the inventory
with its replica, and no partition points at it."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO, run_playbook  # noqa: E402
from support.pgcluster import wait_for  # noqa: E402
from support.variant import Variant  # noqa: E402

REBALANCE = os.path.join(REPO, 'playbooks', 'rebalance.yml')
ITEMS = dict(name='items', columns=[dict(name='id', type='bigint', nullable=False), dict(name='payload', type='text')],
             primary_key=['id'], partition_by=dict(method='hash', key='id'), partition_count=8)
# The moves copy by logical replication: wal_level logical on the shards, the replication user's password, and
# on one machine every subscription connects from 127.0.0.1.
# The demo's application users are granted the demo's tables by name: none here.
GROUP_VARS = dict(pgdist_tables=[ITEMS], pgdist_app_users=[], pgdist_replication_enabled=True,
                  pgdist_replication_password='Repl-rebalance-only', pgdist_replication_source_address='127.0.0.1')
CHECKSUM = "SELECT count(*) || ' ' || md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM items"
SPREAD = """SELECT string_agg(srvname || '=' || n, ',' ORDER BY srvname) FROM (
              SELECT s.srvname, count(*) AS n FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid
                JOIN pg_foreign_server s ON s.oid = f.ftserver WHERE c.relname LIKE 'items\\_p%' GROUP BY 1) AS x"""
LEFT = """SELECT string_agg(kind || ' ' || name, ', ') FROM (
            SELECT 'publication' AS kind, pubname::text AS name FROM pg_publication UNION ALL
            SELECT 'subscription', subname::text FROM pg_subscription UNION ALL
            SELECT 'slot', slot_name::text FROM pg_replication_slots) AS x WHERE name LIKE 'pgdist\\_move\\_%'"""
SUBSCRIBED = "SELECT count(*) FROM pg_subscription_rel r JOIN pg_class c ON c.oid = r.srrelid WHERE c.relname LIKE 'items%'"
KEPT = "SELECT count(*) FROM pg_class WHERE relname LIKE 'items\\_p%\\_moved\\_%' AND relkind = 'r'"


@pytest.fixture(scope='module')
def variant():
    variant = Variant('rebal', 55512, group_vars=GROUP_VARS)
    try:
        variant.deploy()
        variant.psql('coordinator1', "INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 4000) g")
        yield variant
    finally:
        variant.drop()


def rebalance(variant, **kwargs):
    run = run_playbook(REBALANCE, inventory=variant.inventory, **kwargs)
    assert run.ok, run.report('rebalance.yml')
    return run


def printed_plan(run):
    return [result['msg'] for result in run.results('coordinator1') if result['_task'] == 'The rebalance plan'][0]


def nothing_left(variant):
    """No publication, subscription or slot of a move on any shard, no pg_hba rule of a move."""
    for host in variant.hosts:
        assert variant.psql(host, LEFT) == '', host
        with open(os.path.join(variant.config_dir(host), 'pg_hba.conf')) as handle:
            assert 'rebalance:' not in handle.read(), host


def test_a_third_shard_gets_its_share_and_the_rows_stay(variant):
    rows = variant.psql('coordinator1', CHECKSUM)
    assert rows.startswith('4000 ')
    variant.add_host('shard3', 'shards', 55515, '127.0.0.4')
    variant.add_host('replica3', 'replicas', 55516, '127.0.0.5', pgdist_replica_of='shard3')
    variant.deploy()
    assert variant.psql('coordinator1', SPREAD) == 'shard1=4,shard2=4'  # site.yml never moves data

    check = rebalance(variant, check=True)
    assert printed_plan(check) == ['move public.items_p6 from shard1 to shard3',
                                   'move public.items_p7 from shard2 to shard3']
    assert variant.changed(check) == dict.fromkeys(variant.hosts, 0)
    assert variant.psql('coordinator1', SPREAD) == 'shard1=4,shard2=4'

    run = rebalance(variant)
    assert printed_plan(run) == printed_plan(check)
    assert variant.psql('coordinator1', SPREAD) == 'shard1=3,shard2=3,shard3=2'
    assert variant.psql('coordinator1', CHECKSUM) == rows
    assert int(variant.psql('shard3', 'SELECT count(*) FROM items_p6')) > 0
    # The source tables stay on their shard under a clear name until dropped by name.
    assert [variant.psql(host, KEPT) for host in ('shard1', 'shard2', 'shard3')] == ['1', '1', '0']
    nothing_left(variant)
    # shard3 publishes the partitions it received; its replica holds and copies them.
    for table in ('items_p6', 'items_p7'):
        query = "SELECT count(*) || md5(string_agg(id || payload, ',' ORDER BY id)) FROM %s" % table
        assert wait_for(lambda: variant.psql('replica3', query) == variant.psql('shard3', query), 60), table
    assert variant.psql('replica3', SUBSCRIBED) == '2'

    again = rebalance(variant)
    assert printed_plan(again) == ['no partition moves: every table is spread evenly']
    assert variant.changed(again) == dict.fromkeys(variant.hosts, 0)
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)


def test_a_drained_shard_is_removed_with_no_partition_pointing_at_it(variant):
    rows = variant.psql('coordinator1', CHECKSUM)
    run = rebalance(variant, extra_vars=dict(pgdist_drain=['shard3']))
    assert printed_plan(run) == ['move public.items_p6 from shard3 to shard1',
                                 'move public.items_p7 from shard3 to shard2']
    assert variant.psql('coordinator1', SPREAD) == 'shard1=4,shard2=4'
    assert variant.psql('coordinator1', CHECKSUM) == rows
    nothing_left(variant)
    # The replica follows what shard3 publishes, now nothing of items; its copies stay until dropped.
    assert variant.psql('replica3', SUBSCRIBED) == '0'
    variant.remove_host('replica3')
    variant.remove_host('shard3')
    variant.deploy()
    assert variant.psql('coordinator1', SPREAD) == 'shard1=4,shard2=4'
    assert variant.psql('coordinator1', CHECKSUM) == rows
