"""What monitoring may read of the coordinator extension without superuser (pgdist 1.1): a login in pg_monitor
calls stats(), prepared_transactions() and lock_waits(), and not the functions that act; an installed 1.0 gets
those grants from the update the coordinator role runs (pgdist.cluster.extension, version latest)."""

import psycopg2
import pytest

from support.ansible import run_module
from support.pgdist_ext import FDW_PASSWORD, FDW_USER

MONITOR, MONITOR_PASSWORD = 'pgdist_test_monitor', 'Monitor-ext-test-pw-1'
UPGRADE_DB = 'pgdist_upgrade'


@pytest.fixture()
def monitor(dist):
    """A login in pg_monitor, mapped to the shards' fdw user as the roles map the application users."""
    dist.coordinator.query("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE pg_monitor" % (MONITOR, MONITOR_PASSWORD))
    for index in range(len(dist.shards)):
        dist.coordinator.query("CREATE USER MAPPING FOR %s SERVER s%d OPTIONS (user '%s', password '%s')"
                               % (MONITOR, index + 1, FDW_USER, FDW_PASSWORD))
    conn = dist.coordinator.connect(user=MONITOR, password=MONITOR_PASSWORD)
    try:
        yield conn
    finally:
        conn.close()
        dist.coordinator.query('DROP OWNED BY %s; DROP ROLE %s' % (MONITOR, MONITOR))


def scalar(conn, statement):
    with conn.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()


def test_pg_monitor_reads_the_counters_in_doubt_transactions_and_lock_waits(dist, monitor):
    two_phase = scalar(monitor, 'SELECT two_phase_commits FROM pgdist.stats()')[0]
    assert two_phase is not None and two_phase >= 0
    # Both reach every shard with the monitoring login's user mapping: an unreachable one would raise.
    assert scalar(monitor, 'SELECT count(*) FROM pgdist.prepared_transactions()') == (0,)
    assert scalar(monitor, "SELECT count(*) FROM pgdist.lock_waits('0 s')") == (0,)
    for acting in ('pgdist.recover_prepared()', 'pgdist.detect_deadlocks()', 'pgdist.terminate_orphans()',
                   "pgdist.create_restore_point('monitor')"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            scalar(monitor, 'SELECT * FROM %s' % acting)
    # cluster_info's transactions section (status.yml) as that login: the extension's part without errors.
    result, run = run_module('cluster_info', dict(db='postgres', gather=['transactions']),
                             login=dict(dist.coordinator.login, login_user=MONITOR, login_password=MONITOR_PASSWORD))
    assert run.ok, run.stdout
    assert result['pgdist']['errors'] == [] and result['pgdist']['in_doubt'] == []
    assert result['pgdist']['stats']['two_phase_commits'] >= two_phase


def test_an_installed_1_0_gets_the_grants_from_the_update(dist):
    coordinator = dist.coordinator
    coordinator.query('DROP DATABASE IF EXISTS %s' % UPGRADE_DB)
    coordinator.query('CREATE DATABASE %s' % UPGRADE_DB)
    try:
        coordinator.query("CREATE EXTENSION pgdist VERSION '1.0'", dbname=UPGRADE_DB)
        readable = "SELECT has_function_privilege('pg_monitor', 'pgdist.stats()', 'EXECUTE')"
        assert coordinator.scalar(readable, dbname=UPGRADE_DB) is False
        login = dict(coordinator.login, db=UPGRADE_DB)
        result, run = run_module('extension', dict(name='pgdist', version='latest'), login=login)
        assert run.ok and result['changed'], run.stdout
        assert result['queries'] == ['ALTER EXTENSION "pgdist" UPDATE TO \'1.1\'']
        assert coordinator.scalar("SELECT extversion FROM pg_extension WHERE extname = 'pgdist'",
                                  dbname=UPGRADE_DB) == '1.1'
        assert coordinator.scalar(readable, dbname=UPGRADE_DB) is True
        again, run = run_module('extension', dict(name='pgdist', version='latest'), login=login)
        assert run.ok and not again['changed'] and again['queries'] == []
        # A new CREATE EXTENSION lands on 1.1 with the same privileges (pgdist--1.0.sql, then the update script).
        assert coordinator.scalar("SELECT extversion FROM pg_extension WHERE extname = 'pgdist'") == '1.1'
        assert coordinator.scalar(readable) is True
    finally:
        coordinator.query('DROP DATABASE %s' % UPGRADE_DB)
