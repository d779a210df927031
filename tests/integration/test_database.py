"""pgdist.cluster.database on shard2: create, idempotence, check mode, diff, owner, locale errors, absent."""

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 'T2 db\u00e9'  # a space, upper case and a multibyte character, quoted verbatim


def owners(cluster):
    return [task('owner ' + name, 'user', cluster, name=name, login=False) for name in ('t2_own_a', 't2_own_b')]


def db_task(cluster, **args):
    return task('database', 'database', cluster, name=DB, **args)


def test_database_lifecycle(shard2):
    wanted = dict(owner='t2_own_a', encoding='UTF8', lc_collate='C.UTF-8', lc_ctype='C.UTF-8', template='template0')
    first = run_tasks(owners(shard2) + [db_task(shard2, **wanted)], diff=True)
    assert first.ok, first.stdout
    result = by_name(first)['database']
    assert result['changed'] and result['queries'] == [
        'CREATE DATABASE "T2 db\u00e9" OWNER "t2_own_a" TEMPLATE "template0" ENCODING \'UTF8\' '
        'LC_COLLATE \'C.UTF-8\' LC_CTYPE \'C.UTF-8\'']
    assert result['diff'] == {'before': {}, 'after': dict(name=DB, owner='t2_own_a', encoding='UTF8',
                                                          lc_collate='C.UTF-8', lc_ctype='C.UTF-8')}
    assert shard2.query("SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database "
                        "WHERE datname = %s", (DB,)) == [('t2_own_a', 'UTF8')]

    second = run_tasks(owners(shard2) + [db_task(shard2, **wanted)])
    assert second.ok and second.changed('localhost') == 0

    # Check mode with diff: a new owner is planned, nothing changes.
    before = snapshot(shard2)
    check = run_tasks([db_task(shard2, owner='t2_own_b')], check=True, diff=True)
    assert check.ok and check.changed('localhost') == 1
    result = by_name(check)['database']
    assert result['queries'] == ['ALTER DATABASE "T2 db\u00e9" OWNER TO "t2_own_b"']
    assert result['diff']['before']['owner'] == 't2_own_a' and result['diff']['after']['owner'] == 't2_own_b'
    assert snapshot(shard2) == before

    owner = run_tasks([db_task(shard2, owner='t2_own_b')])
    assert owner.ok and owner.changed('localhost') == 1
    assert shard2.scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (DB,)) == 't2_own_b'


def test_differing_encoding_or_locale_is_an_error(shard2):
    shard2.query('CREATE DATABASE t2_locale TEMPLATE template0')
    before = snapshot(shard2)
    run = run_tasks([
        task('encoding', 'database', shard2, name='t2_locale', encoding='LATIN1', _task={'ignore_errors': True}),
        task('collate', 'database', shard2, name='t2_locale', lc_collate='C', lc_ctype='C',
             _task={'ignore_errors': True}),
        task('missing owner', 'database', shard2, name='t2_locale', owner='t2_nobody', _task={'ignore_errors': True}),
        task('same', 'database', shard2, name='t2_locale', encoding='utf-8', lc_collate='C.UTF-8'),
    ])
    results = by_name(run)
    assert results['encoding']['failed']
    assert 'encoding is UTF8, wanted LATIN1' in results['encoding']['msg']
    assert results['collate']['failed']
    assert 'lc_collate is C.UTF-8, wanted C' in results['collate']['msg']
    assert 'lc_ctype is C.UTF-8, wanted C' in results['collate']['msg']
    assert results['missing owner']['failed'] and results['missing owner']['msg'].startswith('owner: ')
    assert not results['same'].get('failed') and not results['same']['changed']
    assert snapshot(shard2) == before


def test_absent(shard2):
    shard2.query('CREATE DATABASE t2_gone')
    before = snapshot(shard2)
    check = run_tasks([task('drop', 'database', shard2, name='t2_gone', state='absent')], check=True)
    assert check.ok and check.changed('localhost') == 1
    assert snapshot(shard2) == before
    run = run_tasks([task('drop', 'database', shard2, name='t2_gone', state='absent'),
                     task('again', 'database', shard2, name='t2_gone', state='absent')])
    results = by_name(run)
    assert results['drop']['changed'] and results['drop']['queries'] == ['DROP DATABASE "t2_gone"']
    assert not results['again']['changed']
    assert shard2.scalar("SELECT count(*) FROM pg_database WHERE datname = 't2_gone'") == 0
