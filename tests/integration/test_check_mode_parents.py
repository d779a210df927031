"""Check mode plans through parents it has not created (issue 21, point 4), on shard1.

A check run of a whole deployment reaches tasks whose database, login role, foreign server or table an
earlier task would have created. Each module reports changed with the statements it would run and names the
parents in missing_parents, and nothing changes (template1 included, which stands in for a missing
database). Outside check mode the same tasks fail as before, naming what is missing."""

import pytest

from support.ansible import run_tasks
from support.pgcluster import SUPERUSER_PASSWORD
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 'chk_new'
SERVER_OPTIONS = dict(host='10.9.9.9', port='5432', dbname=DB)
TABLE = dict(name='events', columns=[dict(name='id', type='bigint'), dict(name='note', type='varchar(20)')],
             partition_by=dict(method='hash', key='id'))
# Without a login of its own (the missing role), libpq's defaults apply, as the roles' postgres peer login does.
DEFAULT_LOGIN = dict(PGUSER='postgres', PGPASSWORD=SUPERUSER_PASSWORD)


def deployment(cluster):
    """A new database and everything in it, as the coordinator, shard and replication roles create them."""
    return [
        task('database', 'database', cluster, name=DB, owner='chk_owner'),
        task('extension', 'extension', cluster, db=DB, name='postgres_fdw'),
        task('server', 'foreign_server', cluster, db=DB, name='chk_srv', options=SERVER_OPTIONS),
        task('mapping', 'user_mapping', cluster, db=DB, user='postgres', server='chk_srv',
             options=dict(user='chk_fdw', password='chk-secret')),
        task('coordinator table', 'partitioned_table', cluster, db=DB, partitions=[
            dict(name='events_p0', modulus=2, remainder=0, server='chk_srv'),
            dict(name='events_p1', modulus=2, remainder=1)], **TABLE),
        task('shard table', 'partitioned_table', cluster, db=DB, side='shard', login_user='chk_fdw',
             login_password='chk-secret', partitions=[dict(name='events_p0', modulus=2, remainder=0)], **TABLE),
        task('publication', 'publication', cluster, db=DB, name='chk_pub', tables=['public.events_p0'],
             keyless_identity='full'),
        task('grant', 'table_privileges', cluster, db=DB, role='chk_reader', tables=['public.events_p0']),
    ]


@pytest.fixture(scope='module')
def before(shard1):
    assert shard1.scalar('SELECT count(*) FROM pg_database WHERE datname = %s', (DB,)) == 0
    return snapshot(shard1, ('template1', 'postgres'))


def test_check_mode_plans_every_task_of_a_new_database(shard1, before):
    run = run_tasks(deployment(shard1), check=True, diff=True, env=DEFAULT_LOGIN)
    assert run.ok, run.stdout[-3000:]
    results = by_name(run)
    assert all(result['changed'] for result in results.values()), dict((k, v['changed']) for k, v in results.items())
    assert results['database']['queries'] == ['CREATE DATABASE "chk_new" OWNER "chk_owner"']
    assert results['database']['missing_parents'] == ['role chk_owner']
    assert results['extension']['queries'] == ['CREATE EXTENSION "postgres_fdw"']
    assert results['extension']['missing_parents'] == ['database chk_new']
    assert results['server']['queries'][0].startswith('CREATE SERVER "chk_srv" FOREIGN DATA WRAPPER "postgres_fdw"')
    assert results['server']['missing_parents'] == ['database chk_new', 'foreign-data wrapper postgres_fdw']
    assert results['mapping']['queries'] == [
        'CREATE USER MAPPING FOR "postgres" SERVER "chk_srv" OPTIONS ("password" \'********\', "user" \'chk_fdw\')']
    assert results['mapping']['missing_parents'] == ['database chk_new', 'foreign server chk_srv']
    coordinator = results['coordinator table']['queries']
    assert coordinator[0].startswith('CREATE TABLE "public"."events" (') and 'PARTITION BY HASH ("id")' in coordinator[0]
    assert any(query.startswith('CREATE FOREIGN TABLE "public"."events_p0" PARTITION OF') and 'SERVER "chk_srv"' in query
               for query in coordinator), coordinator
    # The server parsed the type in template1: varchar(20) is shown as PostgreSQL prints it.
    assert 'character varying(20)' in coordinator[0]
    assert results['coordinator table']['missing_parents'] == ['database chk_new', 'foreign server chk_srv']
    assert results['shard table']['missing_parents'] == ['role chk_fdw', 'database chk_new']
    # The shard table and the key guard that refuses an UPDATE moving a row off this shard.
    shard_queries = results['shard table']['queries']
    assert [query.split(' (')[0] for query in shard_queries[:2]] == [
        'CREATE TABLE "public"."_pgdist_hash_events"', 'CREATE TABLE "public"."events_p0"']
    assert shard_queries[2].startswith('CREATE OR REPLACE FUNCTION "public"."events_pgdist_key_guard"()')
    assert shard_queries[3].startswith('CREATE TRIGGER') and len(shard_queries) == 4
    assert results['publication']['queries'] == ['CREATE PUBLICATION "chk_pub" FOR TABLE "public"."events_p0" '
                                                 'WITH ("publish" = \'insert, update, delete, truncate\', '
                                                 '"publish_via_partition_root" = false)']
    assert results['publication']['missing_parents'] == ['database chk_new', 'table public.events_p0']
    assert results['grant']['queries'] == ['GRANT SELECT ON TABLE "public"."events_p0" TO "chk_reader"']
    assert results['grant']['missing_parents'] == ['database chk_new', 'role chk_reader', 'table public.events_p0']
    warnings = ' '.join(' '.join(result.get('warnings', [])) for result in results.values())
    assert 'check mode: database chk_new, foreign server chk_srv do not exist yet' in warnings
    assert 'chk-secret' not in run.stdout
    assert snapshot(shard1, ('template1', 'postgres')) == before


def test_outside_check_mode_the_missing_parents_fail_as_before(shard1, before):
    run = run_tasks([dict(entry, ignore_errors=True) for entry in deployment(shard1)[1:4]], env=DEFAULT_LOGIN)
    results = by_name(run)
    assert all(result.get('failed') for result in results.values()), results
    assert 'database "chk_new" does not exist' in results['extension']['msg']
    assert 'missing_parents' not in results['extension']
    assert snapshot(shard1, ('template1', 'postgres')) == before


def test_a_cluster_that_cannot_be_reached_still_fails_in_check_mode(shard1):
    unreachable = dict(shard1.login, login_port=1)
    run = run_tasks([{'name': 'db', 'pgdist.cluster.extension': dict(unreachable, db=DB, name='postgres_fdw'),
                      'ignore_errors': True}], check=True)
    result = run.results()[0]
    assert result['failed'] and 'unable to connect to PostgreSQL at 127.0.0.1 port 1' in result['msg']


def test_cluster_info_reads_template1_for_a_database_that_does_not_exist(shard1):
    run = run_tasks([task('info', 'cluster_info', shard1, db=DB, gather=['tables', 'settings'], probe=False)])
    assert run.ok, run.stdout[-2000:]
    info = run.results()[0]
    assert info['missing_parents'] == ['database chk_new']
    assert info['instance']['database'] == 'template1'
    assert info['tables'] == {} and not info['changed']
