"""Atomic commit across shards (pgdist's two-phase commit) on real clusters.

The coordinator preloads pgdist; its three shards are reached through fault
proxies, so a test can hold PREPARE TRANSACTION or COMMIT PREPARED on its
way to a shard and crash the coordinator backend or the shard at exactly
that step. Recovery (the maintenance worker, every second here) must then
bring every shard to the coordinator's outcome.
"""

import contextlib
import os
import signal
import threading
import time

import psycopg2
import pytest

from support.ansible import run_module
from support.pgcluster import wait_for
from support.pgdist_ext import pgbench, tpcb_invariant


def value(dist, key):
    return dist.coordinator.scalar('SELECT v FROM items WHERE id = %s', (key,))


def shard_value(dist, index, key):
    return dist.shards[index].scalar('SELECT v FROM items_s%d WHERE id = %%s' % (index + 1), (key,))


class Committer(threading.Thread):
    """COMMIT of an open transaction in a thread: the test acts while it is in progress."""

    def __init__(self, conn):
        super(Committer, self).__init__(daemon=True)
        self.conn = conn
        self.error = None
        self.start()

    def run(self):
        try:
            self.conn.commit()
        except psycopg2.Error as exc:
            self.error = exc


def open_transaction(dist, statements):
    conn = dist.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return conn


@contextlib.contextmanager
def recovery_paused(dist):
    """The maintenance worker's recovery off: the test runs recovery itself, when it wants to.

    Set back to the interval it had, not RESET: the test cluster's settings are in postgresql.auto.conf too, and
    RESET would leave the 10 s default for every later test."""
    interval = dist.coordinator.scalar('SHOW pgdist.recovery_interval')
    dist.coordinator.query("ALTER SYSTEM SET pgdist.recovery_interval = 0")
    dist.coordinator.query('SELECT pg_reload_conf()')
    try:
        yield
    finally:
        dist.coordinator.query('ALTER SYSTEM SET pgdist.recovery_interval = %s', (interval,))
        dist.coordinator.query('SELECT pg_reload_conf()')


def checkpointer_pid(dist):
    try:
        return dist.coordinator.scalar("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
    except psycopg2.Error:
        return None


def crash_backend(dist, pid):
    """SIGKILL a coordinator backend; returns a test that the postmaster's crash restart is over.

    Until the postmaster has noticed the death, connections still succeed: the restart is over only
    once a new checkpointer answers."""
    before = checkpointer_pid(dist)
    os.kill(pid, signal.SIGKILL)
    return lambda: checkpointer_pid(dist) not in (None, before)


@pytest.mark.contract
def test_two_shards_written_commit_in_two_phases(items):
    before = items.stats()
    with items.coordinator.connect(autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'both' WHERE id IN (1, 100)")
    after = items.stats()
    assert after['two_phase'] == before['two_phase'] + 1
    assert shard_value(items, 0, 1) == shard_value(items, 1, 100) == 'both'
    assert items.prepared() == []


@pytest.mark.contract
def test_one_shard_written_keeps_one_phase_and_read_shards_are_not_prepared(items):
    before = items.stats()
    with items.coordinator.connect(autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM items')            # reads every shard
        cursor.execute("UPDATE items SET v = 'one' WHERE id = 2")  # writes shard 1 only
    after = items.stats()
    assert after['two_phase'] == before['two_phase']
    assert after['one_phase'] == before['one_phase'] + 1
    assert value(items, 2) == 'one'


def test_a_local_write_and_one_shard_commit_in_two_phases(items):
    items.coordinator.query('CREATE TABLE IF NOT EXISTS local_notes (note text)')
    before = items.stats()
    with items.coordinator.connect(autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO local_notes VALUES ('x')")
        cursor.execute("UPDATE items SET v = 'with-local' WHERE id = 3")
    assert items.stats()['two_phase'] == before['two_phase'] + 1


@pytest.mark.contract
@pytest.mark.parametrize('order', [(1, 100), (100, 1)], ids=['failing-shard-last', 'failing-shard-first'])
def test_a_shard_refusing_at_commit_leaves_no_part_committed(items, order):
    """The issue's case: a deferred constraint on shard 2 raises at commit; shard 1's part must not stay."""
    items.as_fdw_user(1, "CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$"
                         " BEGIN IF NEW.v = 'boom' THEN RAISE EXCEPTION 'boom at commit'; END IF; RETURN NULL; END $$;"
                         " CREATE CONSTRAINT TRIGGER boom AFTER UPDATE ON items_s2 DEFERRABLE INITIALLY DEFERRED"
                         " FOR EACH ROW EXECUTE FUNCTION boom()")
    conn = items.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        for key in order:
            cursor.execute("UPDATE items SET v = %s WHERE id = %s", ('boom' if key == 100 else 'atomic-test', key))
    with pytest.raises(psycopg2.Error, match='boom at commit'):
        conn.commit()
    conn.close()
    assert shard_value(items, 0, 1) == 'init'
    assert shard_value(items, 1, 100) == 'init'
    assert items.prepared() == []


def one_prepared_one_held(dist, conn):
    """Holds the PREPARE TRANSACTION of shards 1 and 2, commits conn in a Committer and lets the first PREPARE
    through: returns the Committer, the index of the shard that has its part prepared and the Hold of the other's
    PREPARE, still on its way.

    postgres_fdw sends both PREPAREs at once with parallel_commit (15+), else one after the other, in the order
    of its connection cache."""
    holds = [dist.proxies[i].hold(b'PREPARE TRANSACTION') for i in (0, 1)]
    committer = Committer(conn)
    assert wait_for(lambda: any(hold.reached.is_set() for hold in holds), timeout=10)
    first = 0 if holds[0].reached.is_set() else 1
    holds[first].release()
    assert holds[1 - first].reached.wait(10)
    assert wait_for(lambda: len(dist.shards[first].query('SELECT gid FROM pg_prepared_xacts')) == 1, timeout=10)
    return committer, first, holds[1 - first]


@pytest.mark.contract
def test_backend_killed_after_prepare_before_commit_rolls_back_everywhere(items):
    conn = open_transaction(items, ["UPDATE items SET v = 'lost' WHERE id = 4",
                                    "UPDATE items SET v = 'lost' WHERE id = 104"])
    pid = conn.get_backend_pid()
    committer, _prepared, hold = one_prepared_one_held(items, conn)
    restarted = crash_backend(items, pid)
    hold.release()
    committer.join(10)
    assert committer.error is not None
    assert wait_for(restarted, timeout=30)
    assert wait_for(lambda: items.prepared() == [], timeout=30), items.prepared()
    assert shard_value(items, 0, 4) == 'init'
    assert shard_value(items, 1, 104) == 'init'


def test_recovery_leaves_a_transaction_that_is_still_preparing_alone(items):
    """The newest transaction is past every snapshot's xmax while it prepares: still running, not finished.

    make bench's pgbench lost parts of committed transactions when recovery took such a transaction
    for one a crash had handed back and rolled its prepared parts back."""
    with recovery_paused(items):
        conn = open_transaction(items, ["UPDATE items SET v = 'preparing' WHERE id = 8",
                                        "UPDATE items SET v = 'preparing' WHERE id = 108"])
        committer, prepared, hold = one_prepared_one_held(items, conn)
        assert items.coordinator.query('SELECT server, coordinator_outcome FROM pgdist.prepared_transactions()') \
            == [('s%d' % (prepared + 1), 'in progress')]
        assert items.coordinator.scalar('SELECT pgdist.recover_prepared()') == 0
        assert len(items.shards[prepared].query('SELECT gid FROM pg_prepared_xacts')) == 1
        hold.release()
        committer.join(15)
        assert committer.error is None
        conn.close()
        assert shard_value(items, 0, 8) == shard_value(items, 1, 108) == 'preparing'
        assert items.prepared() == []


@pytest.mark.contract
def test_backend_killed_after_local_commit_commits_everywhere(items):
    hold = items.proxies[1].hold(b'COMMIT PREPARED')
    conn = open_transaction(items, ["UPDATE items SET v = 'kept' WHERE id = 5",
                                    "UPDATE items SET v = 'kept' WHERE id = 105"])
    pid = conn.get_backend_pid()
    committer = Committer(conn)
    assert hold.reached.wait(10)
    restarted = crash_backend(items, pid)
    hold.release()
    committer.join(10)
    assert wait_for(restarted, timeout=30)
    assert wait_for(lambda: items.prepared() == [], timeout=30), items.prepared()
    assert shard_value(items, 0, 5) == 'kept'
    assert shard_value(items, 1, 105) == 'kept'


def test_shard_stopped_between_prepare_and_commit_catches_up_on_recovery(items):
    hold = items.proxies[1].hold(b'COMMIT PREPARED')
    conn = open_transaction(items, ["UPDATE items SET v = 'later' WHERE id = 6",
                                    "UPDATE items SET v = 'later' WHERE id = 106"])
    committer = Committer(conn)
    assert hold.reached.wait(10)
    items.shards[1].stop('immediate')
    hold.release()
    committer.join(15)
    assert not committer.is_alive()
    assert committer.error is None            # decided and committed on the coordinator
    conn.close()
    assert shard_value(items, 0, 6) == 'later'
    items.shards[1].start()
    assert wait_for(lambda: items.prepared() == [], timeout=30), items.prepared()
    assert shard_value(items, 1, 106) == 'later'


def test_in_doubt_transactions_are_reported_with_their_outcome(items):
    hold = items.proxies[2].hold(b'COMMIT PREPARED')
    with recovery_paused(items):
        conn = open_transaction(items, ["UPDATE items SET v = 'doubt' WHERE id = 7",
                                        "UPDATE items SET v = 'doubt' WHERE id = 207"])
        committer = Committer(conn)
        assert hold.reached.wait(10)
        items.shards[2].stop('immediate')
        hold.release()
        committer.join(15)
        items.shards[2].start()
        rows = items.coordinator.query('SELECT server, coordinator_outcome, prepared <= now()'
                                       ' FROM pgdist.prepared_transactions()')
        assert rows == [('s3', 'committed', True)]
        # cluster_info (status.yml) reports it on the coordinator, with its outcome, and on the shard.
        coordinator, run = run_module('cluster_info', dict(db='postgres', gather=['transactions']),
                                      login=items.coordinator.login)
        assert run.ok, run.stdout
        in_doubt = coordinator['pgdist']['in_doubt']
        assert [(t['server'], t['coordinator_outcome']) for t in in_doubt] == [('s3', 'committed')]
        assert in_doubt[0]['gid'].startswith('pgdist_') and in_doubt[0]['age_seconds'] >= 0
        assert coordinator['pgdist']['stats']['two_phase_commits'] >= 1 and coordinator['pgdist']['errors'] == []
        shard, run = run_module('cluster_info', dict(db='postgres', gather=['transactions']),
                                login=items.shards[2].login)
        assert [t['gid'] for t in shard['prepared_transactions']] == [in_doubt[0]['gid']] and shard['pgdist'] is None
        assert items.coordinator.scalar('SELECT pgdist.recover_prepared()') == 1
        assert items.prepared() == []
        assert shard_value(items, 2, 207) == 'doubt'


def test_pgbench_keeps_tpcb_invariant_while_shards_restart(tpcb):
    """tpcb-like through the coordinator while each shard is restarted in turn: no half-committed transaction."""
    dist = tpcb
    before = dist.coordinator.scalar('SELECT count(*) FROM pgbench_history')
    stop = threading.Event()
    runs = []

    def writer():
        while not stop.is_set():
            runs.append(pgbench(dist.coordinator, '-c', '4', '-j', '2', '-T', '3', '-n'))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for shard in dist.shards:
        time.sleep(3)
        shard.stop('fast')
        time.sleep(1)
        shard.start()
    time.sleep(3)
    stop.set()
    thread.join(30)
    during = dist.coordinator.scalar('SELECT count(*) FROM pgbench_history')
    # Every shard back: a run without faults commits again (how much the restarts let through depends on load).
    after = pgbench(dist.coordinator, '-c', '4', '-j', '2', '-t', '50', '-n')
    assert after.returncode == 0, after.stdout
    assert wait_for(lambda: dist.prepared() == [], timeout=30), dist.prepared()
    accounts, tellers, branches, history = tpcb_invariant(dist.coordinator)
    assert accounts == tellers == branches == history
    assert during > before
    assert dist.coordinator.scalar('SELECT count(*) FROM pgbench_history') == during + 4 * 50
