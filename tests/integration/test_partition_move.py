"""pgdist.cluster.partition_move on real clusters: a coordinator and two shards with a hash table whose two
foreign partitions hold rows. Each move runs the steps a playbook runs, on the hosts they concern (here all
through TCP from localhost): plan, the target table, the publication, the subscription, the switch, then the
subscription and publication dropped. A writer inserts and updates through the coordinator during the first
move; a second move is interrupted after the subscription step, refused by a prepared transaction of the
coordinator on the source, killed while it holds the pause, and run again; a third, back to the first shard,
is interrupted after the publication step and run again; refusals and check mode change nothing."""

import hashlib
import os
import random
import threading
import time

import psycopg2
import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database
from support.pgcluster import SUPERUSER_PASSWORD, start_cluster, wait_for

DB = 'pmove'
COLUMNS = [{'name': 'id', 'type': 'bigint', 'nullable': False}, {'name': 'payload', 'type': 'text'},
           {'name': 'version', 'type': 'int', 'nullable': False, 'default': 0}]
BY = {'method': 'hash', 'key': 'id'}
HOME = {0: 'pm_s1', 1: 'pm_s2'}
# rows of the table before the moves (half in each partition); PGDIST_MOVE_ROWS=1000000 measures a bigger move
ROWS = int(os.environ.get('PGDIST_MOVE_ROWS') or 3000)


def partition(remainder, server=None):
    return dict({'name': 'items_p%d' % remainder, 'modulus': 2, 'remainder': remainder},
                **({'server': server} if server else {}))


@pytest.fixture(scope='module')
def nodes():
    """coordinator, shards {server: cluster}; max_prepared_transactions as the coordinator extension needs it."""
    started = {}
    try:
        for name in ('coordinator', 'pm_s1', 'pm_s2'):
            started[name] = start_cluster('move-' + name, settings=dict(max_prepared_transactions=5))
        coordinator = started['coordinator']
        shards = dict((server, started[server]) for server in HOME.values())
        fdw_database(DB, coordinator, shards)
        tasks = [{'name': 'shard %s' % server, 'pgdist.cluster.partitioned_table': dict(
            shard.login, db=DB, name='items', side='shard', columns=COLUMNS, partition_by=BY, primary_key=['id'],
            partitions=[partition(r) for r, home in HOME.items() if home == server])}
            for server, shard in sorted(shards.items())]
        tasks.append({'name': 'coordinator', 'pgdist.cluster.partitioned_table': dict(
            coordinator.login, db=DB, name='items', columns=COLUMNS, partition_by=BY,
            partitions=[partition(r, home) for r, home in HOME.items()])})
        run = run_tasks(tasks)
        assert run.ok, run.stdout[-3000:]
        coordinator.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, %s) g", (ROWS,), dbname=DB)
        yield coordinator, shards
    finally:
        for cluster in started.values():
            cluster.destroy()


def move_task(coordinator, name, to_server, step='plan', **extra):
    args = dict(coordinator.login, db=DB, name=name, to_server=to_server, step=step, catch_up_timeout=120)
    args.update(extra)
    return {'name': 'move %s' % step, 'pgdist.cluster.partition_move': args, 'register': 'move_' + step}


def move_tasks(coordinator, shards, remainder, source, target, upto=None, switch=None):
    """The playbook of one move: every step, the shard ones skipped once the plan says the switch is done;
    upto stops after the named step (an interrupted run)."""
    name, pending = 'items_p%d' % remainder, {'when': "move_plan.phase not in ['switched', 'done']"}
    steps = [
        ('plan', move_task(coordinator, name, target)),
        ('table', dict({'name': 'target table', 'pgdist.cluster.partitioned_table': dict(
            shards[target].login, db=DB, name='items', side='shard', columns=COLUMNS, partition_by=BY,
            primary_key=['id'], partitions=[partition(remainder)])}, **pending)),
        ('publication', dict({'name': 'publication', 'pgdist.cluster.publication': dict(
            shards[source].login, db=DB, name='{{ move_plan.publication }}', tables=['public.' + name])}, **pending)),
        ('subscription', dict({'name': 'subscription', 'pgdist.cluster.subscription': dict(
            shards[target].login, db=DB, name='{{ move_plan.subscription }}',
            publications=['{{ move_plan.publication }}'],
            connection=dict(host=shards[source].host, port=shards[source].port, dbname=DB, user='postgres',
                            password=SUPERUSER_PASSWORD),
            # the apply worker flushes each commit, so its confirmation reaches the slot without waiting for
            # the WAL writer and the worker's next wake-up: the switch's last wait is shorter
            options=dict(synchronous_commit='on'))}, **pending)),
        ('switch', move_task(coordinator, name, target, 'switch', **(switch or {}))),
        ('unsubscribe', {'name': 'drop subscription', 'pgdist.cluster.subscription': dict(
            shards[target].login, db=DB, name='{{ move_plan.subscription }}', state='absent')}),
        ('unpublish', {'name': 'drop publication', 'pgdist.cluster.publication': dict(
            shards[source].login, db=DB, name='{{ move_plan.publication }}', state='absent')}),
    ]
    tasks = []
    for step, task in steps:
        tasks.append(task)
        if step == upto:
            break
    return tasks


def results(run):
    return dict((result['_task'], result) for result in run.results())


def leftovers(shards):
    """Every slot, publication and subscription on the shards; but for the slots of a table copy still running
    (pg_<subscription oid>_sync_..., PostgreSQL's own, gone once the table is ready)."""
    found = []
    for server, shard in sorted(shards.items()):
        for what, query in (('slot', "SELECT slot_name::text FROM pg_replication_slots "
                                     "WHERE slot_name::text !~ '^pg_[0-9]+_sync_'"),
                            ('publication', 'SELECT pubname::text FROM pg_publication'),
                            ('subscription', 'SELECT subname::text FROM pg_subscription')):
            found += ['%s %s on %s' % (what, row[0], server) for row in shard.query(query, dbname=DB)]
    return found


def server_of(coordinator, name):
    return coordinator.scalar("SELECT s.srvname FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver "
                              "WHERE ft.ftrelid = %s::regclass", (name,), dbname=DB)


def tables(shard):
    return [row[0] for row in shard.query("SELECT relname::text FROM pg_class WHERE relname LIKE 'items%%' "
                                          "AND relkind = 'r' ORDER BY 1", dbname=DB)]


def checksum(rows):
    return hashlib.md5(','.join('%s:%s:%s' % row for row in sorted(rows)).encode()).hexdigest()


class Writer(threading.Thread):
    """Inserts new rows and updates existing ones through the coordinator, one autocommit statement at a time;
    keeps what it committed, its errors and its slowest statement."""

    def __init__(self, coordinator):
        super(Writer, self).__init__(daemon=True)
        self.conn = coordinator.connect(DB)
        self.committed = dict((row[0], (row[1], row[2])) for row in coordinator.query(
            'SELECT id, payload, version FROM items', dbname=DB))
        self.stop = threading.Event()
        self.errors = []
        self.slowest = (0.0, None)
        self.statements = 0

    def run(self):
        randomness, next_id = random.Random(14), ROWS + 1
        with self.conn.cursor() as cursor:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    if randomness.random() < 0.5:
                        cursor.execute("INSERT INTO items (id, payload) VALUES (%s, %s)", (next_id, 'new %d' % next_id))
                        self.committed[next_id] = ('new %d' % next_id, 0)
                        next_id += 1
                    else:
                        key = randomness.randint(1, next_id - 1)
                        cursor.execute("UPDATE items SET payload = 'updated', version = version + 1 WHERE id = %s "
                                       "RETURNING payload, version", (key,))
                        self.committed[key] = cursor.fetchone()
                except psycopg2.Error as exc:
                    self.errors.append(str(exc))
                    return
                took = time.monotonic() - started
                self.statements += 1
                if took > self.slowest[0]:
                    self.slowest = (took, time.strftime('%H:%M:%S'))
        self.conn.close()


def switch_killed_under_lock(coordinator):
    """Run the switch of items_p1 (held under its lock by a prepared transaction on the source) and terminate its
    coordinator session once it holds the parent's lock; the PlaybookRun."""
    runs = []
    thread = threading.Thread(target=lambda: runs.append(run_tasks(
        [move_task(coordinator, 'items_p1', 'pm_s1', 'switch', switch_timeout=30)])))
    thread.start()
    holder = wait_for(lambda: coordinator.scalar(
        "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = 'items'::regclass "
        "AND l.mode = 'ShareRowExclusiveLock' AND l.granted AND a.application_name = 'pgdist.cluster'", dbname=DB),
        timeout=60)
    assert holder, 'the switch never held the lock'
    coordinator.query('SELECT pg_terminate_backend(%s)', (holder,))
    thread.join(20)  # well before switch_timeout: the module notices at its next look
    assert runs, 'the switch did not end once its session was killed'
    return runs[0]


def test_refused_partitions_change_nothing(nodes):
    coordinator, shards = nodes
    coordinator.query('CREATE TABLE loc (id int) PARTITION BY RANGE (id); '
                      'CREATE TABLE loc_a PARTITION OF loc FOR VALUES FROM (0) TO (10)', dbname=DB)
    shards['pm_s1'].query('CREATE TABLE nokey_p0 (id int, note text); INSERT INTO nokey_p0 VALUES (1, %s)', ('x',),
                          dbname=DB)
    coordinator.query("CREATE TABLE nokey (id int, note text) PARTITION BY HASH (id); CREATE FOREIGN TABLE nokey_p0 "
                      "PARTITION OF nokey FOR VALUES WITH (MODULUS 1, REMAINDER 0) SERVER pm_s1", dbname=DB)
    before = leftovers(shards), tables(shards['pm_s1']), tables(shards['pm_s2'])
    cases = [
        (move_task(coordinator, 'nokey_p0', 'pm_s2'),
         'public.nokey_p0: the source table public.nokey_p0 on server pm_s1 has no primary key and no replica '
         'identity, so its UPDATE and DELETE could not be replicated'),
        (move_task(coordinator, 'nokey_p0', 'pm_s2', 'switch'), 'has no primary key and no replica identity'),
        (move_task(coordinator, 'loc_a', 'pm_s2'),
         'name: public.loc_a is a local partition on the coordinator, not a foreign partition on a shard'),
        (move_task(coordinator, 'loc', 'pm_s2'), 'name: public.loc is not a partition of a declaratively partitioned'),
        (move_task(coordinator, 'missing', 'pm_s2'), 'name: there is no table public.missing in database pmove'),
        (move_task(coordinator, 'items_p0', 'nope'), 'to_server: there is no foreign server nope in database pmove'),
        (move_task(coordinator, 'items_p0', 'pm_s2', 'switch'),
         'public.items_p0 cannot switch to server pm_s2 yet: create the table public.items_p0 on server pm_s2 '
         '(partitioned_table side: shard); create publication pgdist_move_items_p0 of public.items_p0 on server '
         'pm_s1; create subscription pgdist_move_items_p0 to it on server pm_s2 first; nothing was changed'),
    ]
    for task, message in cases:
        run = run_tasks([task])
        assert not run.ok, task
        result = run.results()[0]
        assert message in result['msg'], (message, result['msg'])
    # a target table that already holds rows nobody copies into it
    shards['pm_s2'].query('CREATE TABLE items_p0 (id bigint PRIMARY KEY, payload text, version int NOT NULL DEFAULT 0);'
                          "INSERT INTO items_p0 VALUES (-1, 'stray', 0)", dbname=DB)
    run = run_tasks([move_task(coordinator, 'items_p0', 'pm_s2')])
    assert 'the target table public.items_p0 on server pm_s2 already holds rows and no subscription ' \
           'pgdist_move_items_p0 copies into it' in run.results()[0]['msg'], run.results()[0]['msg']
    shards['pm_s2'].query('DROP TABLE items_p0', dbname=DB)
    assert (leftovers(shards), tables(shards['pm_s1']), tables(shards['pm_s2'])) == before
    assert server_of(coordinator, 'items_p0') == 'pm_s1'


def test_plan_reports_the_steps(nodes):
    coordinator, shards = nodes
    run = run_tasks([move_task(coordinator, 'items_p0', 'pm_s2')])
    assert run.ok, run.stdout[-3000:]
    result = run.results()[0]
    assert not result['changed'] and result['queries'] == []
    assert result['phase'] == 'not_started' and result['publication'] == 'pgdist_move_items_p0'
    assert result['remaining'][:3] == [
        'create the table public.items_p0 on server pm_s2 (partitioned_table side: shard)',
        'create publication pgdist_move_items_p0 of public.items_p0 on server pm_s1',
        'create subscription pgdist_move_items_p0 to it on server pm_s2']
    assert result['kept_as'].startswith('public.items_p0_moved_20')


def test_move_under_writes_keeps_every_row(nodes):
    coordinator, shards = nodes
    writer = Writer(coordinator)
    writer.start()
    time.sleep(1)
    started = time.monotonic()
    run = run_tasks(move_tasks(coordinator, shards, 0, 'pm_s1', 'pm_s2'), verbosity=3)
    took = time.monotonic() - started
    time.sleep(1)
    writer.stop.set()
    writer.join(30)
    assert run.ok, run.stdout[-4000:]
    assert SUPERUSER_PASSWORD not in run.stdout + run.stderr  # the user mappings' and the subscription's password
    assert writer.errors == []
    switch = results(run)['move switch']
    assert switch['changed'] and switch['phase'] == 'switched'
    print('\nmove of items_p0 under writes: %.1fs for the whole playbook, writes paused %.3fs at the switch '
          '(module; %.3fs of it waiting for the last changes), slowest writer statement %.3fs at %s, %d statements by the writer'
          % (took, switch['write_pause'], switch['apply_wait'], writer.slowest[0], writer.slowest[1], writer.statements))
    assert writer.statements > 50
    assert switch['queries'][:3] == ['LOCK TABLE ONLY "public"."items" IN SHARE ROW EXCLUSIVE MODE',
                                     'ALTER FOREIGN TABLE "public"."items_p0" ENABLE TRIGGER USER',
                                     'ALTER TABLE "public"."items" DETACH PARTITION "public"."items_p0"']
    assert server_of(coordinator, 'items_p0') == 'pm_s2'
    # every row the writer committed, nothing else, as the coordinator reads them
    rows = coordinator.query('SELECT id, payload, version FROM items', dbname=DB)
    assert sorted(rows) == sorted((key,) + tuple(value) for key, value in writer.committed.items())
    # the moved partition on its new shard holds exactly the committed rows whose hash says p0
    keys = [row[0] for row in coordinator.query("SELECT g FROM unnest(%s::bigint[]) g WHERE satisfies_hash_partition("
                                                "'items'::regclass, 2, 0, g)", (list(writer.committed),), dbname=DB)]
    moved = shards['pm_s2'].query('SELECT id, payload, version FROM items_p0', dbname=DB)
    assert checksum(moved) == checksum((key,) + tuple(writer.committed[key]) for key in keys)
    assert len(moved) == len(keys)
    # the source table kept under its new name, no slot, publication or subscription left
    kept = switch['kept_as'].split('.')[1]
    assert tables(shards['pm_s1']) == [kept] and tables(shards['pm_s2']) == ['items_p0', 'items_p1']
    assert leftovers(shards) == []
    # a finished move changes nothing, the shard steps are skipped
    again = run_tasks(move_tasks(coordinator, shards, 0, 'pm_s1', 'pm_s2'))
    assert again.ok and again.changed('localhost') == 0, again.stdout[-3000:]
    assert results(again)['move plan']['phase'] == 'done'
    assert results(again)['move plan']['kept_tables'] == [switch['kept_as']]


def test_interrupted_move_resumes_and_converges(nodes):
    coordinator, shards = nodes
    interrupted = run_tasks(move_tasks(coordinator, shards, 1, 'pm_s2', 'pm_s1', upto='subscription'))
    assert interrupted.ok, interrupted.stdout[-3000:]
    assert sorted(leftovers(shards)) == ['publication pgdist_move_items_p1 on pm_s2', 'slot pgdist_move_items_p1 on pm_s2',
                                         'subscription pgdist_move_items_p1 on pm_s1']
    waited = run_tasks([move_task(coordinator, 'items_p1', 'pm_s1', 'wait')])
    assert waited.ok, waited.stdout[-3000:]
    assert waited.results()[0]['phase'] == 'caught_up' and not waited.results()[0]['changed']
    # check mode shows the switch and changes nothing
    state = leftovers(shards), tables(shards['pm_s1']), tables(shards['pm_s2'])
    check = run_tasks([move_task(coordinator, 'items_p1', 'pm_s1', 'switch')], check=True, diff=True)
    assert check.ok, check.stdout[-3000:]
    planned = check.results()[0]
    assert planned['changed'] and planned['write_pause'] is None
    assert planned['queries'][:5] == [
        'LOCK TABLE ONLY "public"."items" IN SHARE ROW EXCLUSIVE MODE',
        'ALTER FOREIGN TABLE "public"."items_p1" ENABLE TRIGGER USER',
        'ALTER TABLE "public"."items" DETACH PARTITION "public"."items_p1"',
        'DROP FOREIGN TABLE "public"."items_p1"',
        'CREATE FOREIGN TABLE "public"."items_p1" PARTITION OF "public"."items" FOR VALUES WITH (modulus 2, '
        'remainder 1) SERVER "pm_s1" OPTIONS ("schema_name" \'public\', "table_name" \'items_p1\')']
    assert planned['source_queries'] == ['ALTER TABLE "public"."items_p1" RENAME TO "%s"'
                                         % planned['kept_as'].split('.')[1]]
    assert planned['diff'] == {'before': {'server': 'pm_s2'}, 'after': {'server': 'pm_s1'}}
    assert (leftovers(shards), tables(shards['pm_s1']), tables(shards['pm_s2'])) == state
    assert server_of(coordinator, 'items_p1') == 'pm_s2'
    # a prepared transaction of the coordinator on the source blocks the switch; writes resume
    shard = shards['pm_s2'].connect(DB)
    with shard.cursor() as cursor:
        cursor.execute("BEGIN; UPDATE items_p1 SET version = version WHERE id = 2; "
                       "PREPARE TRANSACTION 'pgdist_1_2_3_1'")
    try:
        refused = run_tasks([move_task(coordinator, 'items_p1', 'pm_s1', 'switch', switch_timeout=1)])
        message = refused.results()[0]['msg']
        assert not refused.ok and ('prepared transactions of the coordinator are still pending on server pm_s2 after '
                                   '1s (pgdist_1_2_3_1)') in message and 'writes resumed' in message, message
        assert server_of(coordinator, 'items_p1') == 'pm_s2'
        coordinator.query("UPDATE items SET payload = 'after the refusal' WHERE id = 3", dbname=DB)
        # killed while it holds the pause: the coordinator rolls its transaction back, writes go on
        killed = switch_killed_under_lock(coordinator)
        message = killed.results()[0]['msg']
        assert not killed.ok and message.startswith('PostgreSQL refused the change, nothing was applied: server '
                                                    'closed the connection unexpectedly'), message
        assert server_of(coordinator, 'items_p1') == 'pm_s2'
        coordinator.query("UPDATE items SET payload = 'after the kill' WHERE id = 4", dbname=DB)
    finally:
        with shard.cursor() as cursor:
            cursor.execute("ROLLBACK PREPARED 'pgdist_1_2_3_1'")
        shard.close()
    expected = sorted(coordinator.query('SELECT id, payload, version FROM items', dbname=DB))
    resumed = run_tasks(move_tasks(coordinator, shards, 1, 'pm_s2', 'pm_s1'))
    assert resumed.ok, resumed.stdout[-3000:]
    steps = results(resumed)
    assert steps['move plan']['phase'] in ('streaming', 'caught_up') and steps['move switch']['changed']
    assert [steps[name]['changed'] for name in ('target table', 'publication', 'subscription')] == [False] * 3
    assert server_of(coordinator, 'items_p1') == 'pm_s1' and leftovers(shards) == []
    assert sorted(coordinator.query('SELECT id, payload, version FROM items', dbname=DB)) == expected
    print('\ninterrupted move of items_p1 resumed: writes paused %.3fs' % steps['move switch']['write_pause'])


def test_move_back_interrupted_after_the_publication(nodes):
    coordinator, shards = nodes
    first = run_tasks(move_tasks(coordinator, shards, 0, 'pm_s2', 'pm_s1', upto='publication'))
    assert first.ok, first.stdout[-3000:]
    assert leftovers(shards) == ['publication pgdist_move_items_p0 on pm_s2']
    assert results(first)['move plan']['phase'] == 'not_started'
    expected = sorted(coordinator.query('SELECT id, payload, version FROM items', dbname=DB))
    again = run_tasks(move_tasks(coordinator, shards, 0, 'pm_s2', 'pm_s1'))
    assert again.ok, again.stdout[-3000:]
    steps = results(again)
    assert steps['move plan']['phase'] == 'published' and not steps['publication']['changed']
    assert server_of(coordinator, 'items_p0') == 'pm_s1' and leftovers(shards) == []
    assert sorted(coordinator.query('SELECT id, payload, version FROM items', dbname=DB)) == expected
    # both shards keep what the moves left them, under names that say so, until dropped by name
    kept = steps['move switch']['kept_as'].split('.')[1]
    assert kept in tables(shards['pm_s2']) and 'items_p0' in tables(shards['pm_s1'])
    assert len([name for name in tables(shards['pm_s1']) if name.startswith('items_p0_moved_')]) == 1
