"""READ COMMITTED through the coordinator (pgdist.read_committed) on real clusters."""

import threading
import time

import psycopg2
import pytest

from support.pgdist_ext import pgbench, tpcb_invariant


def concurrent_updates(dist, isolation, statement_a, statement_b, read_committed='on'):
    """A updates and holds its transaction for a moment; B updates the same row meanwhile.

    Returns B's outcome: 'committed' or the error."""
    a = dist.coordinator.connect(autocommit=False)
    b = dist.coordinator.connect(autocommit=False)
    outcome = {}
    try:
        for conn in (a, b):
            with conn.cursor() as cursor:
                cursor.execute('SET pgdist.read_committed = %s' % read_committed)
            conn.commit()
            conn.set_session(isolation_level=isolation)
        with a.cursor() as cursor:
            cursor.execute(statement_a)

        def run_b():
            try:
                with b.cursor() as cursor:
                    cursor.execute(statement_b)
                b.commit()
                outcome['b'] = 'committed'
            except psycopg2.Error as exc:
                outcome['b'] = exc
                b.rollback()

        thread = threading.Thread(target=run_b, daemon=True)
        thread.start()
        time.sleep(0.5)          # B now waits for A's row lock on the shard
        a.commit()
        thread.join(10)
        return outcome['b']
    finally:
        a.close()
        b.close()


@pytest.mark.contract
def test_two_read_committed_updates_of_one_row_both_apply(items):
    outcome = concurrent_updates(items, 'READ COMMITTED', "UPDATE items SET v = v || '+a' WHERE id = 1",
                                 "UPDATE items SET v = v || '+b' WHERE id = 1")
    assert outcome == 'committed'
    assert items.coordinator.scalar('SELECT v FROM items WHERE id = 1') == 'init+a+b'


def test_autocommit_updates_of_one_row_both_apply(items):
    items.coordinator.query("UPDATE items SET v = 'x' WHERE id = 2")
    outcome = concurrent_updates(items, 'READ COMMITTED', "UPDATE items SET v = v || '+a' WHERE id = 2",
                                 "UPDATE items SET v = v || '+b' WHERE id = 2")
    assert outcome == 'committed'
    assert items.coordinator.scalar('SELECT v FROM items WHERE id = 2') == 'x+a+b'


def test_read_then_update_in_one_read_committed_transaction(items):
    """A READ COMMITTED transaction that read the row before another one changed it can still update it."""
    conn = items.coordinator.connect(autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute('SELECT v FROM items WHERE id = 3')
            items.coordinator.query("UPDATE items SET v = 'changed' WHERE id = 3")
            cursor.execute("UPDATE items SET v = v || '+mine' WHERE id = 3")
        conn.commit()
    finally:
        conn.close()
    assert items.coordinator.scalar('SELECT v FROM items WHERE id = 3') == 'changed+mine'


@pytest.mark.contract
def test_repeatable_read_still_raises_the_serialization_error(items):
    outcome = concurrent_updates(items, 'REPEATABLE READ', "UPDATE items SET v = v || '+a' WHERE id = 4",
                                 "UPDATE items SET v = v || '+b' WHERE id = 4")
    assert isinstance(outcome, psycopg2.Error) and outcome.pgcode == '40001', outcome


def test_turned_off_read_committed_keeps_postgres_fdw_behaviour(items):
    outcome = concurrent_updates(items, 'READ COMMITTED', "UPDATE items SET v = v || '+a' WHERE id = 5",
                                 "UPDATE items SET v = v || '+b' WHERE id = 5", read_committed='off')
    assert isinstance(outcome, psycopg2.Error) and outcome.pgcode == '40001', outcome


def test_serializable_write_skew_through_the_coordinator_is_still_refused(items):
    """Two doctors on call (rows 6 and 7 on one shard): each checks the other is on call, then leaves."""
    items.coordinator.query("UPDATE items SET v = 'on' WHERE id IN (6, 7)")
    a = items.coordinator.connect(autocommit=False)
    b = items.coordinator.connect(autocommit=False)
    try:
        for conn in (a, b):
            conn.set_session(isolation_level='SERIALIZABLE')
        with a.cursor() as ca, b.cursor() as cb:
            ca.execute("SELECT count(*) FROM items WHERE id IN (6, 7) AND v = 'on'")
            cb.execute("SELECT count(*) FROM items WHERE id IN (6, 7) AND v = 'on'")
            ca.execute("UPDATE items SET v = 'off' WHERE id = 6")
            cb.execute("UPDATE items SET v = 'off' WHERE id = 7")
            a.commit()
            with pytest.raises(psycopg2.Error) as refused:
                b.commit()
        assert refused.value.pgcode == '40001'
    finally:
        a.close()
        b.close()
    assert items.coordinator.scalar("SELECT count(*) FROM items WHERE id IN (6, 7) AND v = 'on'") == 1


def test_pgbench_tpcb_has_no_failed_transactions_at_read_committed(tpcb):
    done = pgbench(tpcb.coordinator, '-c', '4', '-j', '2', '-T', '10', '-n', '--failures-detailed')
    assert done.returncode == 0, done.stdout
    assert 'number of failed transactions: 0 (0.000%)' in done.stdout, done.stdout
    accounts, tellers, branches, history = tpcb_invariant(tpcb.coordinator)
    assert accounts == tellers == branches == history
