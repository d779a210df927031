"""The foundation scenario: shards get a database and a login user, the
coordinator gets postgres_fdw, two foreign servers and user mappings, and a
foreign table reads rows from a shard through them."""

import pytest

from support.ansible import run_tasks

FDW_PASSWORD = 'fdw-Pa55-word-xyz'
COORDINATOR_DB = 'fdw_objects'


def deploy_tasks(coordinator, shards, fetch_size=100):
    tasks = []
    for name, shard in shards.items():
        tasks += [
            {'name': 'user on ' + name, 'pgdist.cluster.user': dict(
                shard.login, name='pgdist_fdw', password=FDW_PASSWORD, attributes=['NOSUPERUSER'])},
            {'name': 'database on ' + name, 'pgdist.cluster.database': dict(
                shard.login, name='library', owner='pgdist_fdw')},
        ]
    # A database of this test's own: other test modules share the session's coordinator.
    tasks += [
        {'name': 'coordinator database', 'pgdist.cluster.database': dict(coordinator.login, name=COORDINATOR_DB)},
        {'name': 'postgres_fdw', 'pgdist.cluster.extension': dict(
            coordinator.login, db=COORDINATOR_DB, name='postgres_fdw')},
    ]
    for name, shard in shards.items():
        tasks += [
            {'name': 'server ' + name, 'pgdist.cluster.foreign_server': dict(
                coordinator.login, db=COORDINATOR_DB, name=name,
                options=dict(host=shard.host, port=shard.port, dbname='library', fetch_size=fetch_size))},
            {'name': 'mapping ' + name, 'pgdist.cluster.user_mapping': dict(
                coordinator.login, db=COORDINATOR_DB, user='postgres', server=name,
                options=dict(user='pgdist_fdw', password=FDW_PASSWORD))},
        ]
    return tasks


@pytest.fixture(scope='module')
def deployed(coordinator, shard1, shard2):
    shards = {'shard_a': shard1, 'shard_b': shard2}
    first = run_tasks(deploy_tasks(coordinator, shards), verbosity=3)
    second = run_tasks(deploy_tasks(coordinator, shards))
    return dict(shards=shards, first=first, second=second)


def test_first_run_changes_and_second_is_idempotent(deployed):
    assert deployed['first'].ok, deployed['first'].stdout
    assert deployed['first'].changed('localhost') == 10
    assert deployed['second'].ok, deployed['second'].stdout
    assert deployed['second'].changed('localhost') == 0


def test_catalogs_hold_what_was_asked(deployed, coordinator, shard1):
    servers = dict(coordinator.query("SELECT srvname, srvoptions FROM pg_foreign_server", dbname=COORDINATOR_DB))
    assert sorted(servers) == ['shard_a', 'shard_b']
    assert 'port=%d' % shard1.port in servers['shard_a']
    assert 'fetch_size=100' in servers['shard_a']
    assert shard1.scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'library'") == 'pgdist_fdw'
    verifier = shard1.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'pgdist_fdw'")
    assert verifier.startswith('SCRAM-SHA-256$')


def test_foreign_table_reads_shard_rows(deployed, coordinator, shard1):
    conn = shard1.connect('library', user='pgdist_fdw', password=FDW_PASSWORD)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS books (id int, title text)")
        cursor.execute("TRUNCATE books")
        cursor.execute("INSERT INTO books VALUES (1, 'Things Fall Apart'), (2, 'Germinal')")
    conn.close()
    coordinator.query("DROP FOREIGN TABLE IF EXISTS books_a", dbname=COORDINATOR_DB)
    coordinator.query("CREATE FOREIGN TABLE books_a (id int, title text) SERVER shard_a "
                      "OPTIONS (table_name 'books')", dbname=COORDINATOR_DB)
    assert coordinator.query("SELECT id, title FROM books_a ORDER BY id", dbname=COORDINATOR_DB) == [
        (1, 'Things Fall Apart'), (2, 'Germinal')]


def test_password_never_shown(deployed):
    for run in (deployed['first'], deployed['second']):
        assert FDW_PASSWORD not in run.stdout
        assert FDW_PASSWORD not in run.stderr
    queries = [q for result in deployed['first'].results() for q in result.get('queries', [])]
    assert any('********' in query for query in queries)


def test_check_mode_reports_change_and_alters_nothing(deployed, coordinator):
    shards = deployed['shards']
    before = coordinator.query("SELECT srvname, srvoptions FROM pg_foreign_server ORDER BY 1", dbname=COORDINATOR_DB)
    run = run_tasks(deploy_tasks(coordinator, shards, fetch_size=500), check=True, diff=True)
    assert run.ok, run.stdout
    assert run.changed('localhost') == 2
    changed = [r for r in run.results() if r.get('changed')]
    assert all('SET "fetch_size"' in r['queries'][0] for r in changed)
    assert changed[0]['diff']['before']['options']['fetch_size'] == '100'
    assert changed[0]['diff']['after']['options']['fetch_size'] == '500'
    assert coordinator.query("SELECT srvname, srvoptions FROM pg_foreign_server ORDER BY 1", dbname=COORDINATOR_DB) == before
