"""key_update on real shards: by default no row trigger on the foreign partitions, so an UPDATE or a
DELETE by key through the coordinator is one remote statement, and a key change that would put a
row on another partition is refused by the shard's key guard with a message saying what to do;
key_update: move moves the row across shards; switching back converges, then changes nothing."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptkey'
SERVERS = {'pk_shard1': 'shard1', 'pk_shard2': 'shard2'}
COLUMNS = [{'name': 'id', 'type': 'bigint', 'nullable': False}, {'name': 'payload', 'type': 'text'}]
PARTITIONS = [{'name': 'accounts_p%d' % r, 'modulus': 2, 'remainder': r, 'server': 'pk_shard%d' % (r + 1)}
              for r in range(2)]


def coordinator_task(clusters, **extra):
    args = dict(clusters['coordinator'].login, db=DB, name='accounts', columns=COLUMNS,
                partition_by={'method': 'hash', 'key': 'id'}, partitions=PARTITIONS)
    args.update(extra)
    return {'name': 'coordinator', 'pgdist.cluster.partitioned_table': args}


def shard_tasks(clusters):
    return [{'name': 'shard %s' % shard, 'pgdist.cluster.partitioned_table': dict(
        clusters[shard].login, db=DB, name='accounts', side='shard', columns=COLUMNS, primary_key=['id'],
        partition_by={'method': 'hash', 'key': 'id'},
        partitions=[dict(part, server=None) for part in PARTITIONS if part['server'] == server])}
        for server, shard in sorted(SERVERS.items())]


def explain(coordinator, statement):
    return '\n'.join(row[0] for row in coordinator.query('EXPLAIN (VERBOSE, COSTS OFF) ' + statement, dbname=DB))


def where(coordinator, key):
    """The partition holding key (by the coordinator's own routing)."""
    return coordinator.scalar('SELECT tableoid::regclass::text FROM accounts WHERE id = %s', (key,), dbname=DB)


def key_in(coordinator, remainder, above):
    """A key above `above` that hashes to remainder, as the coordinator routes it."""
    return coordinator.scalar("SELECT g FROM generate_series(%s::bigint, %s + 1000) g WHERE satisfies_hash_partition("
                              "'accounts'::regclass, 2, %s, g) LIMIT 1", (above + 1, above, remainder), dbname=DB)


def triggers(coordinator):
    # A partition's clone of its parent's trigger is tgisinternal up to PostgreSQL 14 (tgparentid names the parent's).
    return coordinator.query("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal "
                             "OR tgparentid <> 0 ORDER BY 1, 2", dbname=DB)


@pytest.fixture(scope='module')
def deployed(clusters):
    fdw_database(DB, clusters['coordinator'], dict((server, clusters[shard]) for server, shard in SERVERS.items()))
    run = run_tasks(shard_tasks(clusters) + [coordinator_task(clusters)])
    assert run.ok, run.stdout
    clusters['coordinator'].query("INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 40) g", dbname=DB)
    return clusters


def test_update_and_delete_by_key_are_one_remote_statement(deployed):
    coordinator = deployed['coordinator']
    assert triggers(coordinator) == []
    update = explain(coordinator, "UPDATE accounts SET payload = 'x' WHERE id = 5")
    assert 'Foreign Update on public.' in update and 'Remote SQL: UPDATE public.accounts_p' in update, update
    assert 'FOR UPDATE' not in update and 'ctid' not in update, update
    delete = explain(coordinator, 'DELETE FROM accounts WHERE id = 5')
    assert 'Foreign Delete on public.' in delete and 'Remote SQL: DELETE FROM public.accounts_p' in delete, delete
    assert 'FOR UPDATE' not in delete and 'ctid' not in delete, delete
    coordinator.query("UPDATE accounts SET payload = 'x' WHERE id = 5", dbname=DB)
    assert coordinator.scalar('SELECT payload FROM accounts WHERE id = 5', dbname=DB) == 'x'


def test_key_change_to_another_partition_is_refused_clearly(deployed):
    coordinator = deployed['coordinator']
    home = where(coordinator, 7)
    remainder = int(home[-1])
    elsewhere = key_in(coordinator, 1 - remainder, 100)
    with pytest.raises(psycopg2.errors.CheckViolation) as info:
        coordinator.query('UPDATE accounts SET id = %s WHERE id = 7', (elsewhere,), dbname=DB)
    error = info.value
    assert error.diag.message_primary == (
        'pgdist: this UPDATE would put a row of public.accounts outside its partition: the new key (id) = (%d) '
        'does not belong in public.%s on this shard' % (elsewhere, home))
    assert 'set key_update: move for public.accounts' in error.diag.message_hint
    assert where(coordinator, 7) == home and where(coordinator, elsewhere) is None
    # a key change that keeps the row in its partition is an ordinary UPDATE
    same = key_in(coordinator, remainder, 200)
    coordinator.query('UPDATE accounts SET id = %s WHERE id = 7', (same,), dbname=DB)
    assert where(coordinator, same) == home


def test_move_opt_in_moves_rows_then_off_again_converges(deployed):
    coordinator = deployed['coordinator']
    on = run_tasks([coordinator_task(deployed, key_update='move')] * 2)
    assert on.ok, on.stdout
    first, second = on.results()
    assert first['changed'] and not second['changed']
    assert triggers(coordinator) == [('accounts', 'pgdist_move'), ('accounts_p0', 'pgdist_move'),
                                     ('accounts_p1', 'pgdist_move')]
    # the documented cost: a row trigger on a foreign table means a FOR UPDATE scan plus an UPDATE per ctid
    assert 'FOR UPDATE' in explain(coordinator, "UPDATE accounts SET payload = 'y' WHERE id = 9")
    home = where(coordinator, 9)
    elsewhere = key_in(coordinator, 1 - int(home[-1]), 300)
    coordinator.query('UPDATE accounts SET id = %s WHERE id = 9', (elsewhere,), dbname=DB)
    moved_to = where(coordinator, elsewhere)
    assert moved_to != home and where(coordinator, 9) is None
    shard = deployed['shard%d' % (int(moved_to[-1]) + 1)]
    assert shard.scalar('SELECT payload FROM %s WHERE id = %%s' % moved_to, (elsewhere,), dbname=DB) == 'a9'
    # off again, as a re-run over a deployment made before key_update existed: the trigger goes, then nothing
    check = run_tasks([coordinator_task(deployed)], check=True)
    assert check.results()[0]['queries'] == ['DROP TRIGGER "pgdist_move" ON "public"."accounts"',
                                             'DROP FUNCTION "public"."accounts_pgdist_move"()']
    assert len(triggers(coordinator)) == 3
    off = run_tasks([coordinator_task(deployed)] * 2)
    assert off.ok, off.stdout
    assert [result['changed'] for result in off.results()] == [True, False]
    assert triggers(coordinator) == []
    assert coordinator.scalar("SELECT count(*) FROM pg_proc WHERE proname = 'accounts_pgdist_move'", dbname=DB) == 0
    assert 'ctid' not in explain(coordinator, "UPDATE accounts SET payload = 'z' WHERE id = 11")


def test_shard_without_a_guard_gets_it_then_changes_nothing(deployed):
    shard = deployed['shard1']
    guard = shard.scalar("SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts_p0'::regclass", dbname=DB)
    assert guard.startswith('pgdist_key_')
    # as a shard built before key guards existed
    shard.query('DROP TRIGGER %s ON accounts_p0; DROP FUNCTION accounts_pgdist_key_guard()' % guard, dbname=DB)
    run = run_tasks(shard_tasks(deployed)[:1] * 2)
    assert run.ok, run.stdout
    first, second = run.results()
    assert first['changed'] and not second['changed']
    assert len(first['queries']) == 2
    assert first['queries'][0].startswith('CREATE OR REPLACE FUNCTION "public"."accounts_pgdist_key_guard"()')
    assert first['queries'][1].startswith('CREATE TRIGGER "%s" BEFORE UPDATE OF "id" ON "public"."accounts_p0" '
                                          'FOR EACH ROW WHEN (NOT COALESCE(satisfies_hash_partition(' % guard)
    # a direct UPDATE of a non-key column on the shard does not reach the guard
    shard.query("UPDATE accounts_p0 SET payload = payload || '!'", dbname=DB)


def test_analyze_refreshes_statistics_without_a_change(deployed):
    coordinator = deployed['coordinator']
    # Never analyzed: -1 from PostgreSQL 14 on, 0 before.
    assert coordinator.scalar("SELECT reltuples FROM pg_class WHERE relname = 'accounts_p0'", dbname=DB) <= 0
    run = run_tasks([coordinator_task(deployed, analyze=True)])
    assert run.ok, run.stdout
    result = run.results()[0]
    assert result['changed'] is False and result['queries'] == ['ANALYZE "public"."accounts"']
    counted = coordinator.query("SELECT relname, reltuples FROM pg_class WHERE relname LIKE 'accounts_p_' ORDER BY 1",
                                dbname=DB)
    assert sum(tuples for name, tuples in counted) == 40 and all(tuples > 0 for name, tuples in counted)


# -- shard tables made by hand, as in the seeds ----------------------------------------------------------

SEED_DB = 'ptkeyseed'
SEED_SERVERS = {'paris': 'shard1', 'lagos': 'shard2'}
BOOKSAMPLE = [{'name': 'id', 'type': 'int'}, {'name': 'state', 'type': 'varchar'},
              {'name': 'location', 'type': 'varchar'}]


def booksample(clusters, side='coordinator', partitioning='declarative', server=None, **extra):
    """The seed's booksample by location; on a shard (server given) only that server's partition."""
    parts = [{'name': 'booksample_%s' % site, 'values': [site], 'server': site} for site in sorted(SEED_SERVERS)]
    if server:
        parts = [dict(part, server=None) for part in parts if part['server'] == server]
    cluster = clusters[SEED_SERVERS[server]] if server else clusters['coordinator']
    args = dict(cluster.login, db=SEED_DB, name='booksample', side=side, partitioning=partitioning,
                columns=BOOKSAMPLE, partition_by={'method': 'list', 'key': 'location'}, partitions=parts)
    args.update(extra)
    return {'name': 'booksample %s %s' % (side, server or ''), 'pgdist.cluster.partitioned_table': args}


def counts(coordinator):
    """Per location: rows counted with pruning to the location's partition, and without (an expression)."""
    return dict((site, (coordinator.scalar('SELECT count(*) FROM booksample WHERE location = %s', (site,),
                                           dbname=SEED_DB),
                        coordinator.scalar("SELECT count(*) FROM booksample WHERE location || '' = %s", (site,),
                                           dbname=SEED_DB)))
                for site in sorted(SEED_SERVERS))


@pytest.fixture()
def hand_made(clusters):
    """The seed's sites: each shard table created by hand, without a CHECK, holding its rows."""
    fdw_database(SEED_DB, clusters['coordinator'], dict((site, clusters[shard]) for site, shard in SEED_SERVERS.items()))
    for site, number in (('paris', 1), ('lagos', 2)):
        sql = ('CREATE TABLE booksample_%s (id int, state varchar, location varchar); '
               "INSERT INTO booksample_%s VALUES (%d, 'new', '%s')" % (site, site, number, site))
        clusters[SEED_SERVERS[site]].query(sql, dbname=SEED_DB)
    return clusters


@pytest.mark.parametrize('partitioning', ['declarative', 'inheritance'])
def test_unguarded_shard_tables_are_refused_then_guarded_by_side_shard(hand_made, partitioning):
    """The issue's finding: UPDATE booksample SET location = 'paris' on a row of booksample_lagos left it on
    Lagos, hidden from the pruned count. Without the coordinator extension, key_update: refuse is refused
    until each shard table refuses rows outside its bounds; side: shard adds that to the hand-made tables."""
    coordinator = hand_made['coordinator']
    refused = run_tasks([booksample(hand_made, partitioning=partitioning)])
    assert not refused.ok
    message = refused.results()[0]['msg']
    assert message.startswith('key_update: refuse cannot be honoured: the shard table of booksample_lagos '
                              '(public.booksample_lagos on lagos), booksample_paris (public.booksample_paris on '
                              'paris) has no pgdist bounds CHECK'), message
    assert message.endswith('nothing was changed')
    assert coordinator.scalar("SELECT to_regclass('booksample') IS NULL", dbname=SEED_DB)
    guard = run_tasks([booksample(hand_made, side='shard', partitioning=partitioning, server=site)
                       for site in sorted(SEED_SERVERS)] + [booksample(hand_made, partitioning=partitioning)] * 2)
    assert guard.ok, guard.stdout
    assert [result['changed'] for result in guard.results()] == [True, True, True, False]
    assert all(not result.get('warnings') for result in guard.results()), guard.results()
    before = counts(coordinator)
    assert before == {'lagos': (1, 1), 'paris': (1, 1)}
    with pytest.raises(psycopg2.errors.CheckViolation, match='outside its partition'):
        coordinator.query("UPDATE booksample SET location = 'paris' WHERE id = 2", dbname=SEED_DB)
    assert counts(coordinator) == before


def test_key_update_move_over_unguarded_shard_tables_moves_the_row_with_a_warning(hand_made):
    coordinator = hand_made['coordinator']
    run = run_tasks([booksample(hand_made, key_update='move')] * 2)
    assert run.ok, run.stdout
    first, second = run.results()
    assert first['changed'] and not second['changed']
    assert 'rows written into those partitions by name, or on the shard, are not checked' in first['warnings'][0]
    assert 'moved (key_update: move)' in first['warnings'][0]
    coordinator.query("UPDATE booksample SET location = 'paris' WHERE id = 2", dbname=SEED_DB)
    assert counts(coordinator) == {'lagos': (0, 0), 'paris': (2, 2)}
    assert hand_made['shard1'].scalar("SELECT count(*) FROM booksample_paris WHERE id = 2", dbname=SEED_DB) == 1
    assert hand_made['shard2'].scalar('SELECT count(*) FROM booksample_lagos', dbname=SEED_DB) == 0
