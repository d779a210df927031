"""pgdist.cluster.extension in its own database: version, schema, cascade, absent, unknown names."""

import pytest

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 't2_ext'


@pytest.fixture(scope='module')
def database(shard2):
    shard2.query('CREATE DATABASE %s' % DB)
    shard2.query('CREATE SCHEMA ext_home', dbname=DB)
    return DB


def extensions(cluster):
    return cluster.query("SELECT e.extname, e.extversion, n.nspname FROM pg_extension e "
                         "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname <> 'plpgsql' ORDER BY 1",
                         dbname=DB)


def test_extension_lifecycle(shard2, database):
    first = run_tasks([task('hstore', 'extension', shard2, db=DB, name='hstore', version='1.4'),
                       task('earthdistance', 'extension', shard2, db=DB, name='earthdistance', cascade=True)],
                      diff=True)
    assert first.ok, first.stdout
    results = by_name(first)
    assert results['hstore']['queries'] == ['CREATE EXTENSION "hstore" VERSION \'1.4\'']
    assert results['hstore']['diff'] == {'before': {}, 'after': {'name': 'hstore', 'schema': None, 'version': '1.4'}}
    assert results['earthdistance']['queries'] == ['CREATE EXTENSION "earthdistance" CASCADE']
    assert [row[0] for row in extensions(shard2)] == ['cube', 'earthdistance', 'hstore']
    assert ('hstore', '1.4', 'public') in extensions(shard2)

    again = run_tasks([task('hstore', 'extension', shard2, db=DB, name='hstore', version='1.4'),
                       task('earthdistance', 'extension', shard2, db=DB, name='earthdistance')])
    assert again.ok and again.changed('localhost') == 0

    before = snapshot(shard2, (DB,))
    # hstore's newest version: 1.7 on PostgreSQL 13, 1.8 from 14 on
    latest = shard2.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'hstore'")
    assert latest == ('1.7' if shard2.major == 13 else '1.8')
    # No version leaves an installed one alone; latest updates it to the default of the files installed now
    # (what the coordinator role asks of pgdist after a new build).
    unset = run_tasks([task('hstore', 'extension', shard2, db=DB, name='hstore')], check=True)
    assert unset.ok and unset.changed('localhost') == 0
    newest = run_tasks([task('hstore', 'extension', shard2, db=DB, name='hstore', version='latest')], check=True)
    assert by_name(newest)['hstore']['queries'] == ['ALTER EXTENSION "hstore" UPDATE TO \'%s\'' % latest]
    update = [task('hstore', 'extension', shard2, db=DB, name='hstore', version=latest, schema='ext_home')]
    check = run_tasks(update, check=True, diff=True)
    result = by_name(check)['hstore']
    assert check.ok and result['changed']
    assert result['queries'] == ['ALTER EXTENSION "hstore" UPDATE TO \'%s\'' % latest,
                                 'ALTER EXTENSION "hstore" SET SCHEMA "ext_home"']
    assert result['diff']['before']['version'] == '1.4' and result['diff']['after']['version'] == latest
    assert snapshot(shard2, (DB,)) == before
    applied = run_tasks(update)
    assert applied.ok and applied.changed('localhost') == 1
    assert ('hstore', latest, 'ext_home') in extensions(shard2)


def test_absent_unknown_and_refused(shard2, database):
    shard2.query('CREATE EXTENSION IF NOT EXISTS cube', dbname=DB)
    shard2.query('CREATE EXTENSION IF NOT EXISTS earthdistance', dbname=DB)
    before = snapshot(shard2, (DB,))
    ignore = {'ignore_errors': True}
    run = run_tasks([
        task('unknown', 'extension', shard2, db=DB, name='no_such_ext', _task=ignore),
        task('bad version', 'extension', shard2, db=DB, name='pg_trgm', version='9.9', _task=ignore),
        task('dependents', 'extension', shard2, db=DB, name='cube', state='absent', _task=ignore),
    ])
    results = by_name(run)
    assert results['unknown']['failed'] and results['unknown']['msg'].startswith("name: extension 'no_such_ext'")
    assert results['bad version']['failed'] and results['bad version']['msg'].startswith('version: ')
    assert results['dependents']['failed'] and 'earthdistance' in results['dependents']['msg']
    assert snapshot(shard2, (DB,)) == before
    run = run_tasks([task('drop', 'extension', shard2, db=DB, name='cube', state='absent', cascade=True),
                     task('again', 'extension', shard2, db=DB, name='cube', state='absent')])
    results = by_name(run)
    assert results['drop']['queries'] == ['DROP EXTENSION "cube" CASCADE'] and not results['again']['changed']
    assert [row[0] for row in extensions(shard2)] == ['hstore']
