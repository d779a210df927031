"""Distributed deadlocks and orphaned shard sessions (pgdist's maintenance worker) on real clusters."""

import os
import signal
import subprocess
import threading
import time

import psycopg2
import pytest

from support.ansible import run_module
from support.pgcluster import PG_MAJOR, SUPERUSER_PASSWORD, wait_for
from support.pgdist_ext import pgbench, tpcb_invariant


class Session(threading.Thread):
    """One coordinator transaction run to its end in a thread: outcome is 'committed' or the error.

    A step is a statement, or a callable run between statements (a barrier, an event)."""

    def __init__(self, dist, statements):
        super(Session, self).__init__(daemon=True)
        self.dist = dist
        self.statements = statements
        self.outcome = None
        self.start()

    def run(self):
        conn = self.dist.coordinator.connect(autocommit=False)
        try:
            with conn.cursor() as cursor:
                for step in self.statements:
                    if callable(step):
                        step()
                    else:
                        cursor.execute(step)
            conn.commit()
            self.outcome = 'committed'
        except psycopg2.Error as exc:
            self.outcome = exc
        finally:
            conn.close()


def update(key, tag):
    return "UPDATE items SET v = '%s' WHERE id = %d" % (tag, key)


def lock_waiters(cluster):
    return cluster.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")


def nobody_waits(dist):
    return all(lock_waiters(c) == 0 for c in [dist.coordinator] + dist.shards)


def run_cycle(dist, keys):
    """One session per key pair (a, b): update a, wait until every session holds its first row, update b.

    The pairs form a cycle, however slowly the sessions start."""
    barrier = threading.Barrier(len(keys), timeout=30)
    sessions = [Session(dist, [update(first, 's%d' % i), barrier.wait, update(second, 's%d' % i)])
                for i, (first, second) in enumerate(keys)]
    started = time.time()
    for session in sessions:
        session.join(30)
    assert all(not s.is_alive() for s in sessions), 'a session still waits after 30 s'
    return sessions, time.time() - started


def deadlock_errors(sessions):
    return [s.outcome for s in sessions if isinstance(s.outcome, psycopg2.Error)]


@pytest.mark.contract
def test_opposite_order_updates_end_with_one_deadlock_error_and_one_commit(items):
    sessions, elapsed = run_cycle(items, [(1, 100), (100, 1)])
    errors = deadlock_errors(sessions)
    assert len(errors) == 1, [s.outcome for s in sessions]
    assert [s.outcome for s in sessions].count('committed') == 1
    error = errors[0]
    assert error.pgcode == '40P01'
    assert 'distributed deadlock detected' in error.pgerror
    detail = error.diag.message_detail
    assert 'server "s1"' in detail and 'server "s2"' in detail, detail
    assert 'public.items_s1' in detail and 'public.items_s2' in detail, detail
    assert elapsed < 30
    assert wait_for(lambda: nobody_waits(items), timeout=10)


def test_three_sessions_over_three_shards(items):
    sessions = run_cycle(items, [(1, 100), (100, 200), (200, 1)])[0]
    errors = deadlock_errors(sessions)
    assert len(errors) == 1 and errors[0].pgcode == '40P01', [s.outcome for s in sessions]
    assert [s.outcome for s in sessions].count('committed') == 2
    assert all('server "s%d"' % n in errors[0].diag.message_detail for n in (1, 2, 3))
    assert wait_for(lambda: nobody_waits(items), timeout=10)


def test_the_youngest_transaction_is_the_one_cancelled(items):
    older_began = threading.Event()
    barrier = threading.Barrier(2, timeout=30)
    older = Session(items, [update(2, 'old'), older_began.set, barrier.wait, update(101, 'old')])
    assert older_began.wait(30)
    younger = Session(items, [update(101, 'young'), barrier.wait, update(2, 'young')])
    older.join(30)
    younger.join(30)
    assert older.outcome == 'committed'
    assert younger.outcome.pgcode == '40P01'


def test_lock_waits_lists_both_ends_of_a_cross_shard_wait(items):
    holder = items.coordinator.connect(autocommit=False)
    with holder.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'held' WHERE id = 3")
    waiter = Session(items, ["UPDATE items SET v = 'waits' WHERE id = 3"])
    try:
        rows = wait_for(lambda: items.coordinator.query(
            "SELECT waiting_pid, blocked_by, location FROM pgdist.lock_waits('0.5 s')"), timeout=10)
        assert len(rows) == 1
        waiting_pid, blocked_by, location = rows[0]
        assert blocked_by == 'process %d' % holder.get_backend_pid()
        assert location == 'server "s1" (public.items_s1)'
        assert waiting_pid != holder.get_backend_pid()
        # cluster_info (status.yml) reports the same wait once it is older than lock_wait_min.
        time.sleep(1)
        info, run = run_module('cluster_info', dict(db='postgres', gather=['transactions'], lock_wait_min=1),
                               login=items.coordinator.login)
        assert run.ok, run.stdout
        waits = info['pgdist']['lock_waits']
        assert [(w['waiting_pid'], w['blocked_by'], w['location']) for w in waits] == [rows[0]]
        assert waits[0]['waited_seconds'] >= 1
    finally:
        holder.rollback()
        holder.close()
        waiter.join(10)


def test_twenty_deadlocks_while_pgbench_writes_keep_tpcb_invariant(tpcb, items):
    dist = tpcb
    written = dist.coordinator.scalar('SELECT count(*) FROM pgbench_history')
    stop = threading.Event()

    def write():
        """Short pgbench runs back to back until the rounds are over (a fixed -T outlasted them by half a minute)."""
        while not stop.is_set():
            pgbench(dist.coordinator, '-c', '2', '-j', '2', '-T', '3', '-n')

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    before = dist.stats()['deadlocks']
    try:
        for round_ in range(20):
            sessions = run_cycle(items, [(4 + round_ % 5, 104), (104, 4 + round_ % 5)])[0]
            assert len(deadlock_errors(sessions)) == 1, (round_, [s.outcome for s in sessions])
    finally:
        stop.set()
        writer.join(30)
    assert dist.stats()['deadlocks'] == before + 20
    accounts, tellers, branches, history = tpcb_invariant(dist.coordinator)
    assert accounts == tellers == branches == history
    assert dist.coordinator.scalar('SELECT count(*) FROM pgbench_history') > written + 100


# Orphaned shard sessions ------------------------------------------------------

def shard_locks_of(dist, index, key):
    """True while some session holds a lock on row `key` of shard `index` (a FOR UPDATE that cannot wait says)."""
    conn = dist.shards[index].connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
            cursor.execute('BEGIN')
            try:
                cursor.execute('SELECT 1 FROM items_s%d WHERE id = %%s FOR UPDATE' % (index + 1), (key,))
                return False
            except psycopg2.errors.LockNotAvailable:
                return True
            finally:
                cursor.execute('ROLLBACK')
    finally:
        conn.close()


def holder_psql(dist, statements):
    """A psql client holding a transaction open on the coordinator, as an application would."""
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    proc = subprocess.Popen(['psql', '-X', '-q',
                             '-h', dist.coordinator.host, '-p', str(dist.coordinator.port), '-U', 'postgres',
                             'postgres'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, universal_newlines=True)
    proc.stdin.write(''.join(s + ';\n' for s in statements))
    proc.stdin.flush()
    return proc


@pytest.mark.skipif(PG_MAJOR < 14, reason='PostgreSQL 13 has no client_connection_check_interval: a backend whose '
                    'client left goes on waiting until its lock is granted (README: pgdist_client_connection_check_interval)')
def test_client_killed_while_its_backend_waits_releases_shard_locks(items):
    holder = items.coordinator.connect(autocommit=False)
    with holder.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'held' WHERE id = 5")
    client = holder_psql(items, ['BEGIN', "UPDATE items SET v = 'orphan' WHERE id = 6",
                                 "UPDATE items SET v = 'orphan' WHERE id = 5"])
    try:
        assert wait_for(lambda: shard_locks_of(items, 0, 6), timeout=10)
        killed = time.time()
        client.kill()
        # client_connection_check_interval (1 s here) lets the waiting backend notice its client left.
        assert wait_for(lambda: not shard_locks_of(items, 0, 6), timeout=20)
        assert time.time() - killed < 20
    finally:
        holder.rollback()
        holder.close()


def test_coordinator_stopped_immediately_releases_shard_locks(items):
    conn = items.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'gone' WHERE id = 7")
    assert shard_locks_of(items, 0, 7)
    items.coordinator.stop('immediate')
    try:
        assert wait_for(lambda: not shard_locks_of(items, 0, 7), timeout=20)
    finally:
        items.coordinator.start()
    assert items.shards[0].scalar("SELECT v FROM items_s1 WHERE id = 7") == 'init'


@pytest.mark.contract
def test_frozen_coordinator_backend_loses_its_shard_sessions(items):
    conn = items.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'frozen' WHERE id = 8")
    pid = conn.get_backend_pid()
    assert shard_locks_of(items, 0, 8)
    os.kill(pid, signal.SIGSTOP)
    try:
        frozen = time.time()
        # pgdist.frozen_backend_timeout is 3 s here, the orphan pass runs every second.
        assert wait_for(lambda: not shard_locks_of(items, 0, 8), timeout=30)
        assert time.time() - frozen >= 3
    finally:
        os.kill(pid, signal.SIGCONT)
    with pytest.raises(psycopg2.Error):
        with conn.cursor() as cursor:
            cursor.execute("UPDATE items SET v = 'after' WHERE id = 8")
            conn.commit()
    conn.close()
    assert items.shards[0].scalar("SELECT v FROM items_s1 WHERE id = 8") == 'init'
    assert items.stats()['orphans'] >= 1


def test_a_running_backend_keeps_its_idle_shard_sessions(items):
    conn = items.coordinator.connect(autocommit=False)
    with conn.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'alive' WHERE id = 9")
        time.sleep(6)           # idle in transaction on shard 1 well past the frozen timeout
        cursor.execute("UPDATE items SET v = 'alive' WHERE id = 109")
    conn.commit()
    conn.close()
    assert items.shards[0].scalar("SELECT v FROM items_s1 WHERE id = 9") == 'alive'


def test_a_backend_started_during_the_orphan_pass_keeps_its_shard_session(items):
    """The pass lists each shard's sessions, then looks for their owners: one that started since it began is alive."""
    first = items.coordinator.connect(autocommit=False)
    with first.cursor() as cursor:
        # Idle in transaction on shard 1: the pass looks up its owner there, before it lists shard 3's sessions.
        cursor.execute("UPDATE items SET v = 'early' WHERE id = 5")
    listing = items.proxies[2].hold(b'starts_with(application_name')
    assert listing.reached.wait(10), 'no orphan pass reached shard 3'
    second = items.coordinator.connect(autocommit=False)
    with second.cursor() as cursor:
        cursor.execute("UPDATE items SET v = 'late' WHERE id = 205")
        listing.release()
        time.sleep(2)           # that pass ends, and the next one runs
        cursor.execute("UPDATE items SET v = 'late' WHERE id = 206")
    second.commit()
    first.commit()
    for conn in (first, second):
        conn.close()
    assert items.shards[2].query('SELECT id, v FROM items_s3 WHERE id IN (205, 206) ORDER BY id') == [
        (205, 'late'), (206, 'late')]
