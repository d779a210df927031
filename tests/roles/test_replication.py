"""Role tests of pgdist.cluster.replication on inventories/local-replication: a coordinator, two shards and a
synchronous replica of rshard1 as four clusters on this machine (ports 55452-55455), plus the reference table
countries on every shard. The clusters are dropped first, so the first deployment is a real one, and dropped
again at the end.

Checks: idempotence and check mode (also with a new password), the password never in the output at -vvv
(results, diffs), publisher settings and pg_hba, DML and TRUNCATE reaching the replica, a replica stopped
mid-stream catching up without lost or duplicated rows, a synchronous commit waiting for the stopped replica,
and reference rows readable on every shard."""

import os
import subprocess
import sys

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO  # noqa: E402
from support.deployment import Deployment  # noqa: E402
from support.pgcluster import wait_for  # noqa: E402

DB = 'shop'
REPLICATION = Deployment(os.path.join(REPO, 'inventories', 'local-replication', 'hosts.yml'), dbname=DB)
HOSTS = REPLICATION.hosts
deploy, changed, psql, pg_ctl = REPLICATION.deploy, REPLICATION.changed, REPLICATION.psql, REPLICATION.ctl
PASSWORD = 'Repl1cation-local-demo-only'
FDW_PASSWORD = 'pgdist-local-demo-only'
NEW_PASSWORD = 'N3w-repl1cation-secret'
LOCAL_COMMIT = '-c synchronous_commit=local'


def assert_no_password(run, *secrets):
    for secret in secrets or (PASSWORD, FDW_PASSWORD):
        assert secret not in run.stdout and secret not in run.stderr, 'a configured password was shown'


def checksum(host, table):
    return psql(host, "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') "
                      "FROM %s AS t" % table)


def wait_same(table, source='rshard1', copy='rreplica1', timeout=60):
    assert wait_for(lambda: checksum(source, table) == checksum(copy, table), timeout), \
        '%s differs: %s on %s, %s on %s' % (table, checksum(source, table), source, checksum(copy, table), copy)
    return checksum(copy, table)


@pytest.fixture(scope='module')
def deployed():
    REPLICATION.drop()
    run = deploy(verbosity=3, diff=True)
    assert_no_password(run)
    yield run
    REPLICATION.drop()


def test_second_run_changes_nothing_and_hides_the_password(deployed):
    run = deploy(verbosity=3, diff=True)
    assert changed(run) == dict.fromkeys(HOSTS, 0)
    assert_no_password(run)


def test_no_password_in_the_files_the_collection_writes(deployed):
    # PostgreSQL itself keeps verifiers (pg_authid) and the mapping/conninfo passwords in its catalogs;
    # nothing the roles write (conf.d include, pg_hba.conf, certificates) may hold a password.
    written = [os.path.join(walked[0], name) for host in HOSTS for walked in os.walk(REPLICATION.config_dir(host))
               for name in walked[2]]
    assert any(path.endswith('pg_hba.conf') for path in written)
    for path in written:
        with open(path, 'rb') as handle:
            content = handle.read()
        for secret in (PASSWORD, FDW_PASSWORD):
            assert secret.encode() not in content, '%s holds a password' % path


def test_check_mode_changes_nothing(deployed):
    assert changed(deploy(check=True)) == dict.fromkeys(HOSTS, 0)


def test_new_password_in_check_mode_is_reported_not_applied_nor_shown(deployed):
    run = deploy(check=True, diff=True, verbosity=3, extra_vars={'pgdist_replication_password': NEW_PASSWORD})
    assert_no_password(run, PASSWORD, NEW_PASSWORD)
    assert run.changed('rshard1') > 0 and run.changed('rreplica1') > 0
    conn = psycopg2.connect(host='127.0.0.12', port=55453, user='pgdist_replication', password=PASSWORD, dbname=DB)
    conn.close()
    assert "password='%s'" % PASSWORD in psql(
        'rreplica1', "SELECT subconninfo FROM pg_subscription WHERE subname = 'pgdist_replica_rreplica1'")


def test_publisher_settings_and_pg_hba(deployed):
    settings = psql('rshard1', "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) "
                               "FROM pg_settings WHERE name IN ('wal_level', 'max_slot_wal_keep_size', "
                               "'synchronous_standby_names')")
    assert settings == ('max_slot_wal_keep_size=1024MB synchronous_standby_names=ANY 1 ("pgdist_replica_rreplica1") '
                        'wal_level=logical')
    assert psql('rcoordinator', 'SHOW wal_level') == 'logical'
    assert psql('rshard2', 'SHOW synchronous_standby_names') == ''
    assert psql('rreplica1', 'SHOW wal_level') == 'replica'
    assert psql('rshard1', "SELECT rolreplication AND NOT rolsuper FROM pg_roles "
                           "WHERE rolname = 'pgdist_replication'") == 't'
    # A database entry for the subscriber's address, scram-sha-256; no `replication` keyword, no trust on TCP.
    hba = psql('rshard1', "SELECT string_agg(type || ' ' || array_to_string(database, ',') || ' ' || "
                          "array_to_string(user_name, ',') || ' ' || coalesce(address, '') || ' ' || auth_method, "
                          "E'\\n' ORDER BY line_number) FROM pg_hba_file_rules").splitlines()
    assert 'hostssl shop pgdist_replication 127.0.0.1 scram-sha-256' in hba
    assert not [line for line in hba if ' replication ' in line or line.endswith(' trust') and line.startswith('host')]
    assert psql('rshard1', "SELECT sync_state FROM pg_stat_replication "
                           "WHERE application_name = 'pgdist_replica_rreplica1'") in ('sync', 'quorum')
    # The subscriptions connect over TLS (pgdist_ssl defaults to true): every walsender's link is encrypted.
    assert psql('rshard1', "SELECT string_agg(r.application_name || '=' || s.ssl::text, ' ') "
                           "FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)") == 'pgdist_replica_rreplica1=true'
    # Tables without a primary key are published with REPLICA IDENTITY FULL, the others keep their key.
    assert psql('rshard1', "SELECT string_agg(relname || '=' || relreplident::text, ' ' ORDER BY relname) FROM pg_class "
                           "WHERE relname IN ('child1', 'orders_p0')") == 'child1=f orders_p0=d'
    assert psql('rshard1', "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_publication_tables "
                           "WHERE pubname = 'pgdist_shard_rshard1'") == 'child1 orders_p0'


def test_insert_update_delete_truncate_reach_the_replica(deployed):
    psql('rshard1', "INSERT INTO child1 SELECT g, 'c' || g, g FROM generate_series(1, 200) g")
    # Through the coordinator: the hash partitioning puts about half of the orders on rshard1.
    psql('rcoordinator', "INSERT INTO orders SELECT g, 'fr', g FROM generate_series(1, 400) g")
    assert int(psql('rshard1', 'SELECT count(*) FROM orders_p0')) > 0
    wait_same('child1')
    wait_same('orders_p0')
    psql('rshard1', "UPDATE child1 SET childname = 'updated' WHERE id % 3 = 0; DELETE FROM child1 WHERE id % 5 = 0;"
                    "UPDATE orders_p0 SET amount = amount * 2 WHERE id % 2 = 0; DELETE FROM orders_p0 WHERE id < 50")
    assert wait_same('child1').startswith('160 ')
    wait_same('orders_p0')
    assert psql('rreplica1', "SELECT count(*) FROM child1 WHERE childname = 'updated'") == \
        psql('rshard1', "SELECT count(*) FROM child1 WHERE childname = 'updated'") != '0'
    psql('rshard1', 'TRUNCATE child1')
    assert wait_same('child1') == '0'


def test_replica_stopped_mid_stream_catches_up(deployed):
    psql('rshard1', "INSERT INTO child1 SELECT g, 'before', g FROM generate_series(1, 500) g")
    wait_same('child1')
    pg_ctl('rreplica1', 'stop')
    try:
        # While the synchronous replica is down, commits opt out of waiting for it.
        psql('rshard1', "INSERT INTO child1 SELECT g, 'while down', g FROM generate_series(501, 3000) g;"
                        "UPDATE child1 SET childname = 'moved' WHERE id BETWEEN 400 AND 700;"
                        "DELETE FROM child1 WHERE id % 7 = 0", pgoptions=LOCAL_COMMIT)
        psql('rshard1', "INSERT INTO child1 SELECT g, 'last', g FROM generate_series(3001, 3100) g",
             pgoptions=LOCAL_COMMIT)
    finally:
        pg_ctl('rreplica1', 'start')
    expected = checksum('rshard1', 'child1')
    assert expected.startswith('%d ' % (3100 - 3000 // 7))  # the last 100 rows came after the DELETE
    assert wait_same('child1', timeout=120) == expected
    assert psql('rreplica1', 'SELECT count(*) - count(DISTINCT id) FROM child1') == '0'


def test_synchronous_commit_waits_for_the_stopped_replica(deployed):
    wait_for(lambda: psql('rshard1', "SELECT count(*) FROM pg_stat_replication "
                                     "WHERE application_name = 'pgdist_replica_rreplica1'") == '1', timeout=60)
    pg_ctl('rreplica1', 'stop')
    commit = None
    try:
        commit = subprocess.Popen(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                                   '-p', '55453', '-d', DB, '-c', "INSERT INTO child1 VALUES (99999, 'sync', 99999)"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            commit.wait(timeout=5)
        assert int(psql('rshard1', "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) >= 1
    finally:
        pg_ctl('rreplica1', 'start')
    assert commit.wait(timeout=120) == 0, commit.stderr.read()
    assert psql('rreplica1', 'SELECT childname FROM child1 WHERE id = 99999') == 'sync'


def test_reference_row_is_readable_on_every_shard(deployed):
    psql('rcoordinator', "INSERT INTO countries VALUES ('vn', 'Viet Nam'), ('fr', 'France')")
    for host in ('rshard1', 'rshard2', 'rreplica1'):
        assert wait_for(lambda: psql(host, "SELECT name FROM countries WHERE code = 'vn'") == 'Viet Nam', timeout=60), host
    # A shard-local join, as the fdw user the coordinator connects as.
    psql('rcoordinator', "INSERT INTO orders SELECT 100000 + g, 'vn', 1 FROM generate_series(1, 50) g")
    conn = psycopg2.connect(host='127.0.0.12', port=55453, user='pgdist_fdw', password='pgdist-local-demo-only',
                            dbname=DB)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT c.name, count(*) > 0 FROM orders_p0 o JOIN countries c ON c.code = o.country "
                           "WHERE o.id > 100000 GROUP BY c.name")
            assert cursor.fetchall() == [('Viet Nam', True)]
    finally:
        conn.close()
    psql('rcoordinator', "UPDATE countries SET name = 'Vietnam' WHERE code = 'vn'; DELETE FROM countries "
                         "WHERE code = 'fr'")
    for host in ('rshard1', 'rshard2'):
        assert wait_for(lambda: psql(host, 'SELECT string_agg(name, \',\') FROM countries') == 'Vietnam', timeout=60), host
