"""The coordinator extension refuses, at planning, an UPDATE that would leave a row in the wrong foreign partition.

The shard tables here are made by hand, without a CHECK (the seeds' layout): nothing on the shards would stop
such a row, so without the refusal UPDATE items SET id = 150 WHERE id = 5 leaves the row on shard 1 with a key
of shard 2's partition, and the pruned read no longer sees it. Every path that plans an UPDATE is tried: plain,
prepared, through a view, in a WITH, in a PL/pgSQL function; then what stays allowed.
"""

import psycopg2
import pytest

from support.ansible import run_module

REFUSED = 'pgdist: UPDATE of column "id" of public.items is refused: it decides the placement of foreign table '


def counts(dist):
    """(pruned, unpruned) counts of the rows of each shard's range, through the coordinator."""
    ranges = ((1, 100), (100, 200), (200, 300))
    return [(dist.coordinator.scalar('SELECT count(*) FROM items WHERE id >= %s AND id < %s', r),
             dist.coordinator.scalar('SELECT count(*) FROM items WHERE id + 0 >= %s AND id + 0 < %s', r))
            for r in ranges]


def refused(dist, statement, params=None):
    with pytest.raises(psycopg2.errors.FeatureNotSupported) as info:
        dist.coordinator.query(statement, params)
    return info.value


@pytest.mark.contract
def test_key_changing_updates_are_refused_on_every_path(items):
    dist = items
    before = counts(dist)
    error = refused(dist, 'UPDATE items SET id = 150 WHERE id = 5')
    assert error.diag.message_primary == REFUSED + 'public.items_s1'
    assert 'hidden from queries pruned to the partition its new key names' in error.diag.message_detail
    assert 'key_update: move' in error.diag.message_hint
    # a key the row's own partition would hold is refused too: the shard, not the coordinator, could tell
    refused(dist, 'UPDATE items SET id = id + 1 WHERE id = 5')
    # the partition by name, a view, a WITH, a prepared statement, a function
    assert refused(dist, 'UPDATE items_s1 SET id = 150 WHERE id = 5').diag.message_primary == (
        'pgdist: UPDATE of column "id" of public.items_s1 is refused: it decides the placement of foreign table '
        'public.items_s1')
    dist.coordinator.query('CREATE OR REPLACE VIEW items_view AS SELECT id AS key, v FROM items')
    assert refused(dist, 'UPDATE items_view SET key = 150 WHERE key = 5').diag.message_primary == REFUSED + \
        'public.items_s1'
    refused(dist, 'WITH moved AS (UPDATE items SET id = 150 WHERE id = 5 RETURNING id) SELECT count(*) FROM moved')
    conn = dist.coordinator.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute('PREPARE rekey(int) AS UPDATE items SET id = $1 WHERE id = 5')
            with pytest.raises(psycopg2.errors.FeatureNotSupported, match='^' + REFUSED):
                cursor.execute('EXECUTE rekey(150)')
    finally:
        conn.close()
    dist.coordinator.query("CREATE OR REPLACE FUNCTION rekey_items(old int, new int) RETURNS void LANGUAGE plpgsql "
                           "AS $$BEGIN UPDATE items SET id = new WHERE id = old; END$$")
    refused(dist, 'SELECT rekey_items(5, 150)')
    assert counts(dist) == before == [(10, 10), (10, 10), (10, 10)]
    assert dist.shards[0].scalar('SELECT count(*) FROM items_s1 WHERE id = 5') == 1
    dist.coordinator.query('DROP VIEW items_view; DROP FUNCTION rekey_items(int, int)')


def test_updates_that_keep_the_key_and_other_tables_go_through(items):
    dist = items
    dist.coordinator.query("UPDATE items SET v = 'x', id = id WHERE id = 5")
    assert dist.shards[0].scalar('SELECT v FROM items_s1 WHERE id = 5') == 'x'
    # a local table is PostgreSQL's business (it moves or refuses rows itself)
    dist.coordinator.query('DROP TABLE IF EXISTS local_parts; CREATE TABLE local_parts (id int) PARTITION BY RANGE (id);'
                           'CREATE TABLE local_parts_a PARTITION OF local_parts FOR VALUES FROM (0) TO (10);'
                           'CREATE TABLE local_parts_b PARTITION OF local_parts FOR VALUES FROM (10) TO (20);'
                           'INSERT INTO local_parts VALUES (1)')
    dist.coordinator.query('UPDATE local_parts SET id = 15')
    assert dist.coordinator.scalar('SELECT tableoid::regclass::text FROM local_parts') == 'local_parts_b'


def test_inheritance_children_are_guarded_by_their_checks(dist):
    """The English seed: booksample's foreign children by CHECK (location = ...), rows routed on INSERT."""
    dist.coordinator.query('DROP TABLE IF EXISTS booksample CASCADE; CREATE TABLE booksample (id int, location text)')
    for index, site in enumerate(('paris', 'lagos')):
        dist.as_fdw_user(index, 'DROP TABLE IF EXISTS booksample_%s; CREATE TABLE booksample_%s (id int, location text);'
                                "INSERT INTO booksample_%s VALUES (%d, '%s')" % (site, site, site, index + 1, site))
        dist.coordinator.query("CREATE FOREIGN TABLE booksample_%s (CHECK (location = '%s')) INHERITS (booksample) "
                               "SERVER s%d OPTIONS (table_name 'booksample_%s')" % (site, site, index + 1, site))
    error = refused(dist, "UPDATE booksample SET location = 'paris' WHERE id = 2")
    assert error.diag.message_primary == ('pgdist: UPDATE of column "location" of public.booksample is refused: it '
                                          'decides the placement of foreign table public.booksample_paris')
    assert 'routed on INSERT only' in error.diag.message_hint
    assert dist.coordinator.scalar("SELECT count(*) FROM booksample WHERE location = 'paris'") == 1
    dist.coordinator.query("UPDATE booksample SET id = 20 WHERE id = 2")
    dist.coordinator.query("UPDATE ONLY booksample SET location = 'paris'")


def test_the_mover_trigger_and_the_setting_let_it_through(items):
    dist = items
    dist.coordinator.query("CREATE OR REPLACE FUNCTION items_mover() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$BEGIN DELETE FROM items WHERE id = OLD.id; INSERT INTO items VALUES (NEW.*); "
                           "RETURN NULL; END$$")
    dist.coordinator.query('CREATE TRIGGER pgdist_move BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION '
                           'items_mover()')
    dist.coordinator.query('UPDATE items SET id = 150 WHERE id = 5')
    assert dist.shards[1].scalar('SELECT count(*) FROM items_s2 WHERE id = 150') == 1
    dist.coordinator.query('DROP TRIGGER pgdist_move ON items')
    refused(dist, 'UPDATE items SET id = 160 WHERE id = 6')
    conn = dist.coordinator.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute('SET pgdist.refuse_key_updates = off')
            cursor.execute('UPDATE items SET id = 160 WHERE id = 6')
    finally:
        conn.close()
    # what the refusal prevents: the row stays on shard 1 with a key of shard 2, unseen by the pruned read
    assert dist.shards[0].scalar('SELECT count(*) FROM items_s1 WHERE id = 160') == 1
    assert counts(dist)[1] == (11, 12)


def test_the_module_trusts_the_refusal_and_warns(dist):
    """partitioned_table over hand-made shard tables: refused without the extension (tests/integration), a
    warning here, since the extension refuses the key-changing UPDATEs."""
    login = dict(dist.coordinator.login, db='postgres')
    for index in range(2):
        dist.as_fdw_user(index, 'DROP TABLE IF EXISTS accounts_h%d; CREATE TABLE accounts_h%d (id int, v text)'
                                % (index, index))
    result, run = run_module('partitioned_table', dict(
        name='accounts_h', columns=[{'name': 'id', 'type': 'int'}, {'name': 'v', 'type': 'text'}],
        partition_by={'method': 'hash', 'key': 'id'},
        partitions=[{'name': 'accounts_h%d' % r, 'modulus': 2, 'remainder': r, 'server': 's%d' % (r + 1)}
                    for r in range(2)]), login=login)
    assert run.ok, run.stdout
    assert 'refused by the coordinator extension' in result['warnings'][0], result
