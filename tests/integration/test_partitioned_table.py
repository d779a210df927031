"""Declarative partitioning over real shards: hash, list and range tables
whose foreign partitions live on two shards, built by partitioned_table on
both sides and checked through the catalogs and the rows themselves."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.pgcluster import SUPERUSER_PASSWORD

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
                'options': {'batch_size': 100}} for r in range(4)],
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
    """The role's way: the shard side on each shard for its partitions, then the coordinator."""
    tasks = []
    for server, shard in sorted(SERVERS.items()):
        for table in tables:
            mine = [p for p in PARTITIONS[table] if p['server'] == server]
            tasks.append({'name': '%s on %s' % (table, shard), 'pgdist.cluster.partitioned_table': dict(
                clusters[shard].login, **table_args(table, side='shard', partitions=mine,
                                                    primary_key=SHARD_KEYS[table]))})
    for table in tables:
        tasks.append({'name': '%s on coordinator' % table, 'pgdist.cluster.partitioned_table': dict(
            clusters['coordinator'].login, **table_args(table))})
    return tasks


def create_database(cluster):
    cluster.query('DROP DATABASE IF EXISTS %s' % DB)
    cluster.query('CREATE DATABASE %s' % DB)


@pytest.fixture(scope='module')
def fdw(clusters):
    """ptest on every cluster, postgres_fdw and two servers on the coordinator."""
    for name in ('coordinator', 'shard1', 'shard2'):
        create_database(clusters[name])
    coordinator = clusters['coordinator']
    coordinator.query('CREATE EXTENSION postgres_fdw', dbname=DB)
    for server, shard in SERVERS.items():
        coordinator.query("CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %%s, port %%s, dbname %%s)"
                          % server, (clusters[shard].host, str(clusters[shard].port), DB), dbname=DB)
        coordinator.query("CREATE USER MAPPING FOR postgres SERVER %s OPTIONS (user 'postgres', password %%s)"
                          % server, (SUPERUSER_PASSWORD,), dbname=DB)
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
