"""pgdist.cluster.user_mapping on shard2: PUBLIC, CURRENT_USER, a role; password compared without being shown."""

import json

import pytest

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 't2_um'
PW1 = 'T2-map-pw-1'
PW2 = 'T2-map-pw-2'


@pytest.fixture(scope='module')
def database(shard2):
    shard2.query('CREATE DATABASE %s' % DB)
    for statement in ('CREATE EXTENSION postgres_fdw', "CREATE SERVER t2_um_srv FOREIGN DATA WRAPPER postgres_fdw",
                      'CREATE ROLE "T2 Mapped"'):
        shard2.query(statement, dbname=DB)
    return DB


def mappings(cluster):
    rows = cluster.query("SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 't2_um_srv'", dbname=DB)
    return dict((user, sorted(options or [])) for user, options in rows)


def maps(cluster, password):
    return [
        task('public', 'user_mapping', cluster, db=DB, user='PUBLIC', server='t2_um_srv', options=dict(user='anon')),
        task('current', 'user_mapping', cluster, db=DB, user='CURRENT_USER', server='t2_um_srv',
             options=dict(user='me', password=password)),
        task('role', 'user_mapping', cluster, db=DB, user='T2 Mapped', server='t2_um_srv',
             options=dict(user='remote', password=password)),
    ]


def test_user_mapping_lifecycle(shard2, database):
    first = run_tasks(maps(shard2, PW1), diff=True)
    assert first.ok, first.stdout
    results = by_name(first)
    assert results['public']['queries'] == [
        'CREATE USER MAPPING FOR PUBLIC SERVER "t2_um_srv" OPTIONS ("user" \'anon\')']
    assert results['role']['queries'] == [
        'CREATE USER MAPPING FOR "T2 Mapped" SERVER "t2_um_srv" OPTIONS ("password" \'********\', "user" \'remote\')']
    assert results['current']['diff']['after']['options'] == {'user': 'me', 'password': '********'}
    assert mappings(shard2) == {'public': ['user=anon'], 'postgres': ['password=' + PW1, 'user=me'],
                                'T2 Mapped': ['password=' + PW1, 'user=remote']}
    assert run_tasks(maps(shard2, PW1)).changed('localhost') == 0

    # A changed password is detected and planned without being shown.
    before = snapshot(shard2, (DB,))
    check = run_tasks(maps(shard2, PW2), check=True, diff=True)
    assert check.ok and check.changed('localhost') == 2
    result = by_name(check)['role']
    assert result['queries'] == [
        'ALTER USER MAPPING FOR "T2 Mapped" SERVER "t2_um_srv" OPTIONS (SET "password" \'********\')']
    assert result['diff']['before']['options'] == {'user': 'remote', 'password': '********'}
    assert result['diff']['after']['options'] == {'user': 'remote', 'password': '******** (changed)'}
    dumped = json.dumps(check.data) + check.stdout + check.stderr
    assert PW1 not in dumped and PW2 not in dumped
    assert snapshot(shard2, (DB,)) == before

    applied = run_tasks(maps(shard2, PW2))
    assert applied.ok and applied.changed('localhost') == 2
    assert mappings(shard2)['T2 Mapped'] == ['password=' + PW2, 'user=remote']

    # The wanted options are the whole set: dropping the password.
    dropped = run_tasks([task('role', 'user_mapping', shard2, db=DB, user='T2 Mapped', server='t2_um_srv',
                              options=dict(user='remote'))])
    assert by_name(dropped)['role']['queries'] == [
        'ALTER USER MAPPING FOR "T2 Mapped" SERVER "t2_um_srv" OPTIONS (DROP "password")']
    assert mappings(shard2)['T2 Mapped'] == ['user=remote']


def test_errors_and_absent(shard2, database):
    if 'public' not in mappings(shard2):
        shard2.query("CREATE USER MAPPING FOR PUBLIC SERVER t2_um_srv OPTIONS (user 'x')", dbname=DB)
    before = snapshot(shard2, (DB,))
    ignore = {'ignore_errors': True}
    run = run_tasks([
        task('no server', 'user_mapping', shard2, db=DB, user='PUBLIC', server='t2_no_srv', _task=ignore),
        task('no role', 'user_mapping', shard2, db=DB, user='t2_nobody', server='t2_um_srv', _task=ignore),
        task('bad option', 'user_mapping', shard2, db=DB, user='PUBLIC', server='t2_um_srv',
             options=dict(user='x', host='h'), _task=ignore),
        task('drop check', 'user_mapping', shard2, db=DB, user='public', server='t2_um_srv', state='absent',
             _task={'check_mode': True}),
    ])
    results = by_name(run)
    assert results['no server']['msg'] == "server: foreign server 't2_no_srv' does not exist in this database"
    assert results['no role']['msg'] == "user: role 't2_nobody' does not exist"
    assert results['bad option']['msg'].startswith('options: ') and '"host"' in results['bad option']['msg']
    assert results['drop check']['changed']
    assert snapshot(shard2, (DB,)) == before
    run = run_tasks([task('drop', 'user_mapping', shard2, db=DB, user='PUBLIC', server='t2_um_srv', state='absent'),
                     task('again', 'user_mapping', shard2, db=DB, user='PUBLIC', server='t2_um_srv', state='absent')])
    results = by_name(run)
    assert results['drop']['queries'] == ['DROP USER MAPPING FOR PUBLIC SERVER "t2_um_srv"']
    assert not results['again']['changed'] and 'public' not in mappings(shard2)
