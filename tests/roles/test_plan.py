"""Issue 21 on real clusters: one plan per run. A private copy of inventories/local (clusters pgdist_plan_*,
ports 55492-55496): check mode previews a new shard, table, partition and replica without changing anything;
placement is keyed by schema-qualified names (a table of the same name in another schema gets its own); the
current placement is read once per run, through cluster_info, never with psql."""

import copy
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.variant import Variant  # noqa: E402

NEW_TABLE = dict(name='clicks', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
                 partition_count=3)
ANALYTICS = dict(name='analytics.events', columns=[dict(name='id', type='bigint', nullable=False)],
                 partition_by=dict(method='hash', key='id'), partition_count=3)
PLACEMENT = """SELECT string_agg(c.relname || '=' || s.srvname, ',' ORDER BY c.relname) FROM pg_foreign_table f
                 JOIN pg_class c ON c.oid = f.ftrelid JOIN pg_foreign_server s ON s.oid = f.ftserver
                WHERE c.relnamespace = '%s'::regnamespace AND c.relname LIKE '%s\\_p%%'"""


@pytest.fixture(scope='module')
def variant():
    variant = Variant('plan', 55492)
    try:
        variant.deploy()
        yield variant
    finally:
        variant.drop()


def clusters():
    return subprocess.run(['pg_lsclusters', '-h'], check=True, stdout=subprocess.PIPE, text=True).stdout


def results(run, host, task):
    return [result for result in run.results(host) if result['_task'].endswith(task)]


def test_check_mode_previews_a_new_shard_table_partition_and_replica(variant):
    """Issue 21, case 1: the check run exits 0, says what would change, and changes nothing."""
    before = variant.state()
    saved = copy.deepcopy(variant.group_vars)
    variant.add_host('shard3', 'shards', 55495, '127.0.0.4')
    variant.add_host('replica1', 'replicas', 55496, '127.0.0.5', pgdist_replica_of='shard1')
    tables = copy.deepcopy(variant.group_vars['pgdist_tables'])
    books = [table for table in tables if table['name'] == 'booksample'][0]
    books['partitions'].append(dict(name='booksample_hanoi', values=['hanoi'], shard='shard3'))
    variant.group_vars.update(pgdist_tables=tables + [NEW_TABLE], pgdist_replication_password='Repl-plan-only',
                              pgdist_replication_source_address='127.0.0.1')
    variant.write_group_vars()
    try:
        run = variant.run(check=True, diff=True)
        assert run.ok, run.stdout[-5000:]
        changed = variant.changed(run)
        assert all(changed[host] > 0 for host in ('coordinator1', 'shard1', 'shard2', 'shard3', 'replica1')), changed
        # The new clusters would be created; nothing inside them can be planned, and the plan says so.
        assert results(run, 'shard3', 'Create the cluster with pg_createcluster')[0]['changed']
        skipped = results(run, 'coordinator1', 'Say which hosts check mode cannot plan (their cluster does not run yet)')
        assert 'check mode: no cluster runs on replica1, shard3 yet' in skipped[0]['msg']
        # The coordinator plans the foreign server, its user mapping and the foreign partitions on shard3.
        servers = results(run, 'coordinator1', 'One foreign server per shard')[0]['results']
        assert [item['queries'][0].split(' OPTIONS')[0] for item in servers if item['changed']] == [
            'CREATE SERVER "shard3" FOREIGN DATA WRAPPER "postgres_fdw"']
        # The mapping task is no_log (it carries the password): only which item would change shows.
        mappings = results(run, 'coordinator1', "User mappings to the shards' fdw user")[0]['results']
        # One per shard and mapped user (the fdw user's and each application user's), shard by shard: those
        # of shard3, the last, would be created.
        per_shard = len(mappings) // 3
        assert per_shard >= 1 and [item['changed'] for item in mappings] == [False] * 2 * per_shard + [True] * per_shard
        coordinator_tables = dict((item['item']['name'], item) for item in
                                  results(run, 'coordinator1', 'Tables of this host')[0]['results'])
        assert coordinator_tables['clicks']['missing_parents'] == ['foreign server shard3']
        assert any('CREATE FOREIGN TABLE "public"."clicks_p2" PARTITION OF "public"."clicks"' in query
                   and 'SERVER "shard3"' in query for query in coordinator_tables['clicks']['queries'])
        assert any('"public"."booksample_hanoi"' in query and 'SERVER "shard3"' in query
                   for query in coordinator_tables['booksample']['queries'])
        # shard1 would publish its tables to the replica: publication, replication user, settings and a pg_hba rule.
        publication = results(run, 'shard1', 'Publications')[0]['results'][0]
        assert publication['queries'][-1].startswith('CREATE PUBLICATION "pgdist_shard_shard1" FOR TABLE')
        assert 'wal_level' in ''.join(str(result.get('diff')) for result in run.results('shard1'))
        assert variant.state(['coordinator1', 'shard1', 'shard2']) == before
        assert 'pgdist_plan_shard3' not in clusters() and 'pgdist_plan_replica1' not in clusters()
    finally:
        variant.remove_host('shard3')
        variant.remove_host('replica1')
        variant.group_vars = saved
        variant.write_group_vars()
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)


def test_same_named_tables_in_two_schemas_keep_their_own_placement(variant):
    """Issue 21, case 2: analytics.events beside public.events, right after a third shard joined."""
    events = variant.psql('coordinator1', PLACEMENT % ('public', 'events'))
    assert events == 'events_p0=shard1,events_p1=shard2,events_p2=shard1,events_p3=shard2'
    variant.add_host('shard3', 'shards', 55495, '127.0.0.4')
    variant.group_vars['pgdist_tables'] = variant.group_vars['pgdist_tables'] + [ANALYTICS]
    variant.write_group_vars()
    run = variant.deploy()
    assert variant.psql('coordinator1', PLACEMENT % ('public', 'events')) == events
    assert variant.psql('coordinator1', PLACEMENT % ('analytics', 'events')) == \
        'events_p0=shard1,events_p1=shard2,events_p2=shard3'
    variant.psql('coordinator1', 'INSERT INTO analytics.events SELECT generate_series(1, 60)')
    assert int(variant.psql('shard3', 'SELECT count(*) FROM analytics.events_p2')) > 0
    assert variant.psql('shard3', "SELECT count(*) FROM pg_class WHERE relname LIKE 'events\\_p%' AND "
                                  "relnamespace = 'public'::regnamespace") == '0'
    # The placement was read once in that run, by cluster_info on the coordinator, and never with psql.
    assert variant.placement_reads(run) == [('coordinator1', 'library')]
    assert variant.psql_tasks(run) == []
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)
