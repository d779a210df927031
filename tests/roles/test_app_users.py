"""Application users (pgdist_app_users, pgdist_app_networks) on inventories/local, the clusters `make demo` uses:
library_app (read_write, every table) and library_reader (read_only, booksample and lend) log in to the
coordinator over TCP with TLS and SCRAM from 127.0.0.1 only; their grants hold through the coordinator and
follow the inventory again after a change by hand."""

import os
import sys

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO  # noqa: E402
from support.deployment import Deployment, startup_reply  # noqa: E402

LOCAL = Deployment(os.path.join(REPO, 'inventories', 'local', 'hosts.yml'))
WRITER = dict(user='library_app', password='library-app-demo-only')
READER = dict(user='library_reader', password='library-reader-demo-only')


@pytest.fixture(scope='module')
def deployed():
    return LOCAL.deploy()


def connect(login, sslmode='require', host='coordinator1'):
    conn = psycopg2.connect(host=LOCAL.address(host), port=LOCAL.port(host), dbname='library', sslmode=sslmode,
                            **login)
    conn.autocommit = True
    return conn


def query(conn, sql, params=None):
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def refused(conn, sql):
    """The SQLSTATE of sql's error (None when it runs)."""
    try:
        query(conn, sql)
    except psycopg2.Error as exc:
        return exc.pgcode
    return None


def test_the_writer_logs_in_over_tls_and_writes_through_the_coordinator(deployed):
    conn = connect(WRITER)
    try:
        assert query(conn, 'SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()') == [
            ('library_app', True)]
        # The seeds' routing triggers insert into the foreign children as the session's user; lend's looks up
        # booksample. A hash and a range table route declaratively.
        query(conn, "INSERT INTO booksample VALUES (8101, 'app', true, 'lagos', 1);"
                    "INSERT INTO lend VALUES (8101, 8101, '2024-05-01', NULL);"
                    "INSERT INTO events VALUES (8101, 'app'); INSERT INTO parent VALUES (8101, 'app', 150000);"
                    "UPDATE booksample SET state = 'lent' WHERE id = 8101")
        assert LOCAL.psql('shard2', 'SELECT state FROM booksample_lagos WHERE id = 8101') == 'lent'
        assert LOCAL.psql('shard2', 'SELECT count(*) FROM lend_lagos WHERE booksample_id = 8101') == '1'
        assert query(conn, 'SELECT count(*) FROM events WHERE id = 8101') == [(1,)]
        # It uses the fdw user's mapping without seeing its password, and cannot point tables at a shard itself.
        assert query(conn, "SELECT count(*), count(umoptions) FROM pg_user_mappings WHERE usename = current_user") == [
            (2, 0)]
        assert query(conn, "SELECT bool_or(has_server_privilege(srvname, 'USAGE')) FROM pg_foreign_server") == [
            (False,)]
        assert refused(conn, 'IMPORT FOREIGN SCHEMA public LIMIT TO (child1) FROM SERVER shard1 INTO public') == '42501'
        assert refused(conn, 'TRUNCATE events') == '42501'
    finally:
        query(conn, 'DELETE FROM lend WHERE booksample_id = 8101; DELETE FROM booksample WHERE id = 8101;'
                    'DELETE FROM events WHERE id = 8101; DELETE FROM parent WHERE id = 8101')
        conn.close()
    assert LOCAL.psql('shard2', 'SELECT count(*) FROM booksample_lagos WHERE id = 8101') == '0'


def test_the_reader_reads_its_tables_and_is_refused_writes_and_the_others(deployed):
    conn = connect(READER)
    try:
        assert query(conn, 'SELECT count(*) >= 0 FROM booksample JOIN lend ON lend.booksample_id = booksample.id') == [
            (True,)]
        assert refused(conn, "INSERT INTO booksample VALUES (8102, 'r', true, 'paris', 1)") == '42501'
        assert refused(conn, "DELETE FROM lend") == '42501'
        assert refused(conn, 'SELECT count(*) FROM events') == '42501'
    finally:
        conn.close()
    assert LOCAL.psql('shard1', 'SELECT count(*) FROM booksample_paris WHERE id = 8102') == '0'


def test_pg_hba_admits_the_listed_users_from_the_listed_network_over_tls_only(deployed):
    address, port = LOCAL.address('coordinator1'), LOCAL.port('coordinator1')
    # From 127.0.0.1 over TLS: SCRAM (10) is asked for.
    assert startup_reply('127.0.0.1', address, port, 'library_app', 'library', tls=True) == 'auth 10'
    # Without TLS, from another address, as a user not listed, or another database: no entry.
    assert 'no encryption' in startup_reply('127.0.0.1', address, port, 'library_app', 'library')
    elsewhere = startup_reply('127.0.0.9', address, port, 'library_app', 'library', tls=True)
    assert 'no pg_hba.conf entry for host "127.0.0.9"' in elsewhere
    for user, database in (('postgres', 'library'), ('pgdist_fdw', 'library'), ('library_app', 'postgres')):
        assert 'no pg_hba.conf entry' in startup_reply('127.0.0.1', address, port, user, database, tls=True)
    with pytest.raises(psycopg2.OperationalError, match='password authentication failed'):
        connect(dict(WRITER, password='wrong'))
    # The shards admit only the fdw user: no rule for an application there.
    assert 'no pg_hba.conf entry' in startup_reply('127.0.0.1', LOCAL.address('shard1'), LOCAL.port('shard1'),
                                                   'library_app', 'library', tls=True)


def test_grants_changed_by_hand_follow_the_inventory_again(deployed):
    LOCAL.psql('coordinator1', 'GRANT TRUNCATE ON events TO library_app; GRANT INSERT ON booksample TO library_reader;'
                               'GRANT SELECT ON events TO library_reader; REVOKE DELETE ON lend FROM library_app')
    run = LOCAL.deploy()
    assert LOCAL.changed(run) == dict(coordinator1=1, shard1=0, shard2=0)
    privileges = LOCAL.psql('coordinator1', """
        SELECT has_table_privilege('library_app', 'events', 'TRUNCATE'), has_table_privilege('library_app', 'lend', 'DELETE'),
               has_table_privilege('library_reader', 'booksample', 'INSERT'), has_table_privilege('library_reader', 'events', 'SELECT')""")
    assert privileges == 'f|t|f|f'
    assert LOCAL.changed(LOCAL.deploy(check=True)) == dict.fromkeys(LOCAL.hosts, 0)
