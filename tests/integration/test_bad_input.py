"""Bad input: every refusal names the field and leaves the catalogs as they were;
hostile names are quoted, never injected; unreachable hosts time out naming host and port."""

import socket
import time
from datetime import datetime

import pytest

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

DB = 't2_bad'
HOSTILE = 'x"; DROP TABLE t; --'
NAMES = [HOSTILE, 'with space', 'MixedCase', "semi;colon'quote", 'r\u00f4le_\u00f1_\u6f22']
IGNORE = {'ignore_errors': True}


@pytest.fixture(scope='module')
def database(shard1):
    shard1.query('CREATE DATABASE %s' % DB)
    shard1.query('CREATE EXTENSION postgres_fdw', dbname=DB)
    shard1.query('CREATE TABLE t (v int)', dbname=DB)
    shard1.query('INSERT INTO t VALUES (1)', dbname=DB)
    return DB


def hostile_tasks(cluster):
    tasks = []
    for index, name in enumerate(NAMES):
        tasks += [
            task('user %d' % index, 'user', cluster, name=name, login=False),
            task('server %d' % index, 'foreign_server', cluster, db=DB, name=name, owner=name,
                 options={'host': name, 'dbname': name}),
            task('mapping %d' % index, 'user_mapping', cluster, db=DB, user=name, server=name,
                 options={'user': name}),
        ]
    return tasks + [task('database', 'database', cluster, name=HOSTILE, owner=HOSTILE)]


def test_hostile_names_create_exactly_those_objects(shard1, database):
    roles_before = set(row[0] for row in shard1.query('SELECT rolname FROM pg_roles'))
    first = run_tasks(hostile_tasks(shard1))
    assert first.ok, first.stdout
    assert first.changed('localhost') == 3 * len(NAMES) + 1
    roles_after = set(row[0] for row in shard1.query('SELECT rolname FROM pg_roles'))
    assert roles_after - roles_before == set(NAMES)
    servers = shard1.query("SELECT srvname, pg_get_userbyid(srvowner), srvoptions FROM pg_foreign_server ORDER BY 1",
                           dbname=DB)
    assert servers == sorted((name, name, ['dbname=' + name, 'host=' + name]) for name in NAMES)
    assert sorted(shard1.query('SELECT srvname, usename, umoptions FROM pg_user_mappings', dbname=DB)) == \
        sorted((name, name, ['user=' + name]) for name in NAMES)
    assert shard1.query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (HOSTILE,)) == \
        [(HOSTILE,)]
    assert shard1.query('SELECT v FROM t', dbname=DB) == [(1,)]  # nothing was injected
    second = run_tasks(hostile_tasks(shard1))
    assert second.ok and second.changed('localhost') == 0


def test_names_over_63_bytes_are_refused(shard1, database):
    before = snapshot(shard1, (DB,))
    long_ascii, long_multibyte = 'a' * 64, '\u00e9' * 32
    run = run_tasks([
        task('user', 'user', shard1, name=long_ascii, _task=IGNORE),
        task('user multibyte', 'user', shard1, name=long_multibyte, _task=IGNORE),
        task('database', 'database', shard1, name=long_multibyte, _task=IGNORE),
        task('database owner', 'database', shard1, name='t2_ok', owner=long_ascii, _task=IGNORE),
        task('server', 'foreign_server', shard1, db=DB, name=long_ascii, _task=IGNORE),
        task('option name', 'foreign_server', shard1, db=DB, name='t2_ok', options={long_ascii: 'x'}, _task=IGNORE),
        task('mapping server', 'user_mapping', shard1, db=DB, user='PUBLIC', server=long_multibyte, _task=IGNORE),
        task('extension', 'extension', shard1, db=DB, name=long_ascii, _task=IGNORE),
    ])
    results = by_name(run)
    fields = {'user': 'name', 'user multibyte': 'name', 'database': 'name', 'database owner': 'owner',
              'server': 'name', 'option name': 'options', 'mapping server': 'server', 'extension': 'name'}
    for title, field in fields.items():
        message = results[title]['msg']
        assert results[title]['failed'], title
        assert message.startswith(field + ' ') and 'is 64 bytes long' in message and '63' in message, message
    assert snapshot(shard1, (DB,)) == before


def test_wrong_login_password(shard1, database):
    before = snapshot(shard1, (DB,))
    login = dict(shard1.login, login_password='not-the-password')
    run = run_tasks([dict(task('user', 'user', None, name='t2_never', **login), **IGNORE)])
    message = by_name(run)['user']['msg']
    assert 'unable to connect to PostgreSQL at 127.0.0.1 port %d' % shard1.port in message
    assert 'password authentication failed for user "postgres"' in message
    assert 'not-the-password' not in run.stdout + run.stderr
    assert snapshot(shard1, (DB,)) == before


def task_seconds(run, title):
    for play in run.data['plays']:
        for entry in play['tasks']:
            if entry['task']['name'] == title:
                duration = entry['task']['duration']
                start, end = (datetime.fromisoformat(duration[key].replace('Z', '+00:00')) for key in ('start', 'end'))
                return (end - start).total_seconds()
    raise AssertionError('no task %s' % title)


def test_unreachable_host_times_out_naming_host_and_port():
    """A socket that accepts TCP connections (the kernel does) but never answers."""
    with socket.socket() as silent:
        silent.bind(('127.0.0.1', 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        started = time.monotonic()
        run = run_tasks([task('user', 'user', None, name='t2_never', login_host='127.0.0.1', login_port=port,
                              login_user='postgres', login_password='irrelevant-pw', connect_timeout=2,
                              _task=IGNORE)])
        elapsed = time.monotonic() - started
    result = by_name(run)['user']
    assert result['failed']
    assert result['msg'].startswith('unable to connect to PostgreSQL at 127.0.0.1 port %d' % port)
    assert 'timeout expired' in result['msg']
    seconds = task_seconds(run, 'user')
    assert 2 <= seconds < 8, seconds  # the module waited for connect_timeout, not the default 10 s or forever
    assert elapsed >= 2
