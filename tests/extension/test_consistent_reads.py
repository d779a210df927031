"""Consistent reads across shards (pgdist.consistent_reads, snapshot.c) on real clusters: transfers between accounts
on different shards commit in two phases through the coordinator while readers sum every balance."""

import random
import threading
import time

import psycopg2
import pytest

from support.pgbench_tables import TPCB_SUMS
from support.inthread import InThread
from support.pgdist_ext import pgbench

ACCOUNTS = [1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 200, 201, 202, 203, 204]
BALANCE = 1000
TOTAL = BALANCE * len(ACCOUNTS)
SUM = 'SELECT sum(balance) FROM accounts'


@pytest.fixture()
def accounts(dist):
    """accounts(id, balance): five on each shard (ids 1-99 on shard 1, 100-199 on 2, 200-299 on 3)."""
    dist.distribute('accounts', 'id int NOT NULL, balance bigint NOT NULL', 'id', [(1, 100), (100, 200), (200, 300)])
    dist.coordinator.query('INSERT INTO accounts SELECT unnest(%s::int[]), %s', (ACCOUNTS, BALANCE))
    yield dist
    for proxy in dist.proxies:
        proxy.release_all()


def reader(dist, mode, timeout='5s', isolation='REPEATABLE READ'):
    conn = dist.coordinator.connect()
    with conn.cursor() as cursor:
        cursor.execute("SET pgdist.consistent_reads = '%s'; SET pgdist.consistent_reads_timeout = '%s'"
                       % (mode, timeout))
    conn.autocommit = False
    conn.set_session(isolation_level=isolation)
    return conn


def read_total(conn):
    """The sum of every balance in one transaction of conn."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(SUM)
            return cursor.fetchone()[0]
    finally:
        conn.rollback()


def transfer(conn, source, target, amount):
    with conn.cursor() as cursor:
        cursor.execute('UPDATE accounts SET balance = balance - %s WHERE id = %s', (amount, source))
        cursor.execute('UPDATE accounts SET balance = balance + %s WHERE id = %s', (amount, target))
    conn.commit()


def snapshot_stats(dist):
    return dist.coordinator.query('SELECT consistent_snapshots, snapshot_wait_us, snapshot_pause_us'
                                  ' FROM pgdist.stats()')[0]


@pytest.mark.contract
def test_a_read_between_two_commit_prepared_sees_the_transfer_whole_or_waits(accounts):
    """A transfer from shard 1 to shard 2 is held between its COMMIT PREPAREDs (shard 2's waits at the proxy):
    without the cut a read sees the money gone from shard 1 and not yet on shard 2; with it a read waits for the
    commit (and gives up at its timeout), then sees the total whole."""
    dist = accounts
    writer = dist.coordinator.connect(autocommit=False)
    off, short, on = reader(dist, 'off'), reader(dist, 'repeatable_read', '300ms'), reader(dist, 'repeatable_read')
    try:
        hold = dist.proxies[1].hold(b'COMMIT PREPARED')
        committer = InThread(lambda: transfer(writer, 1, 101, 100))
        assert hold.reached.wait(10)
        assert read_total(off) == TOTAL - 100, 'the torn total this test must be able to see'
        with pytest.raises(psycopg2.Error) as waited:
            read_total(short)
        assert waited.value.pgcode == '55P03'
        assert 'pgdist.consistent_reads_timeout' in waited.value.diag.context
        before = snapshot_stats(dist)
        consistent = InThread(lambda: read_total(on))
        time.sleep(0.5)
        assert consistent.is_alive(), 'the read did not wait for the commit in progress'
        hold.release()
        committer.join(10)
        consistent.join(10)
        assert committer.error is None and consistent.error is None, (committer.error, consistent.error)
        assert consistent.result == TOTAL
        cuts, waited_us, paused_us = [a - b for a, b in zip(snapshot_stats(dist), before)]
        assert cuts == 1 and waited_us >= 400000 and paused_us < waited_us, (cuts, waited_us, paused_us)
    finally:
        for conn in (writer, off, short, on):
            conn.close()
    assert dist.shard_query(1, 'SELECT balance FROM accounts_s2 WHERE id = 101') == [(BALANCE + 100,)]


def run_workload(dist, mode, seconds, readers=2, writers=3, stop_at_torn=False):
    """Transfers between random accounts of two different shards, and readers summing every balance in REPEATABLE
    READ, for `seconds`; returns (totals read, transfers committed)."""
    stop = threading.Event()
    totals = []
    committed = []
    errors = []

    def write(seed):
        rng = random.Random(seed)
        conn = dist.coordinator.connect(autocommit=False)
        try:
            while not stop.is_set():
                source, target = rng.sample(ACCOUNTS, 2)
                if source // 100 == target // 100:
                    continue
                try:
                    transfer(conn, source, target, rng.randint(1, 50))
                    committed.append(1)
                except psycopg2.Error as exc:     # a distributed deadlock or a serialization failure: retried
                    conn.rollback()
                    if exc.pgcode not in ('40P01', '40001'):
                        errors.append(exc)
        finally:
            conn.close()

    def read():
        conn = reader(dist, mode)
        try:
            while not stop.is_set():
                totals.append(read_total(conn))
                if stop_at_torn and totals[-1] != TOTAL:
                    stop.set()
        except psycopg2.Error as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(writers)]
    threads += [threading.Thread(target=read, daemon=True) for reader in range(readers)]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return totals, len(committed)


def test_readers_sum_a_constant_total_while_transfers_commit_across_shards(accounts):
    """Thousands of reads during cross-shard transfers: every total is the one that was put in; with the cut off the
    same workload shows a torn total (it stops at the first, or after 20 s)."""
    torn, _transfers = run_workload(accounts, 'off', 20, stop_at_torn=True)
    assert any(total != TOTAL for total in torn), 'no torn total in %d reads without the cut' % len(torn)
    before = snapshot_stats(accounts)
    totals, transfers = run_workload(accounts, 'repeatable_read', 15)
    cuts = snapshot_stats(accounts)[0] - before[0]
    assert len(totals) >= 1000 and transfers >= 100, (len(totals), transfers)
    assert sorted(set(totals)) == [TOTAL], [t for t in totals if t != TOTAL][:10]
    assert cuts >= len(totals)


def test_a_read_committed_statement_over_several_shards_gets_the_cut_with_all(accounts):
    """pgdist.consistent_reads = all: a single READ COMMITTED read over two shards waits for the commit in progress;
    with repeatable_read (the default) it reads each shard at its own moment."""
    dist = accounts
    writer = dist.coordinator.connect(autocommit=False)
    default, everything = reader(dist, 'repeatable_read'), reader(dist, 'all', '300ms')
    for conn in (default, everything):
        conn.autocommit = True
    try:
        hold = dist.proxies[1].hold(b'COMMIT PREPARED')
        committer = InThread(lambda: transfer(writer, 1, 101, 100))
        assert hold.reached.wait(10)
        with default.cursor() as cursor:
            cursor.execute(SUM)
            assert cursor.fetchone()[0] == TOTAL - 100
            # One shard: no cut, no wait.
            cursor.execute('SELECT sum(balance) FROM accounts WHERE id < 100')
            assert cursor.fetchone()[0] == 5 * BALANCE - 100
        with pytest.raises(psycopg2.Error) as waited:
            with everything.cursor() as cursor:
                cursor.execute(SUM)
        assert waited.value.pgcode == '55P03'
        hold.release()
        committer.join(10)
        assert committer.error is None
        with everything.cursor() as cursor:
            cursor.execute(SUM)
            assert cursor.fetchone()[0] == TOTAL
    finally:
        for conn in (writer, default, everything):
            conn.close()


def test_tpcb_sums_agree_in_every_repeatable_read_transaction_while_pgbench_runs(tpcb):
    """TPC-B's four sums read in one REPEATABLE READ transaction, over and over while pgbench tpcb-like commits
    across shards: they agree every time."""
    dist = tpcb
    stop = threading.Event()
    sums = []

    def read():
        conn = reader(dist, 'repeatable_read')
        try:
            while not stop.is_set():
                with conn.cursor() as cursor:
                    cursor.execute(TPCB_SUMS)
                    sums.append(cursor.fetchone())
                conn.rollback()
        finally:
            conn.close()

    thread = InThread(read)
    run = pgbench(dist.coordinator, '-c', '4', '-j', '2', '-T', '8', '-n', '--max-tries=10')
    stop.set()
    thread.join(30)
    assert run.returncode == 0, run.stdout
    assert thread.error is None, thread.error
    assert len(sums) >= 20
    assert [s for s in sums if len(set(s)) != 1] == []
