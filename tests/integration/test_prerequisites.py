"""pgdist.cluster.prerequisites on this machine: what is installed is found, a missing command, Python module,
file or set of server headers fails naming its package (check mode too), a PATH without pgbackrest is one."""

import pytest

from support.ansible import run_module, run_tasks

PRESENT = [dict(package='python3-psycopg2', python_module='psycopg2'), dict(package='make', executable='make'),
           dict(package='postgresql-15', file='/usr/lib/postgresql/15/bin/postgres'),
           dict(package='postgresql-server-dev-15', pg_config='/usr/lib/postgresql/15/bin/pg_config'),
           dict(package='pgbackrest', executable='pgbackrest')]


def test_what_this_machine_has_is_found():
    result, run = run_module('prerequisites', dict(requirements=PRESENT))
    assert run.ok and not result['changed'] and result['missing'] == [], result


@pytest.mark.parametrize('check', [False, True])
def test_what_is_missing_fails_naming_each_package(check):
    requirements = PRESENT + [
        dict(package='python3-pgdist-nosuch', python_module='pgdist_nosuch', purpose='the test'),
        dict(package='postgresql-server-dev-12', pg_config='/usr/lib/postgresql/12/bin/pg_config'),
        dict(package='pgdist-nosuch-tools', executable='pgdist-nosuch')]
    result, run = run_module('prerequisites', dict(requirements=requirements), check=check)
    assert result.get('failed'), result
    assert [item['package'] for item in result['missing']] == [
        'python3-pgdist-nosuch', 'postgresql-server-dev-12', 'pgdist-nosuch-tools']
    assert result['msg'] == (
        'missing: python3-pgdist-nosuch (python module pgdist_nosuch cannot be imported, for the test); '
        'postgresql-server-dev-12 (server headers of /usr/lib/postgresql/12/bin/pg_config '
        '(/usr/lib/postgresql/12/bin/pg_config is not there)); '
        'pgdist-nosuch-tools (command pgdist-nosuch is not on PATH)')


def test_a_path_without_pgbackrest_and_reporting_only():
    run = run_tasks([{'name': 'look', 'environment': {'PATH': '/nonexistent'}, 'pgdist.cluster.prerequisites': dict(
        requirements=[dict(package='pgbackrest', executable='pgbackrest', purpose='backups')], fail=False)}])
    result = run.results()[0]
    assert run.ok and not result.get('failed'), result
    assert result['msg'] == 'missing: pgbackrest (command pgbackrest is not on PATH, for backups)'


def test_a_bad_requirement_names_it():
    result, run = run_module('prerequisites', dict(requirements=[dict(package='make')]))
    assert result.get('failed') and 'requirements[0] (make): give exactly one of' in result['msg'], result
