"""Reconcile, never destroy: changes that would lose or hide rows are refused
(catalogs and rows unchanged), the same changes go through on empty tables,
new columns and unlisted partitions are handled without touching rows."""

import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptrefuse'
COLUMNS = [{'name': 'id', 'type': 'int', 'nullable': False}, {'name': 'city', 'type': 'text'},
           {'name': 'note', 'type': 'text'}]
PARTS = [{'name': 'r_paris', 'values': ['paris']},
         {'name': 'r_lagos', 'values': ['lagos'], 'server': 'pr_shard1'},
         {'name': 'r_empty', 'values': ['oslo']}]
TWIN = {'name': 'r_lagos', 'values': ['oslo', 'bergen']}


def table(login, columns=None, partitions=None, **extra):
    args = dict(login, db=DB, name='r', columns=columns or COLUMNS, partition_by={'method': 'list', 'key': 'city'},
                partitions=partitions or PARTS)
    args.update(extra)
    return args


def replace(parts, name, **change):
    return [dict(part, **change) if part['name'] == name else part for part in parts]


def snapshot(coordinator, shard1):
    return dict(
        partitions=coordinator.query("""
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), ft.ftserver, ft.ftoptions
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
             WHERE i.inhparent = 'r'::regclass ORDER BY 1""", dbname=DB),
        columns=coordinator.query("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                  "WHERE attrelid = 'r'::regclass AND attnum > 0 AND NOT attisdropped", dbname=DB),
        rows=coordinator.query("SELECT tableoid::regclass::text, * FROM r ORDER BY id", dbname=DB),
        shard=shard1.query("SELECT * FROM r_lagos ORDER BY id", dbname=DB))


@pytest.fixture(scope='module')
def built(coordinator, shard1, shard2):
    fdw_database(DB, coordinator, {'pr_shard1': shard1, 'pr_shard2': shard2})
    run = run_tasks([
        {'name': 'shard', 'pgdist.cluster.partitioned_table': table(
            shard1.login, partitions=[dict(PARTS[1], server=None)], side='shard')},
        # the table r_empty is re-pointed to below, with the bounds it is given then
        {'name': 'empty twin on shard2', 'pgdist.cluster.partitioned_table': table(
            shard2.login, partitions=[TWIN], side='shard')},
        {'name': 'coordinator', 'pgdist.cluster.partitioned_table': table(coordinator.login)}])
    assert run.ok, run.stdout
    coordinator.query("INSERT INTO r VALUES (1, 'paris', 'a'), (2, 'lagos', 'b')", dbname=DB)
    return coordinator, shard1, shard2


CASES = {
    # (new bounds that still hold every row go through: test_partitioned_table_bounds.py)
    'bounds of a partition with rows outside them': (
        dict(partitions=replace(PARTS, 'r_paris', values=['lyon'])),
        "partitions: r_paris: public.r_paris holds 1 row(s) outside its new bounds FOR VALUES IN ('lyon') (smallest "
        "key paris, largest key paris)"),
    'column type with rows': (dict(columns=[COLUMNS[0], COLUMNS[1], dict(COLUMNS[2], type='int')]),
                              'changing the type of column note from text to integer'),
    'removed column with rows': (dict(columns=COLUMNS[:2]), 'dropping column note'),
    're-pointed foreign partition with rows': (dict(partitions=replace(PARTS, 'r_lagos', server='pr_shard2')),
                                               're-pointing partition r_lagos from its foreign table on pr_shard1'),
    'local partition made foreign with rows': (dict(partitions=replace(PARTS, 'r_paris', server='pr_shard1')),
                                               'r_paris holds rows'),
    'unknown server': (dict(partitions=replace(PARTS, 'r_empty', server='nowhere')),
                       'r_empty: foreign server nowhere does not exist'),
    'overlapping lists': (dict(partitions=replace(PARTS, 'r_empty', values=['oslo', 'paris'])),
                          "value 'paris' is listed in both r_paris and r_empty"),
    'absent without drop_data': (dict(state='absent'), 'set drop_data: true'),
    'primary key with foreign partitions': (dict(primary_key=['id', 'city']), 'foreign partitions (r_lagos)'),
    'key type': (dict(columns=[COLUMNS[0], dict(COLUMNS[1], type='varchar'), COLUMNS[2]]),
                 'partitioned by city'),
}


def test_each_refusal_names_the_problem_and_changes_nothing(built):
    coordinator, shard1 = built[:2]
    before = snapshot(coordinator, shard1)
    names = sorted(CASES)
    run = run_tasks([{'name': name, 'ignore_errors': True,
                      'pgdist.cluster.partitioned_table': table(coordinator.login, **CASES[name][0])}
                     for name in names])
    results = run.results()
    assert len(results) == len(names)
    for name, result in zip(names, results):
        assert result.get('failed'), (name, result)
        assert CASES[name][1] in result['msg'], (name, result['msg'])
        assert result.get('queries') == [], name
    assert snapshot(coordinator, shard1) == before


def test_changes_on_empty_tables_new_columns_and_unlisted_partitions(built):
    coordinator, shard1, shard2 = built
    extra = COLUMNS + [{'name': 'added', 'type': 'numeric(8,2)', 'default': 1.5}]
    parts = replace(PARTS, 'r_empty', values=['oslo', 'bergen'], server='pr_shard2', remote_table='r_lagos')
    parts = [part for part in parts if part['name'] != 'r_paris']
    run = run_tasks([
        {'name': 'shard1 gets the column', 'pgdist.cluster.partitioned_table': table(
            shard1.login, columns=extra, partitions=[dict(PARTS[1], server=None)], side='shard')},
        {'name': 'shard2 gets the column', 'pgdist.cluster.partitioned_table': table(
            shard2.login, columns=extra, partitions=[TWIN], side='shard')},
        {'name': 'coordinator', 'pgdist.cluster.partitioned_table': table(coordinator.login, columns=extra,
                                                                          partitions=parts)},
        {'name': 'again', 'pgdist.cluster.partitioned_table': table(coordinator.login, columns=extra,
                                                                    partitions=parts)}], diff=True)
    assert run.ok, run.stdout
    shard_result, result, again = [run.results()[index] for index in (0, 2, 3)]
    assert shard_result['changed'] and result['changed'] and not again['changed']
    assert result['unlisted_partitions'] == ['public.r_paris'] == again['unlisted_partitions']
    assert result['partitions']['r_empty'] == {'bounds': "FOR VALUES IN ('oslo', 'bergen')", 'server': 'pr_shard2',
                                               'remote': 'public.r_lagos'}
    assert coordinator.query("SELECT id, added FROM r ORDER BY id", dbname=DB) == [(1, 1.5), (2, 1.5)]
    assert shard1.query("SELECT id, added FROM r_lagos", dbname=DB) == [(2, 1.5)]
    assert coordinator.scalar("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'r_empty'",
                              dbname=DB) == "FOR VALUES IN ('oslo', 'bergen')"
    # prune detaches the unlisted partition and keeps its rows; drop_data drops it
    run = run_tasks([{'name': 'prune', 'pgdist.cluster.partitioned_table': table(
        coordinator.login, columns=extra, partitions=parts, prune_partitions=True)}])
    assert run.ok, run.stdout
    assert coordinator.query("SELECT id FROM r_paris", dbname=DB) == [(1,)]
    assert coordinator.query("SELECT id FROM r ORDER BY id", dbname=DB) == [(2,)]
