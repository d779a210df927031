"""Role tests: deploy inventories/local (coordinator1, shard1, shard2 as three clusters on this
machine, on 127.0.0.1/.2/.3) with site.yml, then check idempotence, check mode, pg_hba, reload vs
restart and where rows land. The clusters are the ones `make demo` uses."""

import os
import shutil
import subprocess
import sys

import psycopg2
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO, run_playbook  # noqa: E402
from support.deployment import SITE, Deployment, startup_reply  # noqa: E402

INVENTORY = os.path.join(REPO, 'inventories', 'local', 'hosts.yml')
LOCAL = Deployment(INVENTORY)
HOSTS = LOCAL.hosts
deploy, changed, psql = LOCAL.deploy, LOCAL.changed, LOCAL.psql
FDW_USER, FDW_PASSWORD = 'pgdist_fdw', 'pgdist-local-demo-only'


def started(host):
    return psql(host, 'SELECT pg_postmaster_start_time()', 'postgres')


@pytest.fixture(scope='module')
def deployed():
    return deploy()


def test_second_run_changes_nothing_and_reads_the_placement_once(deployed):
    run = deploy()
    assert changed(run) == dict.fromkeys(HOSTS, 0)
    # The plan role's cluster_info on the coordinator is the one read of the current placement; no psql.
    assert LOCAL.placement_reads(run) == [('coordinator1', 'library')]
    assert LOCAL.psql_tasks(run) == []


def test_check_mode_after_deploy_changes_nothing(deployed):
    assert changed(deploy(check=True)) == dict.fromkeys(HOSTS, 0)


def test_tuned_defaults_reach_the_coordinator_only(deployed):
    options = psql('coordinator1', "SELECT string_agg(srvname || ':' || array_to_string(srvoptions, ','), ' ' "
                                   "ORDER BY srvname) FROM pg_foreign_server").split(' ')
    assert len(options) == 2
    for server in options:
        assert {'batch_size=1000', 'fetch_size=10000', 'async_capable=true'} <= set(server.split(':', 1)[1].split(','))
    partitionwise = "SELECT current_setting('enable_partitionwise_aggregate') || current_setting('enable_partitionwise_join')"
    assert psql('coordinator1', partitionwise) == 'onon'
    assert psql('shard1', partitionwise) == 'offoff'


def test_analyze_gives_the_planner_the_shards_sizes_and_changes_nothing(deployed):
    psql('coordinator1', 'INSERT INTO events SELECT g, g::text FROM generate_series(100001, 100400) g')
    try:
        assert changed(deploy(extra_vars={'pgdist_analyze_tables': True})) == dict.fromkeys(HOSTS, 0)
        # reltuples is -1 until a foreign table is analyzed; after ANALYZE it counts the shard's rows.
        sizes = psql('coordinator1', "SELECT sum(reltuples)::int, min(reltuples) FROM pg_class "
                                     "WHERE relname LIKE 'events\\_p%' AND relkind = 'f'")
        total, smallest = sizes.split('|')
        assert int(total) >= 400 and float(smallest) >= 0
    finally:
        psql('coordinator1', 'DELETE FROM events WHERE id BETWEEN 100001 AND 100400')


def test_rows_land_on_their_shard(deployed):
    psql('coordinator1', "INSERT INTO booksample VALUES (9001, 'test', true, 'paris', 1), (9002, 'test', true, 'lagos', 2);"
                         "INSERT INTO lend VALUES (9001, 9002, '2024-01-01', NULL);"
                         "INSERT INTO parent VALUES (9001, 'x', 150000);"
                         "INSERT INTO events VALUES (9001, 'test')")
    try:
        assert psql('shard1', 'SELECT count(*) FROM booksample_paris WHERE id = 9001') == '1'
        assert psql('shard2', 'SELECT count(*) FROM booksample_lagos WHERE id = 9002') == '1'
        assert psql('shard2', 'SELECT count(*) FROM lend_lagos WHERE student_id = 9001') == '1'
        assert psql('shard2', 'SELECT count(*) FROM child2 WHERE id = 9001') == '1'
        partition = psql('coordinator1', 'SELECT tableoid::regclass FROM events WHERE id = 9001')
        servers = psql('coordinator1', "SELECT s.srvname FROM pg_foreign_table f JOIN pg_foreign_server s "
                                       "ON s.oid = f.ftserver WHERE f.ftrelid = '%s'::regclass" % partition)
        assert psql(servers, 'SELECT count(*) FROM %s WHERE id = 9001' % partition) == '1'
        plan = psql('coordinator1', 'EXPLAIN (COSTS OFF) SELECT * FROM events WHERE id = 9001')
        assert plan.count('Foreign Scan') == 1, plan
    finally:
        psql('coordinator1', 'DELETE FROM lend WHERE student_id = 9001; DELETE FROM booksample WHERE id IN (9001, 9002);'
                             'DELETE FROM parent WHERE id = 9001; DELETE FROM events WHERE id = 9001')


@pytest.mark.parametrize('shard', ['shard1', 'shard2'])
def test_shard_admits_the_fdw_user_from_the_coordinator_only(deployed, shard):
    address, port = LOCAL.address(shard), LOCAL.port(shard)
    # From the coordinator's address only over TLS (pgdist_ssl, hostssl): a plain startup is refused ...
    assert 'no encryption' in startup_reply('127.0.0.1', address, port, FDW_USER, 'library')
    # ... and the password works (an unbound client to 127.0.0.x leaves from 127.0.0.1).
    conn = psycopg2.connect(host=address, port=port, user=FDW_USER, password=FDW_PASSWORD, dbname='library')
    conn.close()
    # From any other address (the other shard's) there is no pg_hba entry at all.
    other = [LOCAL.address(name) for name in HOSTS if name not in (shard, 'coordinator1')][0]
    reply = startup_reply(other, address, port, FDW_USER, 'library')
    assert 'no pg_hba.conf entry for host "%s"' % other in reply
    # Nor for another user or database from the coordinator.
    assert 'no pg_hba.conf entry' in startup_reply('127.0.0.1', address, port, 'postgres', 'library')
    assert 'no pg_hba.conf entry' in startup_reply('127.0.0.1', address, port, FDW_USER, 'postgres')


def test_setting_change_in_check_mode_reports_and_alters_nothing(deployed):
    conf = '/etc/postgresql/15/pgdist_shard1/conf.d/50-pgdist.conf'
    before = open(conf).read()
    run = deploy(check=True, diff=True, extra_vars={'pgdist_postgresql_settings': {'work_mem': '7MB'}})
    assert all(count > 0 for count in changed(run).values()), changed(run)
    assert open(conf).read() == before
    assert psql('shard1', 'SHOW work_mem', 'postgres') != '7MB'


def test_reloadable_setting_reloads_and_listen_addresses_restarts(deployed):
    start = dict((host, started(host)) for host in HOSTS)
    try:
        deploy(extra_vars={'pgdist_postgresql_settings': {'work_mem': '7MB'}})
        assert psql('shard1', 'SHOW work_mem', 'postgres') == '7MB'
        assert dict((host, started(host)) for host in HOSTS) == start
        deploy(extra_vars={'pgdist_postgresql_settings': {'work_mem': '7MB'},
                           'pgdist_listen_addresses': '{{ pgdist_address }},localhost'})
        assert all(started(host) != start[host] for host in HOSTS)
        assert psql('shard1', 'SHOW listen_addresses', 'postgres') == '127.0.0.2,localhost'
    finally:
        deploy()
    assert psql('shard1', 'SHOW listen_addresses', 'postgres') == '127.0.0.2'
    assert psql('shard1', 'SHOW work_mem', 'postgres') == '4MB'
    assert changed(deploy()) == dict.fromkeys(HOSTS, 0)


def test_trust_over_tcp_is_refused_before_any_change(deployed):
    run = run_playbook(SITE, inventory=INVENTORY, extra_vars={'pgdist_hba_rules': [
        {'type': 'host', 'database': 'all', 'user': 'all', 'address': '0.0.0.0/0', 'method': 'trust'}]})
    assert not run.ok
    assert 'pgdist_hba_rules[0]: method trust is refused' in run.stdout
    assert all(not count for count in changed(run).values())


def test_wrong_type_fails_in_the_argument_spec(deployed):
    run = run_playbook(SITE, inventory=INVENTORY, extra_vars={'pgdist_port': 'not-a-port'})
    assert not run.ok
    assert "argument 'pgdist_port'" in run.stdout
    assert all(not count for count in changed(run).values())


def test_adding_a_shard_moves_no_hash_partition(deployed, tmp_path):
    """A third shard joins: events keeps its partitions where they are; the new shard gets only the
    partitions of a new hash table."""
    def placement(table):
        return psql('coordinator1', "SELECT string_agg(c.relname || '=' || s.srvname, ',' ORDER BY c.relname) "
                                    "FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid "
                                    "JOIN pg_foreign_server s ON s.oid = f.ftserver WHERE c.relname LIKE '%s\\_p%%'" % table)

    before = placement('events')
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(open(INVENTORY).read() + '\n'.join([
        '        shard3:',
        '          pgdist_cluster_name: pgdist_test_shard3',
        '          pgdist_port: 55435',
        '          pgdist_address: 127.0.0.4', '']))
    group_vars = tmp_path / 'group_vars'
    group_vars.mkdir()
    tables = yaml.safe_load(open(os.path.join(REPO, 'inventories', 'local', 'group_vars', 'all.yml')))
    tables['pgdist_tables'].append(dict(name='test_clicks', columns=[dict(name='id', type='bigint')],
                                        partition_by=dict(method='hash', key='id'), partition_count=3))
    (group_vars / 'all.yml').write_text(yaml.safe_dump(tables))
    try:
        run = run_playbook(SITE, inventory=str(inventory))
        assert run.ok, run.stdout[-4000:]
        assert placement('events') == before
        assert placement('test_clicks') == 'test_clicks_p0=shard1,test_clicks_p1=shard2,test_clicks_p2=shard3'
    finally:
        psql('coordinator1', 'DROP TABLE IF EXISTS test_clicks; DROP SERVER IF EXISTS shard3 CASCADE')
        for shard in ('shard1', 'shard2'):
            subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-Xq', '-p', str(LOCAL.port(shard)), '-d', 'library',
                            '-c', 'DROP TABLE IF EXISTS test_clicks_p0, test_clicks_p1, _pgdist_hash_test_clicks'],
                           check=False)
        subprocess.run(['pg_dropcluster', '--stop', '15', 'pgdist_test_shard3'], check=False)
        shutil.rmtree('/etc/postgresql/15/pgdist_test_shard3', ignore_errors=True)
    assert changed(deploy()) == dict.fromkeys(HOSTS, 0)
