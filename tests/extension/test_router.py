"""The router (pgdist.router, router.c over fold.c) on real clusters: round trips counted at each shard's proxy,
and every statement giving the same rows, errors and side effects with the router on and off."""

import psycopg2
import pytest

from support.pgcluster import PG_MAJOR
from support.pgdist_ext import pgbench, tpcb_invariant

START_RR = 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ'
START_RC = 'START TRANSACTION ISOLATION LEVEL READ COMMITTED'


class Session(object):
    """One coordinator session (its postgres_fdw connections stay open: the steady state)."""

    def __init__(self, dist, router='on'):
        self.dist = dist
        self.conn = dist.coordinator.connect()
        # postgres_fdw's sessions of this backend are named pgdist:<system id>:<pid>:<start> (appname.c).
        self.name = ':%d:' % self.conn.get_backend_pid()
        self.run('SET pgdist.router = ' + router)

    def run(self, statement):
        with self.conn.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    def traced(self, statement):
        """(rows, [each shard's round trips], [each shard's texts]) of one statement."""
        for proxy in self.dist.proxies:
            del proxy.traffic[:]
        rows = self.run(statement)
        return rows, [p.round_trips(self.name) for p in self.dist.proxies], [
            p.queries(self.name) for p in self.dist.proxies]

    def traced_trips(self, statement):
        """([each shard's round trips], [each shard's texts]) of one statement."""
        return self.traced(statement)[1:]

    def rule(self, statement):
        """The router's verdict on statement (DEBUG1), with its rows."""
        self.run('SET client_min_messages = debug1')
        del self.conn.notices[:]
        try:
            rows = self.run(statement)
        finally:
            self.run('RESET client_min_messages')
        verdicts = [n.split('pgdist router: ', 1)[1].strip() for n in self.conn.notices if 'pgdist router: ' in n]
        return verdicts, rows

    def close(self):
        self.conn.close()


@pytest.fixture()
def sessions(items):
    opened = []

    def session(router='on'):
        opened.append(Session(items, router))
        return opened[-1]
    yield session
    for s in opened:
        s.close()


def stats(dist):
    row = dist.coordinator.query('SELECT routed_statements, lone_reads, lone_retries, folded_commands FROM pgdist.stats()')
    return dict(zip(('routed', 'lone', 'retries', 'folded'), row[0]))


@pytest.mark.contract
def test_a_point_read_is_one_round_trip_and_five_without_the_router(items, sessions):
    on, off = sessions('on'), sessions('off')
    for s in (on, off):
        s.run('SELECT v FROM items WHERE id = 5')          # connects: the steady state is the next statement
    before = stats(items)
    rows, trips, texts = on.traced('SELECT v FROM items WHERE id = 5')
    assert rows == [('init',)]
    assert trips == [1, 0, 0]
    (text,) = texts[0]
    assert text.startswith(START_RR + '; DECLARE c1 CURSOR FOR\n') and text.endswith('; COMMIT TRANSACTION')
    after = stats(items)
    assert (after['routed'] - before['routed'], after['lone'] - before['lone']) == (1, 1)

    rows, trips, texts = off.traced('SELECT v FROM items WHERE id = 5')
    assert rows == [('init',)]
    assert trips == [5, 0, 0]
    assert [t.split(' ')[0] for t in texts[0]] == ['START', 'DECLARE', 'FETCH', 'CLOSE', 'COMMIT']


@pytest.mark.contract
def test_a_transaction_writing_two_shards_folds_each_start_into_its_update(items, sessions):
    s = sessions()
    s.run('SELECT v FROM items WHERE id IN (5, 105)')
    before = items.stats()
    s.run('BEGIN')
    trips, texts = s.traced_trips("UPDATE items SET v = 'a' WHERE id = 5")
    assert trips == [1, 0, 0] and texts[0][0].startswith(START_RC + '; UPDATE ')
    trips, texts = s.traced_trips("SELECT v FROM items WHERE id = 5")
    assert trips == [1, 0, 0] and texts[0][0].startswith('DECLARE c1 CURSOR FOR\n')
    assert texts[0][0].endswith('; FETCH 10000 FROM c1')
    trips, texts = s.traced_trips("UPDATE items SET v = 'b' WHERE id = 105")
    assert trips == [0, 1, 0] and texts[1][0].startswith(START_RC + '; UPDATE ')
    trips, texts = s.traced_trips('COMMIT')
    # PREPARE and COMMIT PREPARED on each writer; the first one's CLOSE was dropped (the commit closes it).
    assert trips == [2, 2, 0]
    assert texts[0][0].startswith("PREPARE TRANSACTION 'pgdist_")
    assert items.stats()['two_phase'] == before['two_phase'] + 1
    assert items.shard_query(0, 'SELECT v FROM items_s1 WHERE id = 5') == [('a',)]
    assert items.shard_query(1, 'SELECT v FROM items_s2 WHERE id = 105') == [('b',)]
    assert items.prepared() == []


def test_a_read_with_more_rows_than_a_fetch_is_scanned_again_in_a_transaction(items, sessions):
    items.coordinator.query("ALTER FOREIGN TABLE items_s1 OPTIONS (ADD fetch_size '3')")
    on, off = sessions('on'), sessions('off')
    on.run('SELECT v FROM items WHERE id = 5')
    before = stats(items)
    statement = 'SELECT id, v FROM items WHERE id < 50 ORDER BY id'
    rows, trips = on.traced(statement)[:2]
    assert rows == off.run(statement) and len(rows) == 10
    assert stats(items)['retries'] == before['retries'] + 1
    # The lone message, then START+DECLARE+FETCH again, three more FETCHes, CLOSE with the COMMIT's message.
    assert trips[0] == 1 + 1 + 3 + 1


def test_a_lone_read_that_ends_exactly_at_a_fetch_is_scanned_again(items, sessions):
    items.coordinator.query("ALTER FOREIGN TABLE items_s1 OPTIONS (ADD fetch_size '10')")
    on, off = sessions('on'), sessions('off')
    statement = 'SELECT id FROM items WHERE id < 50 ORDER BY id'
    assert on.run(statement) == off.run(statement) == [(i,) for i in range(1, 11)]


STATEMENTS = {
    # statement: the router's verdict
    'SELECT v FROM items WHERE id = 5': 'a lone read, its remote transaction in one message',
    'SELECT id FROM items WHERE id = 7 AND v = \'init\'': 'a lone read, its remote transaction in one message',
    'SELECT count(*), max(v) FROM items WHERE id < 100': 'a lone read, its remote transaction in one message',
    'SELECT id FROM items WHERE id < 100 ORDER BY id DESC LIMIT 3': 'a lone read, its remote transaction in one message',
    'SELECT v FROM items WHERE id > 150 AND id < 160 AND id % 2 = 0': 'a lone read, its remote transaction in one message',
    'SELECT count(*) FROM items': 'fallback, scans',
    'SELECT a.id FROM items a JOIN items b ON a.id = b.id + 100 WHERE a.id = 105': 'fallback, scans',
    'SELECT i.id FROM items i JOIN generate_series(1, 3) g ON i.id = g WHERE i.id < 100': 'fallback, scans',
    'SELECT (SELECT v FROM items WHERE id = 5)': 'fallback, subplans',
    'SELECT v, random() > 2 FROM items WHERE id = 5': 'fallback, local_function',
    'SELECT v FROM items WHERE id = 5 FOR UPDATE': 'fallback, not_a_read',
    "UPDATE items SET v = 'init' WHERE id = 5": 'fallback, not_a_read',
}


@pytest.mark.contract
@pytest.mark.parametrize('statement', sorted(STATEMENTS))
def test_each_statement_gives_the_same_rows_with_the_router_and_without(items, sessions, statement):
    on, off = sessions('on'), sessions('off')
    verdicts, rows = on.rule(statement)
    assert verdicts == [STATEMENTS[statement]]
    assert rows == off.run(statement)


@pytest.mark.parametrize('setup, rule', [
    ('BEGIN', 'transaction_block'),
    ("SET default_transaction_isolation = 'repeatable read'", 'isolation'),
])
def test_a_session_that_is_not_autocommit_read_committed_falls_back(items, sessions, setup, rule):
    on, off = sessions('on'), sessions('off')
    for s in (on, off):
        s.run(setup)
    verdicts, rows = on.rule('SELECT v FROM items WHERE id = 5')
    assert verdicts == ['fallback, ' + rule]
    assert rows == off.run('SELECT v FROM items WHERE id = 5') == [('init',)]


def test_a_hold_cursor_falls_back_and_reads_every_row(items, sessions):
    on = sessions('on')
    verdicts = on.rule('DECLARE c CURSOR WITH HOLD FOR SELECT id FROM items WHERE id < 100 ORDER BY id')[0]
    assert verdicts == ['fallback, cursor']
    assert on.run('FETCH ALL FROM c') == [(i,) for i in range(1, 11)]
    on.run('CLOSE c')


def test_a_read_inside_a_function_falls_back_as_nested(items, sessions):
    items.coordinator.query("CREATE OR REPLACE FUNCTION item_v(k int) RETURNS text LANGUAGE plpgsql AS"
                            " $$ BEGIN RETURN (SELECT v FROM items WHERE id = k); END $$")
    on, off = sessions('on'), sessions('off')
    verdicts, rows = on.rule('SELECT item_v(5)')
    assert 'fallback, nested' in verdicts
    assert rows == off.run('SELECT item_v(5)') == [('init',)]


@pytest.mark.contract
@pytest.mark.parametrize('router', ['on', 'off'])
def test_remote_errors_keep_their_sqlstate_and_leave_nothing_behind(items, sessions, router):
    items.as_fdw_user(0, "ALTER TABLE items_s1 ADD CONSTRAINT not_bad CHECK (v <> 'bad')")
    items.coordinator.query("DROP FOREIGN TABLE IF EXISTS ghost;"
                            " CREATE FOREIGN TABLE ghost (id int) SERVER s1 OPTIONS (table_name 'no_such_table')")
    s = sessions(router)
    for statement, sqlstate in [('SELECT * FROM ghost WHERE id = 1', '42P01'),
                                ("UPDATE items SET v = 'bad' WHERE id = 5", '23514')]:
        for block in (False, True):
            if block:
                s.run('BEGIN')
            with pytest.raises(psycopg2.Error) as failed:
                s.run(statement)
            assert failed.value.pgcode == sqlstate
            if block:
                s.run('ROLLBACK')
            # The session and its connection to the shard go on as before.
            assert s.run('SELECT v FROM items WHERE id = 5') == [('init',)]
    assert items.shard_query(0, 'SELECT count(*) FROM items_s1 WHERE v <> %s', ('init',)) == [(0,)]
    assert items.prepared() == []


def test_a_savepoint_rolled_back_after_a_read_keeps_the_transaction(items, sessions):
    for router in ('on', 'off'):
        s = sessions(router)
        s.run('BEGIN')
        s.run("UPDATE items SET v = 'kept' WHERE id = 5")
        s.run('SAVEPOINT a')
        assert s.run('SELECT v FROM items WHERE id = 5') == [('kept',)]
        s.run("UPDATE items SET v = 'gone' WHERE id = 105")
        s.run('ROLLBACK TO SAVEPOINT a')
        assert s.run('SELECT v FROM items WHERE id IN (5, 105) ORDER BY id') == [('kept',), ('init',)]
        s.run('COMMIT')
        assert items.coordinator.query('SELECT v FROM items WHERE id IN (5, 105) ORDER BY id') == [
            ('kept',), ('init',)]
        items.coordinator.query("UPDATE items SET v = 'init' WHERE id = 5")


def after_restart(dist, s, statement):
    """statement's rows, or its error, right after shard 1 restarted under the session's open connection."""
    s.run('SELECT v FROM items WHERE id = 5')
    dist.shards[0].stop()
    dist.shards[0].start()
    try:
        return s.run(statement)
    except psycopg2.Error as exc:
        return exc.pgcode


@pytest.mark.parametrize('statement', ['SELECT v FROM items WHERE id = 5', "UPDATE items SET v = 'init' WHERE id = 5"])
def test_a_shard_restarted_between_transactions_is_reconnected_as_without_the_router(items, sessions, statement):
    outcomes = [after_restart(items, sessions(router), statement) for router in ('on', 'off')]
    # postgres_fdw reconnects when the START of a transaction fails from 14 on; 13 fails that statement.
    assert outcomes[0] == outcomes[1] == ('08006' if PG_MAJOR < 14 else expected_rows(statement))


def expected_rows(statement):
    return [('init',)] if statement.startswith('SELECT') else 1


@pytest.mark.parametrize('plan', ['force_custom_plan', 'force_generic_plan'])
def test_prepared_statements_give_the_same_rows_and_writes(items, sessions, plan):
    """Generic plans send parameters: their DECLARE and UPDATE cannot ride in a simple message, the START kept
    goes first alone (today's round trip)."""
    results = {}
    for router in ('on', 'off'):
        s = sessions(router)
        s.run('SET plan_cache_mode = ' + plan)
        s.run('PREPARE r(int) AS SELECT v FROM items WHERE id = $1')
        s.run("PREPARE w(int, text) AS UPDATE items SET v = $2 WHERE id = $1")
        rows = [s.run('EXECUTE r(%d)' % key) for key in (5, 105, 205, 6, 106)]
        s.run('BEGIN')
        writes = [s.run("EXECUTE w(%d, '%s')" % (key, router)) for key in (7, 107)]
        rows.append(s.run('EXECUTE r(7)'))
        s.run('COMMIT')
        results[router] = rows, writes, items.coordinator.query('SELECT v FROM items WHERE id IN (7, 107) ORDER BY id')
    for router in ('on', 'off'):
        rows, writes, stored = results[router]
        assert rows == [[('init',)]] * 5 + [[(router,)]] and writes == [1, 1]
        assert stored == [(router,), (router,)]
    assert items.prepared() == []


@pytest.mark.parametrize('router', ['on', 'off'])
def test_pgbench_initialization_through_the_coordinator(tpcb, router):
    """pgbench -i -I G: TRUNCATE of every foreign partition (14+), then the rows, in one transaction."""
    done = pgbench(tpcb.coordinator, '-i', '-q', '-I', 'G', '-s', '1', env=dict(PGOPTIONS='-c pgdist.router=' + router))
    assert done.returncode == 0, done.stdout
    assert tpcb.coordinator.query('SELECT count(*) FROM pgbench_accounts') == [(100000,)]
    assert len(set(tpcb_invariant(tpcb.coordinator))) == 1
    assert tpcb.prepared() == []


@pytest.mark.contract
def test_a_one_row_insert_is_one_round_trip_with_its_start(items, sessions):
    """postgres_fdw's PREPARE, execution and DEALLOCATE become one command with the values inline."""
    on, off = sessions('on'), sessions('off')
    for s in (on, off):
        s.run('SELECT v FROM items WHERE id = 5')
    try:
        on.run('BEGIN')
        trips, texts = on.traced_trips("INSERT INTO items VALUES (50, 'it''s \\ new')")
        assert trips == [1, 0, 0]
        assert texts[0] == [START_RC + "; INSERT INTO public.items_s1(id, v) VALUES ('50',  E'it''s \\\\ new')"]
        on.run('COMMIT')
        off.run('BEGIN')
        trips, texts = off.traced_trips("INSERT INTO items VALUES (51, 'x')")
        assert trips == [4, 0, 0]
        off.run('COMMIT')
        assert items.coordinator.query('SELECT id, v FROM items WHERE id IN (50, 51) ORDER BY id') == [
            (50, "it's \\ new"), (51, 'x')]
    finally:
        items.coordinator.query('DELETE FROM items WHERE id IN (50, 51)')


INSERTS = [
    "INSERT INTO items VALUES (60, NULL) RETURNING id, v",
    "INSERT INTO items VALUES (61, E'tab\\there, quote '' and \"') RETURNING v",
    "INSERT INTO items VALUES (62, 'ünïcødé $1 $$') RETURNING length(v)",
    "INSERT INTO items SELECT g, 'many ' || g FROM generate_series(63, 67) g RETURNING id",
    "INSERT INTO items SELECT g, 'answered early' FROM generate_series(63, 67) g",
    "INSERT INTO items SELECT g, 'two shards' FROM unnest(ARRAY[97, 98, 150, 151]) g RETURNING id",
]
INSERTED = 'id BETWEEN 60 AND 67 OR id IN (97, 98, 150, 151)'


@pytest.mark.contract
@pytest.mark.parametrize('statement', INSERTS)
def test_inserts_give_the_same_rows_and_writes_with_the_router_and_without(items, sessions, statement):
    # batch_size 1: each row is an execution of one prepared statement (the second one is prepared on the shard).
    (options,) = items.coordinator.query("SELECT srvoptions FROM pg_foreign_server WHERE srvname = 's1'")[0]
    batch_size = [o.split('=', 1)[1] for o in options if o.startswith('batch_size=')]
    items.coordinator.query("ALTER SERVER s1 OPTIONS (%s batch_size '1')" % ('SET' if batch_size else 'ADD'))
    results = {}
    try:
        for router in ('on', 'off'):
            s = sessions(router)
            for block in (False, True):
                if block:
                    s.run('BEGIN')
                returned = s.run(statement)
                stored = s.run('SELECT id, v FROM items WHERE %s ORDER BY id' % INSERTED)
                s.run('ROLLBACK' if block else 'DELETE FROM items WHERE ' + INSERTED)
                results[router, block] = returned, stored
    finally:
        items.coordinator.query("ALTER SERVER s1 OPTIONS (%s)" % (
            "SET batch_size '%s'" % batch_size[0] if batch_size else 'DROP batch_size'))
    assert results['on', False] == results['off', False] == results['on', True] == results['off', True]
    assert results['on', False][0] != []
    assert items.prepared() == []


@pytest.mark.contract
@pytest.mark.parametrize('router', ['on', 'off'])
def test_an_insert_refused_by_the_shard_keeps_its_sqlstate(items, sessions, router):
    items.as_fdw_user(0, "ALTER TABLE items_s1 ADD CONSTRAINT no_bad_insert CHECK (v <> 'refused')")
    s = sessions(router)
    try:
        for block in (False, True):
            if block:
                s.run('BEGIN')
            with pytest.raises(psycopg2.Error) as failed:
                s.run("INSERT INTO items VALUES (70, 'refused')")
            assert failed.value.pgcode == '23514'
            if block:
                s.run('ROLLBACK')
            assert s.run("INSERT INTO items VALUES (71, 'fine') RETURNING v") == [('fine',)]
            s.run('DELETE FROM items WHERE id = 71')
    finally:
        items.as_fdw_user(0, 'ALTER TABLE items_s1 DROP CONSTRAINT no_bad_insert')
        items.coordinator.query('DELETE FROM items WHERE id IN (70, 71)')
    assert items.prepared() == []
