"""The English seed with partitioning: inheritance: booksample routed by
location by a generated trigger (paris local, lagos on a shard), lend routed
through its booksample row, rows checked on the shard itself."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptinherit'
BOOKSAMPLE = [{'name': 'id', 'type': 'int'}, {'name': 'state', 'type': 'varchar'},
              {'name': 'lendable', 'type': 'bool', 'default': False}, {'name': 'location', 'type': 'varchar'},
              {'name': 'book_id', 'type': 'int'}]
LEND = [{'name': 'student_id', 'type': 'int'}, {'name': 'booksample_id', 'type': 'int'},
        {'name': 'at', 'type': 'date'}, {'name': 'returned_at', 'type': 'date'}]
BY_LOCATION = {'method': 'list', 'key': 'location'}
ROUTE = {'table': 'booksample', 'column': 'booksample_id', 'references': 'id'}


def booksample(login, extra=(), **args):
    partitions = [{'name': 'booksample_paris', 'values': ['paris']},
                  {'name': 'booksample_lagos', 'values': ['lagos'], 'server': 'lagos'}] + list(extra)
    return {'name': 'booksample', 'pgdist.cluster.partitioned_table': dict(
        login, db=DB, name='booksample', partitioning='inheritance', columns=BOOKSAMPLE, partition_by=BY_LOCATION,
        partitions=partitions, **args)}


def lend(login):
    return {'name': 'lend', 'pgdist.cluster.partitioned_table': dict(
        login, db=DB, name='lend', partitioning='inheritance', columns=LEND, partition_by=BY_LOCATION,
        route_via=ROUTE, partitions=[{'name': 'lend_paris', 'values': ['paris']},
                                     {'name': 'lend_lagos', 'values': ['lagos'], 'server': 'lagos'}])}


def shard_tasks(login):
    return [
        {'name': 'booksample_lagos on the shard', 'pgdist.cluster.partitioned_table': dict(
            login, db=DB, name='booksample', side='shard', partitioning='inheritance', columns=BOOKSAMPLE,
            partition_by=BY_LOCATION, partitions=[{'name': 'booksample_lagos', 'values': ['lagos']}])},
        {'name': 'lend_lagos on the shard', 'pgdist.cluster.partitioned_table': dict(
            login, db=DB, name='lend', side='shard', partitioning='inheritance', columns=LEND,
            partition_by=BY_LOCATION, route_via=ROUTE, partitions=[{'name': 'lend_lagos', 'values': ['lagos']}])},
    ]


@pytest.fixture(scope='module')
def seed(coordinator, shard2):
    fdw_database(DB, coordinator, {'lagos': shard2})
    tasks = shard_tasks(shard2.login) + [booksample(coordinator.login), lend(coordinator.login)]
    first = run_tasks(tasks)
    second = run_tasks(tasks)
    return dict(first=first, second=second, tasks=tasks)


def test_seed_layout_is_built_once(seed, coordinator):
    assert seed['first'].ok, seed['first'].stdout
    assert seed['first'].changed('localhost') == 4
    assert seed['second'].ok and seed['second'].changed('localhost') == 0, seed['second'].stdout
    children = coordinator.query("""
        SELECT i.inhparent::regclass::text, c.relname, c.relkind,
               (SELECT string_agg(pg_get_constraintdef(k.oid), ' ') FROM pg_constraint k
                 WHERE k.conrelid = c.oid AND k.contype = 'c')
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1, 2""", dbname=DB)
    assert [child[:3] for child in children] == [
        ('booksample', 'booksample_lagos', 'f'), ('booksample', 'booksample_paris', 'r'),
        ('lend', 'lend_lagos', 'f'), ('lend', 'lend_paris', 'r')]
    assert "'lagos'" in children[0][3] and "'paris'" in children[1][3]
    assert children[2][3] is None  # lend rows follow their booksample: no key of their own
    assert coordinator.scalar("SELECT relkind FROM pg_class WHERE relname = 'booksample'", dbname=DB) == 'r'
    triggers = coordinator.query("SELECT tgrelid::regclass::text, tgname FROM pg_trigger ORDER BY 1", dbname=DB)
    assert triggers == [('booksample', 'pgdist_route'), ('lend', 'pgdist_route')]


def test_rows_are_routed_like_the_seed(seed, coordinator, shard2):
    coordinator.query("INSERT INTO booksample VALUES (1, 'new', true, 'paris', 1), (2, 'used', true, 'lagos', 1)",
                      dbname=DB)
    coordinator.query("INSERT INTO lend VALUES (100, 1, '2024-01-02', NULL), (101, 2, '2024-01-03', NULL)",
                      dbname=DB)
    assert coordinator.query("SELECT id FROM ONLY booksample", dbname=DB) == []
    assert coordinator.query("SELECT id, location FROM ONLY booksample_paris", dbname=DB) == [(1, 'paris')]
    assert shard2.query("SELECT id, location FROM booksample_lagos", dbname=DB) == [(2, 'lagos')]
    assert coordinator.query("SELECT student_id FROM ONLY lend_paris", dbname=DB) == [(100,)]
    assert shard2.query("SELECT student_id, booksample_id FROM lend_lagos", dbname=DB) == [(101, 2)]
    assert coordinator.query("SELECT id FROM booksample ORDER BY id", dbname=DB) == [(1,), (2,)]
    plan = '\n'.join(r[0] for r in coordinator.query(
        "EXPLAIN SELECT * FROM booksample WHERE location = 'lagos'", dbname=DB))
    assert 'booksample_lagos' in plan and 'booksample_paris' not in plan  # constraint exclusion
    with pytest.raises(psycopg2.errors.CheckViolation,
                       match=r'no partition of public.booksample accepts a row with \(location\) = \(tokyo\)'):
        coordinator.query("INSERT INTO booksample VALUES (3, 'new', true, 'tokyo', 1)", dbname=DB)
    with pytest.raises(psycopg2.errors.CheckViolation, match=r'looked up in public.booksample by id = booksample_id'):
        coordinator.query("INSERT INTO lend VALUES (102, 999, '2024-01-03', NULL)", dbname=DB)
    with pytest.raises(psycopg2.errors.CheckViolation):
        shard2.query("INSERT INTO booksample_lagos (id, location) VALUES (4, 'paris')", dbname=DB)


def test_new_child_regenerates_only_the_routing_function(seed, coordinator):
    before = coordinator.scalar("SELECT xmin::text FROM pg_proc WHERE proname = 'lend_pgdist_route'", dbname=DB)
    tokyo = [{'name': 'booksample_tokyo', 'values': ['tokyo']}]
    run = run_tasks([booksample(coordinator.login, tokyo), lend(coordinator.login)])
    assert run.ok, run.stdout
    booksample_result, lend_result = run.results()
    assert booksample_result['changed'] and not lend_result['changed']
    assert any('CREATE OR REPLACE FUNCTION' in q for q in booksample_result['queries'])
    assert coordinator.scalar("SELECT xmin::text FROM pg_proc WHERE proname = 'lend_pgdist_route'",
                              dbname=DB) == before
    coordinator.query("INSERT INTO booksample VALUES (3, 'new', true, 'tokyo', 1)", dbname=DB)
    assert coordinator.query("SELECT id FROM booksample_tokyo", dbname=DB) == [(3,)]


def routing_triggers(coordinator):
    return coordinator.query("SELECT tgname, tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'booksample'::regclass "
                             "AND NOT tgisinternal ORDER BY 1", dbname=DB)


def routing_functions(coordinator):
    return [row[0] for row in coordinator.query("SELECT proname FROM pg_proc WHERE proname LIKE 'booksample%' "
                                                "ORDER BY 1", dbname=DB)]


def test_route_trigger_renames_the_routing_trigger_and_leaves_no_second_one(seed, coordinator):
    """The seed's own names (booksample_trigger calling booksample_trigger_fn), then back to ours: each rename
    drops the routing trigger and function it replaces in the same transaction; a user's trigger stays."""
    coordinator.query("CREATE FUNCTION booksample_audit() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';"
                      "CREATE TRIGGER booksample_audit BEFORE INSERT ON booksample FOR EACH ROW "
                      "EXECUTE FUNCTION booksample_audit()", dbname=DB)
    tokyo = [{'name': 'booksample_tokyo', 'values': ['tokyo']}]
    seed_names = {'name': 'booksample_trigger', 'function': 'booksample_trigger_fn'}
    try:
        renamed = [booksample(coordinator.login, tokyo, route_trigger=seed_names)]
        run = run_tasks(renamed + renamed)
        assert run.ok, run.stdout
        first, second = run.results()
        assert first['changed'] and not second['changed']
        assert routing_triggers(coordinator) == [('booksample_audit', 'booksample_audit'),
                                                 ('booksample_trigger', 'booksample_trigger_fn')]
        assert routing_functions(coordinator) == ['booksample_audit', 'booksample_trigger_fn']
        coordinator.query("INSERT INTO booksample VALUES (5, 'new', true, 'paris', 1)", dbname=DB)
        assert coordinator.query("SELECT count(*) FROM ONLY booksample_paris WHERE id = 5", dbname=DB) == [(1,)]
        assert coordinator.query("SELECT count(*) FROM ONLY booksample WHERE id = 5", dbname=DB) == [(0,)]
        back = run_tasks([booksample(coordinator.login, tokyo)])
        assert back.ok and back.results()[0]['changed'], back.stdout
        assert routing_triggers(coordinator) == [('booksample_audit', 'booksample_audit'),
                                                 ('pgdist_route', 'booksample_pgdist_route')]
        assert routing_functions(coordinator) == ['booksample_audit', 'booksample_pgdist_route']
    finally:
        coordinator.query("DELETE FROM booksample WHERE id = 5; DROP TRIGGER booksample_audit ON booksample;"
                          "DROP FUNCTION booksample_audit()", dbname=DB)


def test_route_trigger_is_refused_with_declarative_partitioning(coordinator):
    run = run_tasks([{'name': 'declarative', 'pgdist.cluster.partitioned_table': dict(
        coordinator.login, db=DB, name='routed_decl', columns=BOOKSAMPLE, partition_by=BY_LOCATION,
        route_trigger={'name': 'insert_to_child_tg'}, partitions=[{'name': 'routed_decl_paris', 'values': ['paris']}])}])
    assert not run.ok
    assert 'route_trigger: names the routing trigger of partitioning: inheritance' in run.stdout
