"""Reference tables as plain tables: side: plain makes one table without bounds, and a copy left
by earlier runs (side: shard with one DEFAULT partition, which carried a CHECK (true)) converges
on a re-run, whichever way it is called: the stale constraint is dropped, rows kept, then nothing."""

import pytest

from support.ansible import run_tasks

DB = 'ptplain'
COLUMNS = [{'name': 'code', 'type': 'text'}, {'name': 'name', 'type': 'text'}]
# What earlier runs left on every copy of a reference table (the name the old code gave countries).
STALE = 'pgdist_bounds_efb32dae7778fa33'


def plain(cluster, name, **extra):
    args = dict(cluster.login, db=DB, name=name, side='plain', columns=COLUMNS, primary_key=['code'])
    args.update(extra)
    return {'name': 'plain %s' % name, 'pgdist.cluster.partitioned_table': args}


def as_the_roles_did(cluster, name):
    """The reference table spec of filter reference_table_spec: side: shard, list key, one DEFAULT partition."""
    return {'name': 'shard %s' % name, 'pgdist.cluster.partitioned_table': dict(
        cluster.login, db=DB, name=name, side='shard', columns=COLUMNS, primary_key=['code'],
        partition_by={'method': 'list', 'key': ['code']}, partitions=[{'name': name, 'default': True}])}


def constraints(cluster, table):
    # NOT NULL constraints are catalogued (contype 'n') from PostgreSQL 18 on; they are not what this test is about.
    return cluster.query("SELECT conname, contype FROM pg_constraint WHERE conrelid = %s::regclass "
                         "AND contype <> 'n' ORDER BY 1",
                         (table,), dbname=DB)


@pytest.fixture(scope='module')
def shard(shard1):
    shard1.query('DROP DATABASE IF EXISTS %s' % DB)
    shard1.query('CREATE DATABASE %s' % DB)
    for table in ('countries', 'currencies'):
        shard1.query("CREATE TABLE %s (code text PRIMARY KEY, name text, CONSTRAINT %s CHECK (true))" % (table, STALE),
                     dbname=DB)
        shard1.query("INSERT INTO %s VALUES ('vn', 'Viet Nam'), ('fr', 'France')" % table, dbname=DB)
    return shard1


def test_new_plain_table_has_no_bounds_check(shard):
    check = run_tasks([plain(shard, 'languages')], check=True)
    assert check.results()[0]['queries'] == [
        'CREATE TABLE "public"."languages" ("code" text NOT NULL, "name" text, PRIMARY KEY ("code"))']
    run = run_tasks([plain(shard, 'languages')] * 2, diff=True)
    first, second = run.results()
    assert first['changed'] and not second['changed'] and second['queries'] == []
    assert first['diff']['after']['columns']['code'] == {'type': 'text', 'nullable': False, 'default': None}
    assert constraints(shard, 'languages') == [('languages_pkey', 'p')]


@pytest.mark.parametrize('table, task', [('countries', plain), ('currencies', as_the_roles_did)])
def test_copies_left_by_earlier_runs_converge(shard, table, task):
    run = run_tasks([task(shard, table)] * 2)
    first, second = run.results()
    assert first['queries'] == ['ALTER TABLE "public"."%s" DROP CONSTRAINT "%s"' % (table, STALE)]
    assert not second['changed'] and second['queries'] == []
    assert constraints(shard, table) == [('%s_pkey' % table, 'p')]
    assert shard.query('SELECT code FROM %s ORDER BY 1' % table, dbname=DB) == [('fr',), ('vn',)]
    # and the other way of calling it sees nothing to do either
    other = plain if task is as_the_roles_did else as_the_roles_did
    assert not run_tasks([other(shard, table)]).results()[0]['changed']


def test_plain_refuses_partition_options_and_absent_needs_drop_data(shard):
    run = run_tasks([dict(plain(shard, 'countries', partition_by={'method': 'list', 'key': ['code']}),
                          ignore_errors=True),
                     dict(plain(shard, 'countries', state='absent'), ignore_errors=True)])
    bad, absent = run.results()
    assert bad['failed'] and bad['msg'].startswith('partition_by: side: plain manages one table without partitions')
    assert absent['failed'] and 'set drop_data: true' in absent['msg']
    assert shard.scalar('SELECT count(*) FROM countries', dbname=DB) == 2


def test_analyze_is_not_a_change(shard):
    run = run_tasks([plain(shard, 'countries', analyze=True)])
    result = run.results()[0]
    assert result['changed'] is False and result['queries'] == ['ANALYZE "public"."countries"']
    assert shard.scalar("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'countries'",
                        dbname=DB)
