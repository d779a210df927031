"""New bounds on partitions that hold rows, on real shards: accepted when every row still fits
(widened child2, narrowed child1 with its row inside), refused naming how many rows fall outside
and their smallest and largest key (child2 narrowed below its rows), on the shard and on the
coordinator alike, nothing changed; a foreign default partition's rows are checked the same way
when a new partition would take them."""

import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptbounds'
SERVERS = {'pb_shard1': 'shard1', 'pb_shard2': 'shard2'}
COLUMNS = [{'name': 'id', 'type': 'integer'}, {'name': 'childname', 'type': 'text'},
           {'name': 'range', 'type': 'bigint'}]


def partitions(child1_to=100000, child2_from=100000, child2_to=200000):
    return [{'name': 'child1', 'from': 'MINVALUE', 'to': child1_to, 'server': 'pb_shard1'},
            {'name': 'child2', 'from': child2_from, 'to': child2_to, 'server': 'pb_shard2'},
            {'name': 'child3', 'from': 200000, 'to': 'MAXVALUE'}]


def tasks(clusters, parts):
    """The role's order: each shard's tables, then the coordinator."""
    out = []
    for server, shard in sorted(SERVERS.items()):
        mine = [dict(part, server=None) for part in parts if part.get('server') == server]
        out.append({'name': 'parent on %s' % shard, 'ignore_errors': True, 'pgdist.cluster.partitioned_table': dict(
            clusters[shard].login, db=DB, name='parent', side='shard', columns=COLUMNS,
            partition_by={'method': 'range', 'key': ['range']}, partitions=mine)})
    out.append({'name': 'parent on coordinator', 'ignore_errors': True, 'pgdist.cluster.partitioned_table': dict(
        clusters['coordinator'].login, db=DB, name='parent', columns=COLUMNS,
        partition_by={'method': 'range', 'key': ['range']}, partitions=parts)})
    return out


def state(clusters):
    coordinator = clusters['coordinator']
    return dict(
        bounds=coordinator.query("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                                 "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'parent'::regclass "
                                 "ORDER BY 1", dbname=DB),
        checks=[clusters[shard].query("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                                      "WHERE conname LIKE 'pgdist_bounds_%%' ORDER BY 1", dbname=DB)
                for shard in ('shard1', 'shard2')],
        rows=coordinator.query('SELECT tableoid::regclass::text, * FROM parent ORDER BY range', dbname=DB))


@pytest.fixture(scope='module')
def built(clusters):
    fdw_database(DB, clusters['coordinator'], dict((server, clusters[shard]) for server, shard in SERVERS.items()))
    run = run_tasks(tasks(clusters, partitions()))
    assert run.ok and not any(result.get('failed') for result in run.results()), run.stdout
    clusters['coordinator'].query("INSERT INTO parent VALUES (1, 'low', -5), (2, 'high', 199999)", dbname=DB)
    return clusters


def test_widened_and_narrowed_bounds_with_every_row_inside_are_accepted(built):
    wanted = partitions(child1_to=10, child2_from=10)
    run = run_tasks(tasks(built, wanted) + tasks(built, wanted))
    results = run.results()
    assert not any(result.get('failed') for result in results), run.stdout
    assert [result['changed'] for result in results] == [True, True, True, False, False, False]
    now = state(built)
    assert now['bounds'] == [('child1', 'FOR VALUES FROM (MINVALUE) TO (\'10\')'),
                             ('child2', 'FOR VALUES FROM (\'10\') TO (\'200000\')'),
                             ('child3', 'FOR VALUES FROM (\'200000\') TO (MAXVALUE)')]
    assert now['rows'] == [('child1', 1, 'low', -5), ('child2', 2, 'high', 199999)]
    assert "range < '10'::bigint" in now['checks'][0][0][1] and "range >= '10'::bigint" in now['checks'][1][0][1]
    # rows between 10 and 100000 now go to shard2, and the shards' checks agree
    built['coordinator'].query("INSERT INTO parent VALUES (3, 'moved', 50)", dbname=DB)
    assert built['shard2'].query('SELECT id FROM child2 WHERE range = 50', dbname=DB) == [(3,)]


def test_bounds_pass_to_a_new_partition_in_one_run(built):
    coordinator = built['coordinator']
    coordinator.query("INSERT INTO parent VALUES (6, 'far', 350000)", dbname=DB)
    wanted = partitions(child1_to=10, child2_from=10)
    wanted[2] = dict(wanted[2], **{'from': 300000})
    wanted.append({'name': 'child4', 'from': 200000, 'to': 300000})
    run = run_tasks(tasks(built, wanted) + tasks(built, wanted))
    results = run.results()
    assert not any(result.get('failed') for result in results), run.stdout
    assert [result['changed'] for result in results] == [False, False, True, False, False, False]
    assert results[2]['queries'] == [
        'ALTER TABLE "public"."parent" DETACH PARTITION "public"."child3"',
        'CREATE TABLE "public"."child4" PARTITION OF "public"."parent" FOR VALUES FROM (\'200000\') TO (\'300000\')',
        'ALTER TABLE "public"."parent" ATTACH PARTITION "public"."child3" FOR VALUES FROM (\'300000\') TO (MAXVALUE)']
    coordinator.query("INSERT INTO parent VALUES (7, 'mid', 250000)", dbname=DB)
    assert coordinator.query('SELECT tableoid::regclass::text, id FROM parent WHERE range >= 200000 ORDER BY 2',
                             dbname=DB) == [('child3', 6), ('child4', 7)]


def test_bounds_that_would_leave_rows_outside_are_refused_with_count_and_keys(built):
    built['coordinator'].query("INSERT INTO parent VALUES (4, 'a', 160000), (5, 'b', 190000)", dbname=DB)
    before = state(built)
    narrowed = partitions(child1_to=10, child2_from=10, child2_to=150000)
    narrowed[2] = dict(narrowed[2], **{'from': 300000})
    narrowed.append({'name': 'child4', 'from': 200000, 'to': 300000})
    run = run_tasks(tasks(built, narrowed))
    shard1, shard2, coordinator = run.results()
    assert not shard1.get('failed') and not shard1['changed']
    expected = ("partitions: child2: public.child2 holds 3 row(s) outside its new bounds FOR VALUES FROM ('10') TO "
                "('150000') (smallest key 160000, largest key 199999): changing the bounds would hide them, so it is "
                "refused and nothing was changed; move or delete those rows first")
    assert shard2['failed'] and shard2['msg'] == expected and shard2['queries'] == []
    # the coordinator asks the shard through postgres_fdw and refuses the same way
    assert coordinator['failed'] and coordinator['msg'] == expected
    assert state(built) == before


def test_a_new_partition_cannot_take_rows_held_by_a_foreign_default(built):
    coordinator = built['coordinator']
    layout = dict(db=DB, name='cities', columns=[{'name': 'id', 'type': 'int'}, {'name': 'city', 'type': 'text'}],
                  partition_by={'method': 'list', 'key': 'city'})
    default = [{'name': 'cities_paris', 'values': ['paris']}, {'name': 'cities_other', 'default': True}]
    # the shard's default table excludes the bounds of the local partition too (elsewhere)
    run = run_tasks([{'name': 'shard', 'pgdist.cluster.partitioned_table': dict(
        built['shard1'].login, side='shard', partitions=[dict(default[0], elsewhere=True)] + default[1:], **layout)},
        {'name': 'coordinator', 'pgdist.cluster.partitioned_table': dict(
            coordinator.login, partitions=[default[0], dict(default[1], server='pb_shard1')], **layout)}])
    assert run.ok, run.stdout
    coordinator.query("INSERT INTO cities VALUES (1, 'lyon'), (2, 'oslo'), (3, 'lyon')", dbname=DB)
    lyon = [default[0], {'name': 'cities_lyon', 'values': ['lyon']}, dict(default[1], server='pb_shard1')]
    run = run_tasks([{'name': 'coordinator', 'ignore_errors': True, 'pgdist.cluster.partitioned_table': dict(
        coordinator.login, partitions=lyon, **layout)}])
    result = run.results()[0]
    assert result['failed'] and result['msg'].startswith(
        'partitions: cities_other: public.cities_other holds 2 row(s) outside its new bounds DEFAULT (smallest key '
        'lyon, largest key lyon)')
    assert coordinator.query('SELECT count(*) FROM cities', dbname=DB) == [(3,)]
