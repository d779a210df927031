"""pgdist.cluster.foreign_server on shard2: options ADD/SET/DROP, owner, fdw change refused, absent."""

import pytest

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 't2_fs'


@pytest.fixture(scope='module')
def database(shard2):
    shard2.query('CREATE DATABASE %s' % DB)
    for statement in ('CREATE EXTENSION postgres_fdw', 'CREATE EXTENSION file_fdw', 'CREATE ROLE t2_fs_owner',
                      'GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO t2_fs_owner'):
        shard2.query(statement, dbname=DB)
    return DB


def server(cluster, name):
    rows = cluster.query("SELECT w.fdwname, pg_get_userbyid(s.srvowner), s.srvoptions FROM pg_foreign_server s "
                         "JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE srvname = %s", (name,), dbname=DB)
    if not rows:
        return None
    fdw, owner, options = rows[0]
    return dict(fdw=fdw, owner=owner, options=dict(item.split('=', 1) for item in options or []))


def srv(cluster, **args):
    return task('server', 'foreign_server', cluster, db=DB, name='t2_srv', **args)


def test_foreign_server_lifecycle(shard2, database):
    options = dict(host='10.0.0.1', port=5432, dbname='library')
    first = run_tasks([srv(shard2, options=options)], diff=True)
    assert first.ok, first.stdout
    result = by_name(first)['server']
    assert result['queries'] == ['CREATE SERVER "t2_srv" FOREIGN DATA WRAPPER "postgres_fdw" '
                                 'OPTIONS ("dbname" \'library\', "host" \'10.0.0.1\', "port" \'5432\')']
    assert result['diff']['after']['options'] == {'host': '10.0.0.1', 'port': '5432', 'dbname': 'library'}
    assert server(shard2, 't2_srv') == dict(fdw='postgres_fdw', owner='postgres',
                                            options={'host': '10.0.0.1', 'port': '5432', 'dbname': 'library'})
    assert run_tasks([srv(shard2, options=options)]).changed('localhost') == 0

    # One ALTER with DROP, ADD and SET; check mode first.
    wanted = dict(host='10.0.0.2', port=5432, fetch_size=500)
    before = snapshot(shard2, (DB,))
    check = run_tasks([srv(shard2, options=wanted, owner='t2_fs_owner')], check=True, diff=True)
    result = by_name(check)['server']
    assert check.ok and result['changed']
    assert result['queries'] == [
        'ALTER SERVER "t2_srv" OPTIONS (DROP "dbname", ADD "fetch_size" \'500\', SET "host" \'10.0.0.2\')',
        'ALTER SERVER "t2_srv" OWNER TO "t2_fs_owner"']
    assert result['diff']['before']['options']['host'] == '10.0.0.1'
    assert result['diff']['after'] == dict(name='t2_srv', fdw='postgres_fdw', owner='t2_fs_owner',
                                           options={'host': '10.0.0.2', 'port': '5432', 'fetch_size': '500'})
    assert snapshot(shard2, (DB,)) == before
    applied = run_tasks([srv(shard2, options=wanted, owner='t2_fs_owner')])
    assert applied.ok and applied.changed('localhost') == 1
    assert server(shard2, 't2_srv') == dict(fdw='postgres_fdw', owner='t2_fs_owner',
                                            options={'host': '10.0.0.2', 'port': '5432', 'fetch_size': '500'})
    # Options unset: kept as they are.
    assert run_tasks([srv(shard2)]).changed('localhost') == 0


def test_refusals_leave_catalog_unchanged(shard2, database):
    shard2.query("CREATE SERVER t2_used FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h')", dbname=DB)
    shard2.query("CREATE USER MAPPING FOR PUBLIC SERVER t2_used OPTIONS (user 'u')", dbname=DB)
    shard2.query("CREATE FOREIGN TABLE t2_remote (id int) SERVER t2_used", dbname=DB)
    before = snapshot(shard2, (DB,))
    ignore = {'ignore_errors': True}
    run = run_tasks([
        task('fdw change', 'foreign_server', shard2, db=DB, name='t2_used', fdw='file_fdw', _task=ignore),
        task('dependents', 'foreign_server', shard2, db=DB, name='t2_used', state='absent', _task=ignore),
        task('unknown option', 'foreign_server', shard2, db=DB, name='t2_used', options=dict(hots='h'),
             _task=ignore),
        task('missing owner', 'foreign_server', shard2, db=DB, name='t2_used', owner='t2_nobody', _task=ignore),
        task('missing fdw', 'foreign_server', shard2, db=DB, name='t2_new', fdw='no_fdw', _task=ignore),
    ])
    results = by_name(run)
    for name in results:
        assert results[name]['failed'], name
    assert 'uses wrapper postgres_fdw, not file_fdw' in results['fdw change']['msg']
    assert 'public.t2_remote' in results['dependents']['msg'] and 'cascade' in results['dependents']['msg']
    assert results['unknown option']['msg'].startswith('options: ') and 'hots' in results['unknown option']['msg']
    assert results['missing owner']['msg'].startswith('owner: ')
    assert results['missing fdw']['msg'].startswith('fdw: ')
    assert snapshot(shard2, (DB,)) == before

    run = run_tasks([task('drop', 'foreign_server', shard2, db=DB, name='t2_used', state='absent', cascade=True),
                     task('again', 'foreign_server', shard2, db=DB, name='t2_used', state='absent')])
    results = by_name(run)
    assert results['drop']['changed'] and not results['again']['changed']
    assert server(shard2, 't2_used') is None
    assert shard2.scalar("SELECT count(*) FROM pg_class WHERE relname = 't2_remote'", dbname=DB) == 0
