"""Prerequisites refused before anything changes (server role, pgdist.cluster.prerequisites): a private copy of
inventories/local (clusters pgdist_prereq_*, ports 55475-55477) that is never created. With
pgdist_install_packages false, packages made missing on purpose (names of packages no host has) fail the run
naming each host and package; a host outside the plan's groups fails naming it and the groups. No cluster,
file or package is made, so these tests need no cluster of this machine."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import run_playbook  # noqa: E402
from support.variant import Variant  # noqa: E402

# What the server role looks for, with one name per kind that no host has.
REQUIREMENTS = dict(
    always=[dict(package='python3-psycopg2', python_module='psycopg2'),
            dict(package='python3-pgdist-missing', python_module='pgdist_missing', purpose='the test')],
    extension=[dict(package='postgresql-server-dev-15', pg_config='/nonexistent/15/bin/pg_config',
                    purpose='building the coordinator extension')],
    backup=[dict(package='pgbackrest', executable='pgbackrest-missing', purpose='backups')],
    monitoring=[dict(package='prometheus-postgres-exporter', file='/nonexistent/prometheus-postgres-exporter',
                     purpose='metrics')])


MONITORING_PASSWORD = 'Prereq-monitor_1'


@pytest.fixture(scope='module')
def variant():
    variant = Variant('prereq', 55475, group_vars=dict(pgdist_install_packages=False))
    variant.update_host('shard2', pgdist_backup_enabled=True)
    try:
        yield variant
    finally:
        variant.drop()


def nothing_made(variant, run):
    assert all(not run.changed(host) for host in variant.hosts), run.stdout[-3000:]
    assert not [host for host in variant.hosts if os.path.exists(variant.config_dir(host))]


@pytest.mark.parametrize('check', [False, True])
def test_missing_packages_fail_naming_each_host_and_package(variant, check):
    # shard1 is monitored here only: the exporter is missing there alone.
    variant.update_host('shard1', pgdist_monitoring_enabled=True)
    try:
        run = variant.run(check=check, extra_vars=dict(pgdist_server_requirements=REQUIREMENTS,
                                                       pgdist_monitoring_password=MONITORING_PASSWORD))
    finally:
        variant.update_host('shard1', pgdist_monitoring_enabled=False)
    assert not run.ok
    text = run.stdout
    assert 'pgdist_install_packages is false and the roles need what is missing here: coordinator1: missing: ' \
           'python3-pgdist-missing (python module pgdist_missing cannot be imported, for the test); ' \
           'postgresql-server-dev-15 (server headers of /nonexistent/15/bin/pg_config (/nonexistent/15/bin/pg_config ' \
           'is not there), for building the coordinator extension)' in text, text[-3000:]
    assert 'shard2: missing: python3-pgdist-missing (python module pgdist_missing cannot be imported, for the ' \
           'test); pgbackrest (command pgbackrest-missing is not on PATH, for backups)' in text
    assert 'shard1: missing: python3-pgdist-missing (python module pgdist_missing cannot be imported, for the ' \
           'test); prometheus-postgres-exporter (file /nonexistent/prometheus-postgres-exporter is not there, for ' \
           'metrics)' in text, text[-3000:]
    assert 'censored' not in text and MONITORING_PASSWORD not in text
    nothing_made(variant, run)


def test_what_this_machine_has_passes_the_check(variant):
    """The role's own list (psycopg2, the server, pg_createcluster, the extension's build, pgbackrest) is all here:
    the run gets past the check (and is stopped in check mode, where the clusters are not created)."""
    run = variant.run(check=True)
    assert run.ok, run.stdout[-3000:]
    assert 'what is missing here' not in run.stdout
    assert not [host for host in variant.hosts if os.path.exists(variant.config_dir(host))]


def test_a_host_outside_the_groups_is_refused_by_name(variant, tmp_path):
    variant.add_host('stray', 'monitoring', 55478, '127.0.0.9')
    try:
        play = [dict(name='everything', hosts='all', gather_facts=False,
                     roles=[dict(role='pgdist.cluster.plan'), dict(role='pgdist.cluster.server')])]
        run = run_playbook(play, inventory=variant.inventory)
        assert not run.ok
        assert "stray: not in the groups the plan was computed for (coordinator, shards, replicas, standbys)" in run.stdout
        assert 'has no attribute' not in run.stdout
        nothing_made(variant, run)
    finally:
        variant.remove_host('stray')
