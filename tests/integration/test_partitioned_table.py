"""Declarative partitioning over real shards: hash, list and range tables
whose foreign partitions live on two shards, built by partitioned_table on
both sides and checked through the catalogs and the rows themselves."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptest'
SERVERS = {'pt_shard1': 'shard1', 'pt_shard2': 'shard2'}

COLUMNS = {
    'events': [{'name': 'id', 'type': 'bigint', 'nullable': False}, {'name': 'payload', 'type': 'text'}],
    'booksample': [{'name': 'id', 'type': 'int', 'nullable': False}, {'name': 'state', 'type': 'varchar'},
                   {'name': 'lendable', 'type': 'bool', 'default': False}, {'name': 'location', 'type': 'varchar'},
                   {'name': 'book_id', 'type': 'int'}],
    'parent': [{'name': 'range', 'type': 'integer', 'nullable': False}, {'name': 'note', 'type': 'varchar(20)'}],
}
BY = {'events': {'method': 'hash', 'key': 'id'}, 'booksample': {'method': 'list', 'key': 'location'},
      'parent': {'method': 'range', 'key': ['range']}}
PARTITIONS = {
    'events': [{'name': 'events_p%d' % r, 'modulus': 4, 'remainder': r, 'server': 'pt_shard%d' % (r % 2 + 1),
                'options': {'fetch_size': 100}} for r in range(4)],
    'booksample': [{'name': 'booksample_paris', 'values': ['paris'], 'server': 'pt_shard1'},
                   {'name': 'booksample_lagos', 'values': ['lagos'], 'server': 'pt_shard2'}],
    'parent': [{'name': 'child1', 'from': 'MINVALUE', 'to': 100000, 'server': 'pt_shard1'},
               {'name': 'child2', 'from': 100000, 'to': 200000, 'server': 'pt_shard2'},
               {'name': 'child3', 'from': 200000, 'to': 'MAXVALUE', 'server': 'pt_shard1'}],
}
SHARD_KEYS = {'events': ['id'], 'booksample': ['id', 'location'], 'parent': ['range']}


def table_args(table, **extra):
    args = dict(db=DB, name='public.' + table, columns=COLUMNS[table], partition_by=BY[table],
                partitions=PARTITIONS[table])
    args.update(extra)
    return args


def deploy_tasks(clusters, tables=('events', 'booksample', 'parent')):
    """The role's way: the shard side on each shard for its partitions, then the coordinator.

    key_update: move, so an UPDATE of the key moves the row across shards (the default refuses it,
    see test_partitioned_table_key_update.py)."""
    tasks = []
    for server, shard in sorted(SERVERS.items()):
        for table in tables:
            mine = [p for p in PARTITIONS[table] if p['server'] == server]
            tasks.append({'name': '%s on %s' % (table, shard), 'pgdist.cluster.partitioned_table': dict(
                clusters[shard].login, **table_args(table, side='shard', partitions=mine,
                                                    primary_key=SHARD_KEYS[table]))})
    for table in tables:
        tasks.append({'name': '%s on coordinator' % table, 'pgdist.cluster.partitioned_table': dict(
            clusters['coordinator'].login, **table_args(table, key_update='move'))})
    return tasks


@pytest.fixture(scope='module')
def fdw(clusters):
    """ptest on every cluster, postgres_fdw and two servers on the coordinator."""
    fdw_database(DB, clusters['coordinator'], dict((server, clusters[shard]) for server, shard in SERVERS.items()))
    return clusters


@pytest.fixture(scope='module')
def deployed(fdw):
    check = run_tasks(deploy_tasks(fdw), check=True)
    first = run_tasks(deploy_tasks(fdw), diff=True)
    second = run_tasks(deploy_tasks(fdw))
    return dict(check=check, first=first, second=second)


def test_check_mode_changes_nothing_then_first_run_builds_and_second_is_idempotent(deployed, fdw):
    assert deployed['check'].ok, deployed['check'].stdout
    assert deployed['first'].ok, deployed['first'].stdout
    assert deployed['second'].ok, deployed['second'].stdout
    n_tasks = len(deployed['first'].results())
    assert deployed['check'].changed('localhost') == n_tasks
    assert deployed['first'].changed('localhost') == n_tasks
    assert deployed['second'].changed('localhost') == 0
    assert all(result['queries'] == [] for result in deployed['second'].results())
    # check mode planned the same statements the real run executed
    assert [r['queries'] for r in deployed['check'].results()] == [r['queries'] for r in deployed['first'].results()]


def shard_rows(cluster, table, columns='*'):
    return cluster.query('SELECT %s FROM %s ORDER BY 1' % (columns, table), dbname=DB)


def test_catalog_holds_the_layout(deployed, fdw):
    coordinator = fdw['coordinator']
    rows = coordinator.query("""
        SELECT c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid), s.srvname
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid LEFT JOIN pg_foreign_server s ON s.oid = ft.ftserver
         WHERE i.inhparent = 'public.parent'::regclass ORDER BY 1""", dbname=DB)
    assert rows == [('child1', 'f', 'FOR VALUES FROM (MINVALUE) TO (100000)', 'pt_shard1'),
                    ('child2', 'f', 'FOR VALUES FROM (100000) TO (200000)', 'pt_shard2'),
                    ('child3', 'f', 'FOR VALUES FROM (200000) TO (MAXVALUE)', 'pt_shard1')]
    assert sorted(coordinator.scalar("SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'events_p2'::regclass",
                                     dbname=DB)) == ['fetch_size=100', 'schema_name=public', 'table_name=events_p2']
    assert coordinator.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                              "WHERE attrelid = 'parent'::regclass AND attname = 'note'", dbname=DB) == \
        'character varying(20)'
    # the shard holds real tables with a bounds CHECK and the primary key
    checks = fdw['shard1'].query("""
        SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conname LIKE 'pgdist_bounds_%' ORDER BY 1""", dbname=DB)
    assert [check[0] for check in checks] == ['booksample_paris', 'child1', 'child3', 'events_p0', 'events_p2']
    assert 'satisfies_hash_partition' in dict(checks)['events_p0']
    assert fdw['shard2'].scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace",
        dbname=DB) == 4


def test_list_rows_land_on_their_shard_and_the_shard_refuses_strays(deployed, fdw):
    coordinator, shard1, shard2 = fdw['coordinator'], fdw['shard1'], fdw['shard2']
    coordinator.query("INSERT INTO booksample (id, state, location, book_id) VALUES "
                      "(1, 'new', 'paris', 1), (2, 'used', 'lagos', 1), (3, 'new', 'lagos', 2)", dbname=DB)
    assert shard_rows(shard1, 'booksample_paris', 'id, location, lendable') == [(1, 'paris', False)]
    assert shard_rows(shard2, 'booksample_lagos', 'id, location') == [(2, 'lagos'), (3, 'lagos')]
    with pytest.raises(psycopg2.Error, match='no partition of relation "booksample" found'):
        coordinator.query("INSERT INTO booksample (id, location) VALUES (9, 'tokyo')", dbname=DB)
    with pytest.raises(psycopg2.errors.CheckViolation, match='pgdist_bounds_'):
        shard1.query("INSERT INTO booksample_paris (id, location) VALUES (9, 'lagos')", dbname=DB)
    # a key change moves the row to the other shard
    coordinator.query("UPDATE booksample SET location = 'paris' WHERE id = 3", dbname=DB)
    assert shard_rows(shard1, 'booksample_paris', 'id') == [(1,), (3,)]
    assert shard_rows(shard2, 'booksample_lagos', 'id') == [(2,)]


def test_lookup_by_key_scans_one_foreign_partition(deployed, fdw):
    plan = '\n'.join(row[0] for row in fdw['coordinator'].query(
        "EXPLAIN SELECT * FROM booksample WHERE location = 'lagos'", dbname=DB))
    assert plan.count('Foreign Scan') == 1 and 'booksample_lagos' in plan and 'booksample_paris' not in plan
    plan = '\n'.join(row[0] for row in fdw['coordinator'].query(
        "EXPLAIN SELECT * FROM events WHERE id = 42", dbname=DB))
    assert plan.count('Foreign Scan') == 1, plan


def test_hash_rows_agree_between_coordinator_routing_and_shard_checks(deployed, fdw):
    coordinator = fdw['coordinator']
    coordinator.query("INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 400) g", dbname=DB)
    counts = {}
    for remainder in range(4):
        shard = fdw['shard%d' % (remainder % 2 + 1)]
        ids = [row[0] for row in shard_rows(shard, 'events_p%d' % remainder, 'id')]
        counts[remainder] = len(ids)
        # what the coordinator routed is what the shard's own CHECK accepts
        expected = coordinator.query("SELECT id FROM events_p%d ORDER BY id" % remainder, dbname=DB)
        assert ids == [row[0] for row in expected]
    assert sum(counts.values()) == 400 and all(count > 50 for count in counts.values())
    # a row hashed elsewhere is refused by the shard itself
    wrong = coordinator.scalar("SELECT id FROM events_p1 LIMIT 1", dbname=DB)
    with pytest.raises(psycopg2.errors.CheckViolation):
        fdw['shard2'].query("INSERT INTO events_p3 VALUES (%s, 'x')", (wrong,), dbname=DB)
    # a key update moves the row across shards
    coordinator.query("UPDATE events SET id = 100000 + id WHERE id = %s", (wrong,), dbname=DB)
    target = coordinator.scalar("SELECT tableoid::regclass::text FROM events WHERE id = %s", (100000 + wrong,),
                                dbname=DB)
    assert fdw['shard%d' % (int(target[-1]) % 2 + 1)].scalar(
        "SELECT count(*) FROM %s WHERE id = %%s" % target, (100000 + wrong,), dbname=DB) == 1
    assert fdw['shard2'].scalar("SELECT count(*) FROM events_p1 WHERE id = %s", (wrong,), dbname=DB) == 0


def test_range_rows_and_on_conflict_do_nothing(deployed, fdw):
    coordinator, shard1, shard2 = fdw['coordinator'], fdw['shard1'], fdw['shard2']
    coordinator.query("INSERT INTO parent VALUES (-5, 'low'), (150000, 'mid'), (250000, 'high')", dbname=DB)
    assert shard_rows(shard1, 'child1') == [(-5, 'low')]
    assert shard_rows(shard2, 'child2') == [(150000, 'mid')]
    assert shard_rows(shard1, 'child3') == [(250000, 'high')]
    # ON CONFLICT DO NOTHING without a target reaches the shard, whose primary key decides (PostgreSQL docs:
    # postgres_fdw supports it; DO UPDATE is not supported)
    coordinator.query("INSERT INTO parent VALUES (150000, 'again'), (150001, 'new') ON CONFLICT DO NOTHING",
                      dbname=DB)
    assert shard_rows(shard2, 'child2') == [(150000, 'mid'), (150001, 'new')]
    with pytest.raises(psycopg2.Error, match='there is no unique or exclusion constraint'):
        coordinator.query("INSERT INTO parent VALUES (1, 'x') ON CONFLICT (range) DO NOTHING", dbname=DB)
    with pytest.raises(psycopg2.errors.UniqueViolation):
        coordinator.query("INSERT INTO parent VALUES (150000, 'dup')", dbname=DB)
    coordinator.query("UPDATE parent SET range = 50 WHERE range = 150001", dbname=DB)
    assert shard_rows(shard1, 'child1') == [(-5, 'low'), (50, 'new')]
