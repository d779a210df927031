"""Unit tests of pgdist.cluster.prerequisites' checks (plugins/module_utils/prerequisites.py): probes given here for
what is missing, and the real probes on this machine for what is there."""

import sys

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils import prerequisites
from ansible_collections.pgdist.cluster.plugins.module_utils.prerequisites import BadRequirement, message, missing


def probes(absent):
    """Probes that find everything but the names in absent."""
    return dict((kind, (lambda name, kind=kind: 'is not there (%s)' % kind if name in absent else None))
                for kind in prerequisites.KINDS)


def test_every_missing_package_is_named_with_what_needs_it():
    requirements = [dict(package='python3-psycopg2', python_module='psycopg2', purpose='the modules'),
                    dict(package='make', executable='make'),
                    dict(package='pgbackrest', executable='pgbackrest', purpose='backups')]
    found = missing(requirements, probes({'psycopg2', 'pgbackrest'}))
    assert [(item['package'], item['kind'], item['name']) for item in found] == [
        ('python3-psycopg2', 'python_module', 'psycopg2'), ('pgbackrest', 'executable', 'pgbackrest')]
    assert message(found) == ('missing: python3-psycopg2 (python module psycopg2 is not there (python_module), for '
                              'the modules); pgbackrest (command pgbackrest is not there (executable), for backups)')
    assert missing(requirements, probes(set())) == []


@pytest.mark.parametrize('requirement, text', [
    (dict(executable='make'), 'requirements[0]: package (the one that provides it) is required'),
    (dict(package='make'), 'requirements[0] (make): give exactly one of executable, python_module, file, pg_config'),
    (dict(package='make', executable='make', file='/usr/bin/make'), 'give exactly one of'),
    (dict(package='make', binary='make'), 'requirements[0]: unknown key(s) binary'),
    ('make', 'requirements[0] must be a dict'),
])
def test_a_bad_requirement_is_refused_naming_it(requirement, text):
    with pytest.raises(BadRequirement) as error:
        missing([requirement], probes(set()))
    assert text in str(error.value)


def test_the_real_probes_on_this_machine():
    real = prerequisites.real_probes(lambda name: '/usr/bin/' + name if name == 'make' else None)
    assert real['executable']('make') is None and real['executable']('pgdist-no-such-tool') == 'is not on PATH'
    assert real['python_module']('json') is None
    assert real['python_module']('pgdist_no_such_module') == 'cannot be imported'
    assert real['file'](sys.executable) is None and real['file']('/nonexistent') == 'is not there'
    # Debian's postgresql-server-dev-15 is what the extension suite builds with here; 13's pg_config is not.
    assert real['pg_config']('/usr/lib/postgresql/15/bin/pg_config') is None
    assert real['pg_config']('/usr/lib/postgresql/12/bin/pg_config') == \
        '(/usr/lib/postgresql/12/bin/pg_config is not there)'


def test_pg_config_without_server_headers(tmp_path):
    fake = tmp_path / 'pg_config'
    fake.write_text('#!/bin/sh\necho %s/include/server\necho %s/pgxs.mk\n' % (tmp_path, tmp_path))
    fake.chmod(0o755)
    assert prerequisites.probe_pg_config(str(fake)) == '(%s/include/server/postgres.h and %s/pgxs.mk are not there)' % (
        tmp_path, tmp_path)
