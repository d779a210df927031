"""pgdist.cluster.subscription between two throw-away clusters of this module.

The tests run in order on one publisher/subscriber pair: create (check mode
first), rows replicated for every DML kind, connection and publication
changes, options, refresh, synchronous mode with the subscriber stopped,
absent with the publisher up (slot dropped) and down (slot named in a
warning). Every ansible run is kept so the last test can prove the
replication password, which holds a quote and a backslash, never shows.
"""

import threading

import psycopg2
import pytest

from support.ansible import run_tasks
from support.pgcluster import start_cluster, wait_for

PASSWORD = "r3pl'Pa\\ss-w0rd"
NEW_PASSWORD = "n3w-r3pl-s3cr3t"
RUNS = []

PUBLISHER_SETUP = """
CREATE ROLE repl LOGIN REPLICATION;
CREATE TABLE items (id int PRIMARY KEY, label text);
CREATE TABLE extra (id int PRIMARY KEY);
CREATE TABLE later (id int PRIMARY KEY);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO repl;
INSERT INTO items VALUES (1, 'before the subscription');
INSERT INTO extra VALUES (1), (2);
INSERT INTO later VALUES (7);
"""


@pytest.fixture(scope='module')
def pair():
    publisher = start_cluster('publisher')
    subscriber = start_cluster('subscriber')
    try:
        publisher.query(PUBLISHER_SETUP)
        publisher.query("ALTER ROLE repl PASSWORD %s", (PASSWORD,))
        subscriber.query("CREATE TABLE items (id int PRIMARY KEY, label text); CREATE TABLE extra (id int PRIMARY KEY);"
                         "CREATE TABLE later (id int PRIMARY KEY)")
        yield publisher, subscriber
    finally:
        subscriber.destroy()
        publisher.destroy()


def run(tasks, **kwargs):
    kwargs.setdefault('verbosity', 3)
    kwargs.setdefault('diff', True)
    result = run_tasks(tasks, **kwargs)
    RUNS.append(result)
    return result


def task(cluster, module, **args):
    return {'name': '%s %s' % (module, args['name']), 'pgdist.cluster.' + module: dict(cluster.login, **args)}


def connection(publisher, password=PASSWORD, **extra):
    return dict(dict(host=publisher.host, port=publisher.port, dbname='postgres', user='repl', password=password),
                **extra)


def sub_task(publisher, subscriber, name='sub', **args):
    args.setdefault('publications', ['pub_items'])
    args.setdefault('connection', connection(publisher))
    return task(subscriber, 'subscription', name=name, **args)


def subscription_row(subscriber, name='sub'):
    """enabled, binary, streaming (as substream stores it: a bool in 14 and 15, a "char" from 16 on),
    disable_on_error, synchronous_commit, slot and publications; columns PostgreSQL 13 or 14 lack are None."""
    major = subscriber.major
    rows = subscriber.query("""
        SELECT subenabled, {binary}, {stream}, {disable}, subsynccommit, subslotname::text,
               subpublications::text[] FROM pg_subscription WHERE subname = %s""".format(
        binary='subbinary' if major >= 14 else 'NULL', stream='substream' if major >= 14 else 'NULL',
        disable='subdisableonerr' if major >= 15 else 'NULL'), (name,))
    return rows[0] if rows else None


def options_of_this_major(major):
    """The options test_connection_publications_and_options_are_altered turns on, as far as the server has them,
    and how pg_subscription then stores binary, streaming and disable_on_error."""
    options = dict(synchronous_commit='remote_apply')
    if major >= 14:
        options.update(binary=True, streaming='parallel' if major >= 16 else True)
    if major >= 15:
        options.update(disable_on_error=True)
    stored = (True if major >= 14 else None, ('p' if major >= 16 else True) if major >= 14 else None,
              True if major >= 15 else None)
    return options, stored


def slots(publisher):
    return [row[0] for row in publisher.query("SELECT slot_name::text FROM pg_replication_slots ORDER BY 1")]


def rows(cluster, table='items'):
    return cluster.query('SELECT * FROM %s ORDER BY 1' % table)


def test_create_check_mode_then_apply_idempotent(pair):
    publisher, subscriber = pair
    publication = task(publisher, 'publication', name='pub_items', tables=['items'])
    checked = run([publication, sub_task(publisher, subscriber)], check=True)
    assert checked.ok, checked.stdout
    assert checked.changed('localhost') == 2
    assert subscription_row(subscriber) is None and slots(publisher) == []
    query = checked.results()[1]['queries'][0]
    assert query.startswith('CREATE SUBSCRIPTION "sub" CONNECTION ') and '********' in query, query
    # PostgreSQL 18 streams in parallel by default, older ones do not stream unless asked
    default_streaming = 'parallel' if subscriber.major >= 18 else 'off'
    assert checked.results()[1]['diff']['after']['streaming'] == default_streaming

    applied = run([publication, sub_task(publisher, subscriber)])
    assert applied.ok, applied.stdout
    assert applied.changed('localhost') == 2
    assert slots(publisher) == ['sub']
    again = run([publication, sub_task(publisher, subscriber)])
    assert again.ok and again.changed('localhost') == 0, again.stdout
    assert again.results()[1]['diff']['before'] == applied.results()[1]['diff']['after']
    assert wait_for(lambda: rows(subscriber) == [(1, 'before the subscription')])


def test_every_dml_kind_is_replicated(pair):
    publisher, subscriber = pair
    publisher.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(2, 50) g")
    publisher.query("UPDATE items SET label = 'updated' WHERE id % 2 = 0")
    publisher.query("DELETE FROM items WHERE id > 40")
    assert wait_for(lambda: rows(subscriber) == rows(publisher))
    assert len(rows(subscriber)) == 40
    publisher.query("TRUNCATE items")
    assert wait_for(lambda: rows(subscriber) == [])
    publisher.query("INSERT INTO items VALUES (100, 'after truncate')")
    assert wait_for(lambda: rows(subscriber) == [(100, 'after truncate')])


def test_connection_publications_and_options_are_altered(pair):
    publisher, subscriber = pair
    publisher.query("ALTER ROLE repl PASSWORD %s", (NEW_PASSWORD,))
    wanted = sub_task(publisher, subscriber, publications=['pub_items', 'pub_extra'],
                      connection=connection(publisher, NEW_PASSWORD, application_name='replica_app'),
                      options=options_of_this_major(subscriber.major)[0])
    applied = run([task(publisher, 'publication', name='pub_extra', tables=['extra']), wanted])
    assert applied.ok, applied.stdout
    result = applied.results()[1]
    assert [query.split(' ', 4)[3] for query in result['queries']] == ['CONNECTION', 'SET', 'SET']
    assert 'SET PUBLICATION "pub_extra", "pub_items"' in result['queries'][2]
    assert result['diff']['after']['connection']['password'] == '******** (changed)'
    assert result['diff']['after']['connection']['application_name'] == 'replica_app'
    assert subscription_row(subscriber) == (True,) + options_of_this_major(subscriber.major)[1] + (
        'remote_apply', 'sub', ['pub_extra', 'pub_items'])
    assert wait_for(lambda: rows(subscriber, 'extra') == [(1,), (2,)])
    assert wait_for(lambda: publisher.scalar(
        "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica_app'") == 1)
    again = run([wanted])
    assert again.ok and again.changed('localhost') == 0, again.stdout

    disabled = run([dict(wanted, **{'pgdist.cluster.subscription': dict(
        wanted['pgdist.cluster.subscription'], options=dict(enabled=False))})])
    assert disabled.results()[0]['queries'] == ['ALTER SUBSCRIPTION "sub" DISABLE']
    assert subscription_row(subscriber)[0] is False
    enabled = run([dict(wanted, **{'pgdist.cluster.subscription': dict(
        wanted['pgdist.cluster.subscription'], options=dict(enabled=True))})])
    assert enabled.results()[0]['queries'] == ['ALTER SUBSCRIPTION "sub" ENABLE']


def test_refresh_copies_tables_added_to_a_publication(pair):
    publisher, subscriber = pair
    refreshed = run([task(publisher, 'publication', name='pub_extra', tables=['extra', 'later']),
                     task(subscriber, 'subscription', name='sub', state='refresh')])
    assert refreshed.ok, refreshed.stdout
    assert refreshed.results()[1]['queries'] == ['ALTER SUBSCRIPTION "sub" REFRESH PUBLICATION']
    assert wait_for(lambda: rows(subscriber, 'later') == [(7,)])


def commit_in_thread(publisher, outcome):
    conn = publisher.connect(autocommit=False)

    def commit():
        try:
            with conn.cursor() as cursor:
                cursor.execute("SET synchronous_commit = on")
                cursor.execute("INSERT INTO items VALUES (200, 'synchronous')")
            conn.commit()
            outcome['committed'] = True
        except psycopg2.Error as exc:
            outcome['error'] = str(exc)
        finally:
            conn.close()
    thread = threading.Thread(target=commit, daemon=True)
    thread.start()
    return thread


def test_synchronous_commit_waits_for_the_stopped_subscriber(pair):
    publisher, subscriber = pair
    publisher.query("ALTER SYSTEM SET synchronous_standby_names = 'replica_app'")
    publisher.query("SELECT pg_reload_conf()")
    try:
        assert wait_for(lambda: publisher.scalar(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica_app'") == 'sync')
        subscriber.stop()
        outcome = {}
        thread = commit_in_thread(publisher, outcome)
        thread.join(5)
        assert thread.is_alive() and not outcome, 'the commit did not wait for the synchronous subscriber'
        subscriber.start()
        thread.join(60)
        assert outcome == {'committed': True}
        assert wait_for(lambda: (200, 'synchronous') in rows(subscriber))
    finally:
        publisher.query("ALTER SYSTEM RESET synchronous_standby_names")
        publisher.query("SELECT pg_reload_conf()")


def test_absent_drops_the_slot_on_the_publisher(pair):
    publisher, subscriber = pair
    dropped = run([task(subscriber, 'subscription', name='sub', state='absent')] * 2)
    assert dropped.ok, dropped.stdout
    first, second = dropped.results()
    assert first['changed'] and first['queries'] == ['DROP SUBSCRIPTION "sub"'] and not second['changed']
    assert subscription_row(subscriber) is None
    assert slots(publisher) == []


def test_absent_with_the_publisher_down_names_the_slot_left(pair):
    publisher, subscriber = pair
    created = run([sub_task(publisher, subscriber, name='orphan', connection=connection(publisher, NEW_PASSWORD),
                            options=dict(slot_name='orphan_slot', copy_data=False))])
    assert created.ok, created.stdout
    assert slots(publisher) == ['orphan_slot']
    publisher.stop()
    try:
        dropped = run([task(subscriber, 'subscription', name='orphan', state='absent', connect_timeout=3)])
    finally:
        publisher.start()
    assert dropped.ok, dropped.stdout
    result = dropped.results()[0]
    assert result['changed'] and result['orphaned_slot'] == 'orphan_slot'
    assert result['queries'] == ['ALTER SUBSCRIPTION "orphan" DISABLE',
                                 'ALTER SUBSCRIPTION "orphan" SET ("slot_name" = NONE)',
                                 'DROP SUBSCRIPTION "orphan"']
    assert any("pg_drop_replication_slot('orphan_slot')" in warning for warning in result['warnings'])
    assert subscription_row(subscriber, 'orphan') is None
    assert slots(publisher) == ['orphan_slot']
    publisher.query("SELECT pg_drop_replication_slot('orphan_slot')")


def test_wrong_password_fails_without_showing_it(pair):
    publisher, subscriber = pair
    failed = run([sub_task(publisher, subscriber, name='denied', connection=connection(publisher, PASSWORD + 'x'))])
    assert not failed.ok
    assert 'password authentication failed' in failed.results()[0]['msg']
    assert subscription_row(subscriber, 'denied') is None


def test_password_never_shown(pair):
    assert len(RUNS) >= 8
    for played in RUNS:
        for secret in (PASSWORD, NEW_PASSWORD, PASSWORD + 'x', "r3pl\\'Pa"):
            assert secret not in played.stdout and secret not in played.stderr
    queries = [query for played in RUNS for result in played.results() for query in result.get('queries', [])]
    assert sum('password=' in query for query in queries) >= 3
