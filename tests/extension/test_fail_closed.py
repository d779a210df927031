"""A commit that does not go as pgdist's contract with postgres_fdw says is refused, with nothing committed.

pgdist.test_contract_break (superuser, for tests only) makes pgdist see postgres_fdw break the contract:
commit_text: pgdist expects another commit text than postgres_fdw's COMMIT TRANSACTION (a postgres_fdw
that changed it); callback_order: pgdist's pre-commit callback is not registered in the session, so
postgres_fdw commits before pgdist decided; prepare_answer: the shards' answers to PREPARE TRANSACTION go
unseen, so after postgres_fdw's commit no writer is known to be prepared.
"""

import psycopg2
import pytest

REFUSALS = {
    'commit_text': r'refusing to send \'COMMIT TRANSACTION\' to server "s[12]" \(127\.0\.0\.1:\d+, database postgres\)'
                   r' while this transaction commits in two phases',
    'callback_order': r'postgres_fdw commits on server "s[12]" \(127\.0\.0\.1:\d+, database postgres\) before pgdist'
                      r' has decided how to commit',
    'prepare_answer': r'server "s[12]" \(127\.0\.0\.1:\d+, database postgres\) wrote in this transaction and is not'
                      r' prepared',
}


def shard_value(dist, index, key):
    return dist.shards[index].scalar('SELECT v FROM items_s%d WHERE id = %%s' % (index + 1), (key,))


def broken_session(dist, mode):
    """A new coordinator session (no postgres_fdw connection yet) in which pgdist sees the contract broken."""
    conn = dist.coordinator.connect(autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute('SET pgdist.test_contract_break = %s', (mode,))
    conn.autocommit = False
    return conn


@pytest.mark.parametrize('mode', sorted(REFUSALS))
@pytest.mark.contract
def test_a_two_shard_commit_is_refused_with_nothing_committed_anywhere(items, mode):
    before = items.stats()
    records = items.coordinator.scalar('SELECT count(*) FROM pgdist.commit_records')
    conn = broken_session(items, mode)
    try:
        with conn.cursor() as cursor:
            cursor.execute("UPDATE items SET v = 'half' WHERE id IN (1, 100)")
        with pytest.raises(psycopg2.Error, match=REFUSALS[mode]) as refused:
            conn.commit()
        assert refused.value.pgcode == 'HV000'
        if mode == 'prepare_answer':
            assert 'is sent PREPARE TRANSACTION, its answer unseen' in refused.value.diag.message_detail
    finally:
        conn.close()
    assert (shard_value(items, 0, 1), shard_value(items, 1, 100)) == ('init', 'init')
    assert items.prepared() == []
    # The commit record written at the decision went with the local transaction (recovery only deletes others).
    assert items.coordinator.scalar('SELECT count(*) FROM pgdist.commit_records') <= records
    # Only commit_text and prepare_answer got as far as the decision.
    assert items.stats()['two_phase'] == before['two_phase'] + (0 if mode == 'callback_order' else 1)


def test_a_one_shard_commit_does_not_depend_on_the_commit_text(items):
    conn = broken_session(items, 'commit_text')
    try:
        with conn.cursor() as cursor:
            cursor.execute("UPDATE items SET v = 'one shard' WHERE id = 2")
        conn.commit()
    finally:
        conn.close()
    assert shard_value(items, 0, 2) == 'one shard'


def test_a_one_shard_commit_is_refused_when_postgres_fdw_commits_before_the_decision(items):
    conn = broken_session(items, 'callback_order')
    try:
        with conn.cursor() as cursor:
            cursor.execute("UPDATE items SET v = 'undecided' WHERE id = 3")
        with pytest.raises(psycopg2.Error, match=REFUSALS['callback_order']):
            conn.commit()
    finally:
        conn.close()
    assert shard_value(items, 0, 3) == 'init'


def test_the_setting_is_for_superusers_only(items):
    items.coordinator.query('DROP ROLE IF EXISTS plain_user; CREATE ROLE plain_user LOGIN')
    conn = items.coordinator.connect(autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute('SET ROLE plain_user')
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute("SET pgdist.test_contract_break = 'commit_text'")
    finally:
        conn.close()
        items.coordinator.query('DROP ROLE plain_user')
