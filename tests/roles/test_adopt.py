"""Issue 21, case 3: an existing cluster with its own databases, pg_hba rules and settings is named as the
coordinator of an inventory. Its access survives: its pg_hba rules (and Debian's defaults) stay below a marked
block of ours, the old file is backed up, the application still logs in; its settings that win over ours
(postgresql.auto.conf, a later conf.d file) are reported. A private copy of inventories/local: the existing
cluster pgdist_adopt_main (port 55502, made here with pg_createcluster as a DBA would have it) and two new
shards (55503, 55504)."""

import copy
import glob
import os
import subprocess
import sys

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.deployment import Deployment  # noqa: E402
from support.variant import Variant  # noqa: E402

APP_RULE = 'host appdb app 10.1.2.0/24 scram-sha-256'
APP_PASSWORD = 'app-adopt-secret'


def existing_cluster(variant):
    """What the DBA had before this collection came: an application database, its role and rule, tuning."""
    name, port = variant.cluster('coordinator1'), variant.port('coordinator1')
    subprocess.run(['pg_createcluster', '15', name, '--port=%d' % port, '--start'], check=True,
                   stdout=subprocess.DEVNULL)
    config = variant.config_dir('coordinator1')
    with open(os.path.join(config, 'pg_hba.conf'), 'a') as handle:
        handle.write('# the application servers\n%s\n' % APP_RULE)
    with open(os.path.join(config, 'conf.d', '90-local.conf'), 'w') as handle:
        handle.write('enable_partitionwise_join = off\n')
    variant.psql('coordinator1', "CREATE ROLE app LOGIN PASSWORD '%s'" % APP_PASSWORD, 'postgres')
    variant.psql('coordinator1', 'CREATE DATABASE appdb OWNER app', 'postgres')
    variant.psql('coordinator1', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50);'
                                 'ALTER TABLE orders OWNER TO app', 'appdb')
    variant.psql('coordinator1', "ALTER SYSTEM SET work_mem = '16MB'", 'postgres')
    variant.psql('coordinator1', 'SELECT pg_reload_conf()', 'postgres')


def app_login():
    conn = psycopg2.connect(host='127.0.0.1', port=55502, user='app', password=APP_PASSWORD, dbname='appdb',
                            connect_timeout=10)
    try:
        with conn.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM orders')
            return cursor.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope='module')
def variant():
    variant = Variant('adopt', 55502, group_vars={'pgdist_postgresql_settings': {'work_mem': '8MB'}})
    variant.update_host('coordinator1', pgdist_cluster_name='pgdist_adopt_main')
    try:
        Deployment.drop(variant)  # clusters a failed earlier run may have left
        existing_cluster(variant)
        yield variant
    finally:
        variant.drop()


def hba_path(variant):
    return os.path.join(variant.config_dir('coordinator1'), 'pg_hba.conf')


def test_check_mode_previews_and_changes_nothing(variant):
    with open(hba_path(variant)) as handle:
        hba = handle.read()
    loaded = variant.psql('coordinator1', 'SELECT pg_conf_load_time()', 'postgres')
    run = variant.run(check=True, diff=True)
    assert run.ok, run.stdout[-4000:]
    assert run.changed('coordinator1') > 0
    with open(hba_path(variant)) as handle:
        assert handle.read() == hba
    assert variant.psql('coordinator1', 'SELECT pg_conf_load_time()', 'postgres') == loaded
    assert variant.psql('coordinator1', "SELECT count(*) FROM pg_database WHERE datname = 'library'", 'postgres') == '0'


def test_existing_access_and_rows_survive(variant):
    run = variant.deploy()
    with open(hba_path(variant)) as handle:
        hba = handle.read().splitlines()
    # Our block first, the cluster's own rules (the application's and Debian's defaults) kept below it.
    begin = hba.index('# BEGIN pgdist.cluster rules (pgdist.cluster.server: edit pgdist_hba_rules, not this block)')
    end = hba.index('# END pgdist.cluster rules (pgdist.cluster.server: edit pgdist_hba_rules, not this block)')
    assert 'local all postgres peer' in hba[begin:end]
    assert hba.index(APP_RULE) > end
    assert any(line.split() == ['host', 'all', 'all', '127.0.0.1/32', 'scram-sha-256'] for line in hba[end:])
    backups = glob.glob(hba_path(variant) + '.*~')
    assert len(backups) == 1 and APP_RULE in open(backups[0]).read()
    rules = variant.psql('coordinator1', "SELECT count(*) FROM pg_hba_file_rules WHERE 'appdb' = ANY (database) "
                                         "AND error IS NULL", 'postgres')
    assert rules == '1'
    assert app_login() == 50
    # The coordinator works as one: its tables are there and reach the shards.
    variant.psql('coordinator1', "INSERT INTO parent VALUES (1, 'a', 10), (2, 'b', 150000)")
    assert variant.psql('shard2', 'SELECT count(*) FROM child2') == '1'
    # Settings another source sets are reported with the file that wins, and they do win.
    reported = [result['msg'] for result in run.results('coordinator1')
                if result['_task'].endswith('Settings another source overrides (postgresql.auto.conf and conf.d '
                                            'files read after ours win)')]
    text = '\n'.join(str(message) for message in reported)
    assert 'work_mem: /var/lib/postgresql/15/pgdist_adopt_main/postgresql.auto.conf' in text
    assert 'sets 16MB, which wins over work_mem = 8MB' in text and 'ALTER SYSTEM RESET work_mem' in text
    assert ('enable_partitionwise_join: /etc/postgresql/15/pgdist_adopt_main/conf.d/90-local.conf:1 sets off, '
            'which wins over enable_partitionwise_join = on') in text
    assert variant.psql('coordinator1', 'SHOW work_mem', 'postgres') == '16MB'
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)


def test_the_inventory_may_own_the_whole_file(variant):
    saved = copy.deepcopy(variant.group_vars)
    variant.group_vars['pgdist_hba_whole_file'] = True
    variant.write_group_vars()
    try:
        variant.deploy()
        with open(hba_path(variant)) as handle:
            hba = handle.read()
        assert hba.startswith('# Managed by Ansible (pgdist.cluster.server)') and APP_RULE not in hba
        assert any(APP_RULE in open(path).read() for path in glob.glob(hba_path(variant) + '.*~'))
        with pytest.raises(psycopg2.OperationalError, match='no pg_hba.conf entry'):
            app_login()
    finally:
        variant.group_vars = saved
        variant.write_group_vars()
