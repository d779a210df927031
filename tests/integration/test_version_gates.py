"""Options newer than the server: on every major each one is either refused before any change, naming the
field and the version it needs, or accepted and applied (idempotent), depending on the server.

Publication row filters, column lists and schemas are gated in test_publication.py, the CREATEROLE and
MD5 differences in test_user.py.
"""

import pytest

from support.ansible import run_tasks
from support.tasks import by_name, task

DB = 'gates'
IGNORE = {'ignore_errors': True}

# (option, a valid value, first major) of postgres_fdw, per object it is set on
SERVER_OPTIONS = [('async_capable', 'true', 14), ('batch_size', 100, 14), ('keep_connections', 'off', 14),
                  ('truncatable', 'false', 14), ('parallel_commit', 'true', 15), ('parallel_abort', 'true', 16),
                  ('analyze_sampling', 'random', 16), ('use_scram_passthrough', 'true', 18)]
MAPPING_OPTIONS = [('use_scram_passthrough', 'true', 18)]
TABLE_OPTIONS = [('async_capable', 'true', 14), ('batch_size', 100, 14), ('truncatable', 'false', 14),
                 ('analyze_sampling', 'off', 16)]
# (option, value, first major) of subscriptions
SUBSCRIPTION_OPTIONS = [('binary', True, 14), ('streaming', 'on', 14), ('disable_on_error', True, 15),
                        ('streaming', 'parallel', 16)]


@pytest.fixture(scope='module')
def coordinator_db(coordinator):
    coordinator.query('CREATE DATABASE %s' % DB)
    coordinator.query('CREATE EXTENSION postgres_fdw', dbname=DB)
    coordinator.query("CREATE SERVER gates_base FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'gates')",
                      dbname=DB)
    yield coordinator
    coordinator.query('DROP DATABASE %s WITH (FORCE)' % DB)


def needs(cluster, first, field):
    return '%s needs PostgreSQL %d or later; this server runs %s' % (field, first, cluster.version())


def assert_gated(cluster, tasks, cases, field):
    """Run tasks (one per case, same order) in check mode, for real and again; newer-than-the-server ones fail
    with needs(), the others change in check mode and for real, then not again. Returns the refused ones."""
    checked = run_tasks(tasks, check=True).results()
    applied = run_tasks(tasks).results()
    again = run_tasks(tasks).results()
    refused = []
    for (option, value, first), check, real, second in zip(cases, checked, applied, again):
        label = '%s=%s' % (option, value)
        if cluster.major < first:
            message = needs(cluster, first, field(option, value))
            assert check.get('failed') and real.get('failed') and second.get('failed'), label
            assert check['msg'] == real['msg'] == message, (label, real['msg'])
            refused.append(label)
        else:
            assert not real.get('failed'), (label, real.get('msg'))
            assert check['changed'] and real['changed'] and not second['changed'], label
    return refused


def test_foreign_server_options(coordinator_db):
    tasks = [task(option, 'foreign_server', coordinator_db, db=DB, name='gates_%s' % option,
                  options=dict(dbname='gates', **{option: value}), _task=IGNORE)
             for option, value, _first in SERVER_OPTIONS]
    refused = assert_gated(coordinator_db, tasks, SERVER_OPTIONS,
                           lambda option, value: 'options: postgres_fdw option %s' % option)
    servers = dict(coordinator_db.query('SELECT srvname, srvoptions FROM pg_foreign_server', dbname=DB))
    for option, value, first in SERVER_OPTIONS:
        created = servers.get('gates_%s' % option)
        wanted = sorted(['dbname=gates', '%s=%s' % (option, value)]) if coordinator_db.major >= first else None
        assert (sorted(created) if created else None) == wanted, option
    assert len(refused) == sum(coordinator_db.major < first for _o, _v, first in SERVER_OPTIONS)


def test_user_mapping_options(coordinator_db):
    tasks = [task(option, 'user_mapping', coordinator_db, db=DB, server='gates_base', user='postgres',
                  options={'user': 'postgres', option: value}, _task=IGNORE)
             for option, value, _first in MAPPING_OPTIONS]
    assert_gated(coordinator_db, tasks, MAPPING_OPTIONS,
                 lambda option, value: 'options: postgres_fdw option %s' % option)
    mappings = [sorted(row[0]) for row in coordinator_db.query('SELECT umoptions FROM pg_user_mappings', dbname=DB)]
    assert mappings == ([['use_scram_passthrough=true', 'user=postgres']] if coordinator_db.major >= 18 else [])


def test_foreign_partition_options(coordinator_db):
    tasks = [task(option, 'partitioned_table', coordinator_db, db=DB, name='gated_%s' % option,
                  columns=[{'name': 'id', 'type': 'int'}], partition_by={'method': 'hash', 'key': 'id'},
                  partitions=[{'name': 'gated_%s_p0' % option, 'modulus': 1, 'remainder': 0, 'server': 'gates_base',
                               'options': {option: value}}], _task=IGNORE)
             for option, value, _first in TABLE_OPTIONS]
    assert_gated(coordinator_db, tasks, TABLE_OPTIONS,
                 lambda option, value: 'partitions: gated_%s_p0: options: postgres_fdw option %s' % (option, option))
    tables = set(row[0] for row in coordinator_db.query(
        "SELECT relname FROM pg_class WHERE relname LIKE 'gated%%' AND relkind = 'p'", dbname=DB))
    assert tables == set('gated_%s' % option for option, _value, first in TABLE_OPTIONS
                         if coordinator_db.major >= first)


def test_subscription_options(shard1):
    """Check mode: CREATE SUBSCRIPTION is planned (no publisher needed) with the option, or refused."""
    tasks = [task('%s=%s' % (option, value), 'subscription', shard1, name='gated', publications=['none'],
                  connection=dict(host='127.0.0.1', port=1, dbname='x', user='x'),
                  options={option: value}, _task=dict(IGNORE, check_mode=True))
             for option, value, _first in SUBSCRIPTION_OPTIONS]
    results = run_tasks(tasks).results()
    for (option, value, first), result in zip(SUBSCRIPTION_OPTIONS, results):
        if shard1.major < first:
            field = 'options.%s: %s' % (option, str(value).lower())
            assert result['failed'] and result['msg'] == needs(shard1, first, field)
        else:
            assert not result.get('failed'), result.get('msg')
            assert ('"%s" = %s' % (option, 'true' if value is True else "'%s'" % value)) in result['queries'][0]
    # What PostgreSQL 13 and 14 always do is accepted there, and left out of the statement.
    plain = run_tasks([task('defaults', 'subscription', shard1, name='gated', publications=['none'],
                            connection=dict(host='127.0.0.1', port=1, dbname='x', user='x'),
                            options=dict(binary=False, streaming='off', disable_on_error=False),
                            _task=dict(check_mode=True))], diff=True)
    result = by_name(plain)['defaults']
    assert plain.ok and result['changed']
    shown = dict(binary='false', streaming="'off'", disable_on_error='false')
    wanted = [name for name, first in (('binary', 14), ('disable_on_error', 15), ('streaming', 14))
              if shard1.major >= first]
    assert ', '.join('"%s" = %s' % (name, shown[name]) for name in wanted) in result['queries'][0]
    assert ('WITH' in result['queries'][0]) == bool(wanted)
