"""Clusters of two majors working together, as during a rolling upgrade.

- A coordinator on this run's major with two shards of another one: Debian's 15 under a coordinator of
  13, 14, 16, 17 or 18 (17 over 15 is the usual upgrade in progress); on the 15 run the shards are 17,
  upgraded before their coordinator. The modules build a hash-partitioned table over them; rows inserted
  through the coordinator land on the shard their hash says, and cluster_info reports the shards' version.
- A subscriber one major newer than its publisher (logical replication is the usual upgrade path): the
  publisher runs this run's major (17 on the 18 run), the subscriber the next one.
"""

import pytest

from support.ansible import run_module, run_tasks
from support.pgcluster import PG_MAJOR, SUPERUSER_PASSWORD, start_cluster, wait_for
from support.tasks import by_name, task

DB = 'mixed'
SHARD_MAJOR = 17 if PG_MAJOR == 15 else 15
PUBLISHER_MAJOR = min(PG_MAJOR, 17)
SERVERS = ('mixed_s1', 'mixed_s2')
COLUMNS = [{'name': 'id', 'type': 'bigint', 'nullable': False}, {'name': 'payload', 'type': 'text'}]
PARTITIONS = [{'name': 'items_p%d' % r, 'modulus': 4, 'remainder': r, 'server': SERVERS[r % 2]} for r in range(4)]


@pytest.fixture(scope='module')
def shards():
    started = []
    try:
        for index in (1, 2):
            started.append(start_cluster('mixed-shard%d' % index, major=SHARD_MAJOR))
        yield started
    finally:
        for cluster in started:
            cluster.destroy()


def deploy_tasks(coordinator, shards):
    tasks = []
    for server, shard in zip(SERVERS, shards):
        tasks += [task('database on ' + server, 'database', shard, name=DB),
                  task('table on ' + server, 'partitioned_table', shard, db=DB, name='items', side='shard',
                       columns=COLUMNS, partition_by={'method': 'hash', 'key': 'id'}, primary_key=['id'],
                       partitions=[p for p in PARTITIONS if p['server'] == server])]
    # batch_size where the coordinator's postgres_fdw has it (14 and later)
    tuned = dict(batch_size=100) if coordinator.major >= 14 else {}
    tasks += [task('coordinator database', 'database', coordinator, name=DB),
              task('postgres_fdw', 'extension', coordinator, db=DB, name='postgres_fdw')]
    for server, shard in zip(SERVERS, shards):
        tasks += [task('server ' + server, 'foreign_server', coordinator, db=DB, name=server,
                       options=dict(host=shard.host, port=shard.port, dbname=DB, **tuned)),
                  task('mapping ' + server, 'user_mapping', coordinator, db=DB, server=server, user='postgres',
                       options=dict(user='postgres', password=SUPERUSER_PASSWORD))]
    tasks.append(task('table on coordinator', 'partitioned_table', coordinator, db=DB, name='items',
                      columns=COLUMNS, partition_by={'method': 'hash', 'key': 'id'}, partitions=PARTITIONS))
    return tasks


@pytest.fixture(scope='module')
def deployed(coordinator, shards):
    first = run_tasks(deploy_tasks(coordinator, shards))
    second = run_tasks(deploy_tasks(coordinator, shards))
    yield dict(first=first, second=second)
    coordinator.query('DROP DATABASE IF EXISTS %s WITH (FORCE)' % DB)


def test_coordinator_and_shards_of_two_majors(coordinator, shards, deployed):
    assert coordinator.major == PG_MAJOR and all(shard.major == SHARD_MAJOR for shard in shards)
    assert deployed['first'].ok, deployed['first'].stdout[-4000:]
    assert deployed['first'].changed('localhost') == len(deployed['first'].results())
    assert deployed['second'].ok and deployed['second'].changed('localhost') == 0, deployed['second'].stdout[-4000:]

    coordinator.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 200) g", dbname=DB)
    assert coordinator.scalar('SELECT count(*) FROM items', dbname=DB) == 200
    for remainder in range(4):
        shard = shards[remainder % 2]
        held = shard.scalar('SELECT count(*) FROM items_p%d' % remainder, dbname=DB)
        assert held > 0
        # every row sits in the partition the coordinator's hash routes it to
        assert held == coordinator.scalar(
            "SELECT count(*) FROM generate_series(1, 200) g "
            "WHERE satisfies_hash_partition('items'::regclass, 4, %s, g::bigint)", (remainder,), dbname=DB)
    # a key lookup is pruned to the one foreign partition that holds the key
    plan = '\n'.join(row[0] for row in coordinator.query('EXPLAIN SELECT * FROM items WHERE id = 7', dbname=DB))
    assert plan.count('Foreign Scan') == 1 and 'Append' not in plan, plan
    assert coordinator.query('SELECT id, payload FROM items WHERE id = 7', dbname=DB) == [(7, 'row 7')]

    info, run = run_module('cluster_info', dict(db=DB, gather=['foreign_servers', 'tables'], row_counts='exact'),
                           login=coordinator.login)
    assert run.ok, run.stdout[-3000:]
    for server in SERVERS:
        assert info['foreign_servers'][server]['reachable'] is True
        assert info['foreign_servers'][server]['remote_version'].startswith('%d.' % SHARD_MAJOR)
    assert info['tables']['public.items']['rows'] == 200


PUBLISHER_SETUP = """
CREATE ROLE repl LOGIN REPLICATION PASSWORD 'mixed-Repl-pw';
CREATE TABLE books (id int PRIMARY KEY, title text);
GRANT SELECT ON books TO repl;
INSERT INTO books VALUES (1, 'Things Fall Apart'), (2, 'Germinal');
"""


@pytest.fixture(scope='module')
def upgrade_pair():
    started = []
    try:
        publisher = start_cluster('mixed-publisher', major=PUBLISHER_MAJOR)
        started.append(publisher)
        subscriber = start_cluster('mixed-subscriber', major=PUBLISHER_MAJOR + 1)
        started.append(subscriber)
        publisher.query(PUBLISHER_SETUP)
        subscriber.query('CREATE TABLE books (id int PRIMARY KEY, title text)')
        yield publisher, subscriber
    finally:
        for cluster in started:
            cluster.destroy()


def test_subscriber_one_major_newer_than_its_publisher(upgrade_pair):
    publisher, subscriber = upgrade_pair
    tasks = [task('publication', 'publication', publisher, name='books_pub', tables=['books']),
             task('subscription', 'subscription', subscriber, name='books_sub', publications=['books_pub'],
                  connection=dict(host=publisher.host, port=publisher.port, dbname='postgres', user='repl',
                                  password='mixed-Repl-pw'))]
    first = run_tasks(tasks)
    assert first.ok, first.stdout[-4000:]
    assert first.changed('localhost') == 2
    again = run_tasks(tasks)
    assert again.ok and again.changed('localhost') == 0, again.stdout[-4000:]
    assert wait_for(lambda: subscriber.query('SELECT * FROM books ORDER BY 1') == [
        (1, 'Things Fall Apart'), (2, 'Germinal')])
    publisher.query("INSERT INTO books VALUES (3, 'Beloved'); UPDATE books SET title = 'Nana' WHERE id = 2; "
                    "DELETE FROM books WHERE id = 1")
    assert wait_for(lambda: subscriber.query('SELECT * FROM books ORDER BY 1') == [(2, 'Nana'), (3, 'Beloved')])

    info, run = run_module('cluster_info', dict(gather=['replication']), login=subscriber.login)
    assert run.ok, run.stdout[-3000:]
    assert info['instance']['version_num'] // 10000 == PUBLISHER_MAJOR + 1
    assert info['subscriptions']['books_sub']['enabled'] is True
    assert info['subscriptions']['books_sub']['table_states'] == {'ready': 1}

    dropped = run_tasks([task('drop', 'subscription', subscriber, name='books_sub', state='absent')])
    assert dropped.ok and by_name(dropped)['drop']['queries'] == ['DROP SUBSCRIPTION "books_sub"']
    assert publisher.scalar("SELECT count(*) FROM pg_replication_slots") == 0
