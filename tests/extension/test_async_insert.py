"""INSERTs through the coordinator whose later batches do not wait for the shard (pgdist.async_insert).

postgres_fdw sends an INSERT's rows in batches of batch_size from PostgreSQL 14 on; 13's sends one row per
execution, which pgdist answers early the same way: there a batch is one row.
"""

import psycopg2
import pytest

from support.pgcluster import PG_MAJOR

RANGES = [(1, 1000), (1000, 2000), (2000, 3001)]
BATCH = 10 if PG_MAJOR >= 14 else 1


@pytest.fixture()
def loads(dist):
    """loads(id, v) over the three shards by RANGES, batches of BATCH rows."""
    dist.distribute('loads', 'id int NOT NULL, v text', 'id', RANGES)
    if BATCH > 1:
        for i in range(len(RANGES)):
            dist.coordinator.query("ALTER FOREIGN TABLE loads_s%d OPTIONS (ADD batch_size '%d')" % (i + 1, BATCH))
    yield dist


def shard_counts(dist):
    return [dist.shard_query(i, 'SELECT count(*) FROM loads_s%d' % (i + 1))[0][0] for i in range(len(RANGES))]


def insert(dist, statement, autocommit=True, settings=()):
    """Runs statement through the coordinator; returns the row count it reported."""
    conn = dist.coordinator.connect(autocommit=autocommit)
    try:
        with conn.cursor() as cursor:
            for setting in settings:
                cursor.execute(setting)
            cursor.execute(statement)
            count = cursor.rowcount
        conn.commit()
        return count
    finally:
        conn.close()


@pytest.mark.contract
@pytest.mark.parametrize('batch_size', ['1', '10'] if BATCH > 1 else ['1'])
def test_every_row_is_stored_and_counted(loads, batch_size):
    if BATCH > 1:
        for i in range(len(RANGES)):
            loads.coordinator.query("ALTER FOREIGN TABLE loads_s%d OPTIONS (SET batch_size '%s')"
                                    % (i + 1, batch_size))
    assert insert(loads, "INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 3000) g") == 3000
    assert shard_counts(loads) == [999, 1000, 1001]


def test_rows_of_pending_batches_are_seen_by_the_next_statement(loads):
    conn = loads.coordinator.connect(autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 3000) g")
            cursor.execute("SELECT count(*), count(DISTINCT id) FROM loads")
            assert cursor.fetchone() == (3000, 3000)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.contract
@pytest.mark.parametrize('autocommit', [True, False], ids=['autocommit', 'transaction block'])
def test_a_later_batch_failing_fails_its_own_statement_and_keeps_nothing(loads, autocommit):
    loads.as_fdw_user(1, "INSERT INTO loads_s2 VALUES (1555, 'there before')")
    conn = loads.coordinator.connect(autocommit=autocommit)
    try:
        with conn.cursor() as cursor:
            with pytest.raises(psycopg2.errors.UniqueViolation) as raised:
                # 1555 is in shard 2's 56th batch (its 556th row on 13): one sent without waiting for its answer.
                cursor.execute("INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 3000) g")
        assert 'remote SQL command: INSERT INTO' in str(raised.value)
        conn.rollback()
        with conn.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM loads')
            assert cursor.fetchone() == (1,)
    finally:
        conn.close()
    assert shard_counts(loads) == [0, 1, 0]


def skip_rows(dist, condition):
    """A trigger on shard 1's table that skips the rows matching condition."""
    dist.as_fdw_user(0, "CREATE FUNCTION skip_rows() RETURNS trigger LANGUAGE plpgsql AS $$"
                        " BEGIN IF %s THEN RETURN NULL; END IF; RETURN NEW; END $$;"
                        " CREATE TRIGGER skip_rows BEFORE INSERT ON loads_s1 FOR EACH ROW EXECUTE FUNCTION skip_rows()"
                     % condition)


def test_a_shard_skipping_rows_from_the_first_batch_on_gets_its_count_right(loads):
    skip_rows(loads, 'NEW.id % 2 = 1')
    try:
        assert insert(loads, "INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 100) g") == 50
        assert shard_counts(loads) == [50, 0, 0]
    finally:
        loads.as_fdw_user(0, 'DROP FUNCTION skip_rows() CASCADE')


def test_a_shard_skipping_rows_of_a_later_batch_fails_the_statement(loads):
    skip_rows(loads, 'NEW.id > 25')
    try:
        with pytest.raises(psycopg2.errors.DataException) as raised:
            insert(loads, "INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 100) g")
        # Rows 21-30 are the third batch of 10; on 13 row 26 is the first row skipped.
        assert ('inserted 5 of the 10 rows of a batch' if BATCH == 10 else 'inserted 0 of the 1 rows of a batch') \
            in str(raised.value)
        assert shard_counts(loads) == [0, 0, 0]
        assert insert(loads, "INSERT INTO loads SELECT g, 'x' FROM generate_series(1, 100) g",
                      settings=['SET pgdist.async_insert = off']) == 25
    finally:
        loads.as_fdw_user(0, 'DROP FUNCTION skip_rows() CASCADE')


def batch_times(dist):
    """Every batch statement on shards 1 and 2 sleeps 0.3 s and logs when it ran."""
    for i in (0, 1):
        dist.as_fdw_user(i, "DROP TABLE IF EXISTS batch_log; CREATE TABLE batch_log (ran tstzrange);"
                            " CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$"
                            " DECLARE started timestamptz := clock_timestamp(); BEGIN PERFORM pg_sleep(0.3);"
                            " INSERT INTO public.batch_log VALUES (tstzrange(started, clock_timestamp())); RETURN NULL; END $$;"
                            " CREATE TRIGGER slow_batch BEFORE INSERT ON loads_s%d"
                            " FOR EACH STATEMENT EXECUTE FUNCTION slow_batch()" % (i + 1))


def overlapping_batches(dist):
    ran = [[row[0] for row in dist.shard_query(i, 'SELECT ran::text FROM batch_log')] for i in (0, 1)]
    assert len(ran[0]) == len(ran[1]) == 3
    overlaps = dist.shard_query(0, 'SELECT count(*) FROM unnest(%s::tstzrange[]) a, unnest(%s::tstzrange[]) b'
                                   ' WHERE a && b', (ran[0], ran[1]))[0][0]
    for i in (0, 1):
        dist.as_fdw_user(i, 'DROP TABLE batch_log; DROP FUNCTION slow_batch() CASCADE')
    return overlaps


@pytest.mark.parametrize('async_insert, overlap', [('on', True), ('off', False)])
def test_shards_insert_batches_while_the_coordinator_routes_the_next(loads, async_insert, overlap):
    batch_times(loads)
    # Rows alternating between shards 1 and 2: three batches on each.
    rows = 6 * BATCH
    statement = ("INSERT INTO loads SELECT CASE WHEN g %% 2 = 0 THEN g ELSE 1000 + g END, 'x'"
                 " FROM generate_series(1, %d) g" % rows)
    assert insert(loads, statement, settings=['SET pgdist.async_insert = %s' % async_insert]) == rows
    assert shard_counts(loads) == [rows // 2, rows // 2, 0]
    assert (overlapping_batches(loads) > 0) is overlap
