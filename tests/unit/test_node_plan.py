"""Unit tests of pgdist_plan (plugins/module_utils/node_plan.py): the per-host slices, no server.

The facts of each host are what the plan role's first task collects (its defaults, roles/plan/defaults/main.yml)."""

import os

import pytest
import yaml

from ansible_collections.pgdist.cluster.plugins.module_utils import node_plan
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from support.plan_inputs import DEFAULTS, ROOT, host_facts


GROUPS = {'coordinator': ['c1'], 'shards': ['s2', 's1'], 'replicas': ['r1'], 'ungrouped': []}
TABLES = [dict(name='events', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
               partition_count=2),
          dict(name='parent', columns=[dict(name='id', type='int'), dict(name='range', type='bigint')],
               partition_by=dict(method='range', key='range'), prune_partitions=True,
               partitions=[dict(name='child1', to=100, shard='s1', **{'from': 'MINVALUE'}),
                           dict(name='child3', to='MAXVALUE', **{'from': 100})])]
REFERENCE = [dict(name='countries', columns=[dict(name='code', type='text')], primary_key=['code'])]


def facts(host, address, port, **extra):
    """The plan role's pgdist_plan_host for one host, from the role defaults."""
    return host_facts(host, address, port, **extra)


FACTS = dict(c1=facts('c1', '10.0.0.1', 5432), s1=facts('s1', '10.0.0.2', 5433), s2=facts('s2', '10.0.0.3', 5434),
             r1=facts('r1', '10.0.0.4', 5435, replica_of='s1', replication_synchronous=True))


def variables(**extra):
    out = dict(database='library', tables=TABLES, reference_tables=REFERENCE, fdw_user='pgdist_fdw',
               fdw_mapped_users=['postgres'], foreign_server_options=DEFAULTS['pgdist_foreign_server_options'],
               analyze_tables=False, replication_user='pgdist_replication', replication_synchronous_count=1,
               coordinator_group='coordinator', shards_group='shards', replicas_group='replicas', check_mode=False,
               monitoring_user=DEFAULTS['pgdist_monitoring_user'])
    for key in ('coordinator_extension', 'extension_settings', 'max_prepared_transactions', 'keepalives',
                'client_connection_check_interval'):
        out[key] = DEFAULTS['pgdist_' + key]
    out.update(extra)
    return out


def running(info=None):
    return dict(running=True, error=None, info=info or dict(instance={}, tables={}, file_settings=[]))


def build(reads=None, check_mode=False, facts_=None, **extra):
    reads = reads if reads is not None else dict((host, running()) for host in FACTS)
    return node_plan.build_plan(GROUPS, facts_ or FACTS, variables(**extra), reads, check_mode=check_mode)


def test_each_host_gets_its_tables():
    plan = build()
    hosts = plan['hosts']
    # Reference tables first: the foreign keys of the others may reference them.
    assert [(t['name'], t.get('side'), t.get('as_fdw_user')) for t in hosts['c1']['tables']] == [
        ('countries', 'shard', None), ('events', None, None), ('parent', None, None)]
    assert [p.get('server') for p in hosts['c1']['tables'][1]['partitions']] == ['s1', 's2']
    assert hosts['c1']['tables'][2]['prune_partitions'] is True
    assert [(t['name'], [p['name'] for p in t['partitions']], t.get('as_fdw_user')) for t in hosts['s1']['tables']] == [
        ('countries', ['countries'], None), ('events', ['events_p0'], True), ('parent', ['child1'], True)]
    assert 'prune_partitions' not in hosts['s1']['tables'][2]
    assert [t.get('reference') for t in hosts['s1']['tables']] == [True, None, None]
    # The replica holds the shard's tables (as postgres) and a reference copy.
    assert [(t['name'], t.get('as_fdw_user')) for t in hosts['r1']['tables']] == [
        ('countries', None), ('events', None), ('parent', None)]
    assert plan['placement'] == {'public.events_p0': 's1', 'public.events_p1': 's2', 'public.child1': 's1'}


def test_coordinator_slice():
    node = build()['hosts']['c1']
    assert node['roles'] == ['coordinator']
    # TLS without a CA binds SCRAM to the channel; keepalives and parallel commit on the coordinator's 15.
    common = dict(dbname='library', sslmode='require', channel_binding='require', batch_size='1000', fetch_size='10000',
                  async_capable='true', keepalives='1', keepalives_idle='10', keepalives_interval='5',
                  keepalives_count='3', parallel_commit='true')
    assert node['foreign_servers'] == [dict(name='s1', options=dict(common, host='10.0.0.2', port='5433')),
                                       dict(name='s2', options=dict(common, host='10.0.0.3', port='5434'))]
    assert node['coordinator_extension'] is True
    assert node['user_mappings'] == [dict(server='s1', user='postgres'), dict(server='s2', user='postgres')]
    assert node['connection'] == dict(login_unix_socket='/var/run/postgresql', login_port=5432, login_user='postgres')
    assert node['database'] == dict(name='library', owner=None)
    assert [table.get('analyze') for table in node['tables']] == [None, None, None]
    analyzed = build(analyze_tables=True)['hosts']
    assert [table.get('analyze') for table in analyzed['c1']['tables']] == [None, True, True]
    assert all('analyze' not in table for table in analyzed['s1']['tables'])


def test_settings_come_from_each_contribution_and_the_user_wins():
    plan = build(facts_=dict(FACTS, s1=facts('s1', '10.0.0.2', 5433, shard_settings={'max_prepared_transactions': 10},
                                             postgresql_settings={'work_mem': '8MB', 'max_wal_senders': 20})))
    c1, s1, s2 = (plan['hosts'][host] for host in ('c1', 's1', 's2'))
    assert c1['settings']['enable_partitionwise_join'] is True and 'enable_partitionwise_join' not in s1['settings']
    assert c1['settings_sources']['enable_partitionwise_join'] == 'coordinator'
    assert s1['settings']['max_prepared_transactions'] == 10
    assert s1['settings_sources']['max_prepared_transactions'] == 'shard'
    assert (s2['settings']['max_prepared_transactions'], s2['settings_sources']['max_prepared_transactions']) == (
        100, 'distributed transactions')
    # s1 publishes to r1 and subscribes to the coordinator's reference tables: logical WAL, senders for 1 link.
    assert s1['settings']['wal_level'] == 'logical' and s1['settings']['max_slot_wal_keep_size'] == '1GB'
    assert (s1['settings']['max_wal_senders'], s1['settings_sources']['max_wal_senders']) == (
        20, 'pgdist_postgresql_settings')
    assert s1['settings']['work_mem'] == '8MB'
    # The coordinator publishes the reference table to three subscribers: 3 * 3 + 2 slots.
    assert c1['settings']['max_replication_slots'] == 11
    assert 'wal_level' not in plan['hosts']['r1']['settings']
    assert s1['settings']['ssl_cert_file'] == '/etc/postgresql/15/pgdist_s1/pgdist-server.crt'
    assert s1['tls']['generate'] is True


def test_every_setting_the_roles_write_is_managed():
    """The one list cluster_info reports must hold every name a role contributes (it drifted before)."""
    plan = build(facts_=dict(FACTS, c1=facts('c1', '10.0.0.1', 5432, replication_enabled=True, backup_enabled=True,
                                             backup_stanza='c1-main')))
    for host, node in plan['hosts'].items():
        for name, source in node['settings_sources'].items():
            if source != 'pgdist_postgresql_settings':
                assert name in node_plan.MANAGED_SETTINGS, (host, name, source)
    assert 'synchronous_standby_names' in node_plan.MANAGED_SETTINGS


def test_backups_archive_wal_through_the_node_stanza():
    backed_up = dict((host, facts(host, FACTS[host]['address'], FACTS[host]['port'], backup_enabled=True,
                                  backup_stanza=host + '-pgdist_' + host, **(dict(replica_of='s1') if host == 'r1' else {})))
                     for host in FACTS)
    hosts = build(facts_=backed_up)['hosts']
    assert hosts['c1']['backup'] == dict(stanza='c1-pgdist_c1', point_name='coordinator')
    # A shard is named in pgdist.create_restore_point()'s result by its foreign server.
    assert hosts['s2']['backup'] == dict(stanza='s2-pgdist_s2', point_name='s2')
    assert hosts['s1']['settings']['archive_mode'] == 'on'
    assert hosts['s1']['settings']['archive_command'] == 'pgbackrest --stanza=s1-pgdist_s1 archive-push %p'
    assert hosts['s1']['settings_sources']['archive_command'] == 'backup'
    # Without pgdist_backup_enabled (the default) nothing is archived.
    plain = build()['hosts']['s1']
    assert plain['backup'] is None and 'archive_mode' not in plain['settings']


@pytest.mark.parametrize('stanza', ['', 'a b', 'x;rm -rf /', '-s1', 'né'])
def test_a_stanza_archive_command_could_not_quote_is_refused(stanza):
    with pytest.raises(InvalidInput, match=r'^s1: pgdist_backup_stanza must be'):
        build(facts_=dict(FACTS, s1=facts('s1', '10.0.0.2', 5433, backup_enabled=True, backup_stanza=stanza)))


def test_monitored_nodes_get_an_exporter_and_a_local_login_only():
    monitored = dict((host, dict(FACTS[host], monitoring_enabled=True, monitoring_port=9187)) for host in ('c1', 's1'))
    hosts = build(facts_=dict(FACTS, **monitored))['hosts']
    assert hosts['c1']['monitoring'] == dict(user='pgdist_monitor', listen='10.0.0.1:9187', kind='coordinator')
    assert hosts['s1']['monitoring'] == dict(user='pgdist_monitor', listen='10.0.0.2:9187', kind='node')
    assert hosts['s2']['monitoring'] is None
    rules = [(r['type'], r['database'], r['user'], r['method']) for r in hosts['s1']['hba_rules']
             if r['user'] == 'pgdist_monitor']
    assert rules == [('local', 'library', 'pgdist_monitor', 'scram-sha-256')]
    assert not any(r['user'] == 'pgdist_monitor' for r in hosts['s2']['hba_rules'])


def test_two_exporters_on_one_address_and_port_are_refused():
    same = dict((host, dict(FACTS[host], address='10.0.0.9', monitoring_enabled=True, monitoring_port=9187))
                for host in ('s1', 's2'))
    with pytest.raises(InvalidInput, match=r'^s1 and s2: both exporters would listen on 10\.0\.0\.9:9187; give one'):
        build(facts_=dict(FACTS, **same))


@pytest.mark.parametrize('port', [0, 70000, 'x', True, None])
def test_a_bad_exporter_port_is_named(port):
    with pytest.raises(InvalidInput, match=r'^s1: pgdist_monitoring_port must be a TCP port'):
        build(facts_=dict(FACTS, s1=dict(FACTS['s1'], monitoring_enabled=True, monitoring_port=port)))


def test_hba_rules_of_a_shard_and_a_publisher():
    plan = build()
    s1 = plan['hosts']['s1']
    assert [(r['type'], r['database'], r['user'], r.get('address'), r['method']) for r in s1['hba_rules']] == [
        ('local', 'all', 'postgres', None, 'peer'),
        ('local', 'library', 'pgdist_fdw', None, 'scram-sha-256'),
        ('hostssl', 'library', 'pgdist_fdw', '10.0.0.1', 'scram-sha-256'),
        ('hostssl', 'library', 'pgdist_replication', '10.0.0.4', 'scram-sha-256')]
    assert [r.get('address') for r in plan['hosts']['c1']['hba_rules']] == [None, '10.0.0.2', '10.0.0.3', '10.0.0.4']
    assert plan['hosts']['r1']['hba_rules'] == plan['hosts']['r1']['hba_rules'][:1]


def test_replication_slices():
    plan = build()
    s1, r1, c1, s2 = (plan['hosts'][host] for host in ('s1', 'r1', 'c1', 's2'))
    assert s1['publications'] == [dict(name='pgdist_shard_s1', tables=['public.events_p0', 'public.child1'])]
    assert s1['grants'] == [dict(role='pgdist_replication', tables=['public.child1', 'public.events_p0']),
                            dict(role='pgdist_fdw', tables=['public.countries'])]
    assert c1['publications'] == [dict(name='pgdist_reference', tables=['public.countries'])]
    assert [s['name'] for s in r1['subscriptions']] == ['pgdist_replica_r1', 'pgdist_reference_r1']
    assert r1['subscriptions'][0]['connection'] == dict(host='10.0.0.2', port=5433, dbname='library',
                                                        user='pgdist_replication', application_name='pgdist_replica_r1',
                                                        sslmode='require', channel_binding='require')
    assert r1['subscriptions'][0]['options'] == dict(synchronous_commit='on')
    assert s1['synchronous'] == dict(standbys=['pgdist_replica_r1'], count=1,
                                     file='/etc/postgresql/15/pgdist_s1/conf.d/60-pgdist-synchronous.conf')
    assert s2['synchronous'] is None and s2['publications'] == [] and s2['replication_login'] is False
    assert r1['grants'] == []


def test_synchronous_include_is_removed_when_no_subscriber_is_synchronous_any_more():
    loaded = running(dict(instance={}, file_settings=[dict(
        seqno=40, sourcefile='/etc/postgresql/15/pgdist_s2/conf.d/60-pgdist-synchronous.conf', sourceline=2,
        name='synchronous_standby_names', setting='ANY 1 ("old")', applied=True, error=None)]))
    plan = build(reads=dict(c1=running(), s1=running(), s2=loaded, r1=running()))
    assert plan['hosts']['s2']['synchronous']['standbys'] == []
    # Set by the user: the replication role leaves it to pgdist_postgresql_settings.
    user_set = facts('s1', '10.0.0.2', 5433, postgresql_settings={'synchronous_standby_names': '*'})
    assert build(facts_=dict(FACTS, s1=user_set))['hosts']['s1']['synchronous'] is None


def test_placement_is_read_from_the_coordinator():
    tables = {'public.events': dict(partitions=[dict(schema='public', name='events_p0', kind='foreign', server='s2'),
                                                dict(schema='public', name='events_p1', kind='foreign', server='s1')])}
    plan = build(reads=dict(c1=running(dict(instance={}, tables=tables, file_settings=[])), s1=running(),
                            s2=running(), r1=running()))
    assert plan['placement_read'] == 'c1'
    assert plan['placement']['public.events_p0'] == 's2'
    assert [p['name'] for p in plan['hosts']['s2']['tables'][1]['partitions']] == ['events_p0']
    fresh = build(reads={})
    assert fresh['placement_read'] is None and fresh['placement']['public.events_p0'] == 's1'


def test_a_shard_knows_the_coordinators_partitions_on_it():
    """The tables behind the coordinator's foreign partitions on a shard: the shard role refuses to create
    them empty (a wiped shard)."""
    tables = {'public.events': dict(partitions=[
        dict(schema='public', name='events_p0', kind='foreign', server='s2', remote_table='public.events_p0'),
        dict(schema='public', name='events_p1', kind='foreign', server='s1', remote_table='other.events_one'),
        dict(schema='public', name='events_p2', kind='local', server=None)])}
    plan = build(reads=dict(c1=running(dict(instance={}, tables=tables, file_settings=[])), s1=running(),
                            s2=running(), r1=running()))
    assert plan['hosts']['s1']['existing_partitions'] == [dict(partition='public.events_p1', table='other.events_one')]
    assert plan['hosts']['s2']['existing_partitions'] == [dict(partition='public.events_p0', table='public.events_p0')]
    assert plan['hosts']['c1']['existing_partitions'] == [] and plan['hosts']['r1']['existing_partitions'] == []
    assert build(reads={})['hosts']['s1']['existing_partitions'] == []


def test_check_mode_skips_clusters_that_do_not_run():
    reads = dict(c1=running(), s1=running(), s2=dict(running=False, error=None, info=None), r1=running())
    plan = build(reads=reads, check_mode=True)
    assert plan['skipped'] == ['s2']
    assert plan['hosts']['s2']['cluster']['connect'] is False and plan['hosts']['s1']['cluster']['connect'] is True
    assert build(reads=reads)['skipped'] == []


def test_read_state():
    assert node_plan.read_state('x', None, None, False)['error'] == 'not reached in this run'
    assert node_plan.read_state('x', dict(stat=dict(exists=False)), dict(skipped=True), True) == dict(
        running=False, error=None, info=None)
    info = dict(instance={}, tables={})
    assert node_plan.read_state('x', dict(stat=dict(exists=True)), info, True)['info'] is info
    failed = dict(failed=False, msg='unable to connect to PostgreSQL at /run port 1: boom')
    assert node_plan.read_state('x', dict(stat=dict(exists=True)), failed, False) == dict(
        running=True, error=failed['msg'], info=None)
    with pytest.raises(InvalidInput, match='x: cannot read the current placement from the coordinator'):
        node_plan.read_state('x', dict(stat=dict(exists=True)), failed, True)
    no_driver = dict(msg='Failed to import the required Python library (psycopg2)')
    assert node_plan.read_state('x', dict(stat=dict(exists=True)), no_driver, True)['running'] is True
    # A socket a killed postmaster left behind: the cluster does not run (the server role starts it).
    stale = dict(msg='unable to connect to PostgreSQL at /run port 1: connection to server on socket '
                     '"/run/.s.PGSQL.1" failed: Connection refused')
    assert node_plan.read_state('x', dict(stat=dict(exists=True)), stale, True) == dict(
        running=False, error=None, info=None)


CONF = '/etc/postgresql/15/main'


def entry(seqno, path, name, setting, line=1):
    return dict(seqno=seqno, sourcefile=CONF + '/' + path, sourceline=line, name=name, setting=setting,
                applied=False, error=None)


def test_which_source_wins_over_our_settings():
    settings = dict(port=5432, work_mem='8MB', shared_buffers='1GB', ssl=True)
    entries = [entry(1, 'postgresql.conf', 'port', '5432'), entry(2, 'postgresql.conf', 'shared_buffers', '128MB'),
               entry(3, 'conf.d/10-local.conf', 'work_mem', '2MB'), entry(4, 'conf.d/50-pgdist.conf', 'port', '5432'),
               entry(5, 'conf.d/50-pgdist.conf', 'ssl', 'on'), entry(6, 'conf.d/99-tuning.conf', 'ssl', 'off'),
               entry(7, 'postgresql.auto.conf', 'work_mem', '16MB', line=3)]
    report = node_plan.overriding_sources(settings, entries, CONF)
    assert [(r['name'], r['value'], r['file'].rsplit('/', 1)[1]) for r in report] == [
        ('ssl', 'off', '99-tuning.conf'), ('work_mem', '16MB', 'postgresql.auto.conf')]
    assert report[1]['message'] == ('work_mem: %s/postgresql.auto.conf:3 sets 16MB, which wins over work_mem = 8MB in '
                                    '50-pgdist.conf; remove it there (ALTER SYSTEM RESET work_mem)' % CONF)
    # Before our file was ever written, PostgreSQL's reading order predicts the same.
    first = [row for row in entries if '50-pgdist' not in row['sourcefile']]
    assert [r['name'] for r in node_plan.overriding_sources(settings, first, CONF)] == ['ssl', 'work_mem']
    assert node_plan.overriding_sources(settings, None, CONF) == []


def test_bad_input_names_the_host_and_field():
    bad_tls = facts('s1', '10.0.0.2', 5433, ssl_cert_file='/x.crt')
    with pytest.raises(InvalidInput, match='s1: pgdist_ssl_cert_file and pgdist_ssl_key_file go together'):
        build(facts_=dict(FACTS, s1=bad_tls))
    ca_only = facts('s1', '10.0.0.2', 5433, ssl_ca_file='/ca.crt')
    with pytest.raises(InvalidInput, match='s1: pgdist_ssl_ca_file needs pgdist_ssl_cert_file'):
        build(facts_=dict(FACTS, s1=ca_only))
    with pytest.raises(InvalidInput, match='r1: no pgdist_plan_host; run pgdist.cluster.plan on every host'):
        build(facts_=dict((host, value) for host, value in FACTS.items() if host != 'r1'))


def test_the_filter_reads_what_the_plan_role_registered_and_reports_errors_as_filter_errors():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.pgdist.cluster.plugins.filter.topology import pgdist_plan

    hostvars = dict((host, dict(pgdist_plan_host=FACTS[host], pgdist_plan_socket=dict(stat=dict(exists=False))))
                    for host in FACTS)
    hostvars['c1'] = dict(hostvars['c1'], pgdist_plan_socket=dict(stat=dict(exists=True)),
                          pgdist_plan_read=dict(instance={}, file_settings=[], tables={'public.events': dict(
                              partitions=[dict(schema='public', name='events_p0', kind='foreign', server='s2')])}))
    plan = pgdist_plan(hostvars, GROUPS, variables(check_mode=True))
    assert plan['placement_read'] == 'c1' and plan['placement']['public.events_p0'] == 's2'
    assert plan['skipped'] == ['r1', 's1', 's2']
    hostvars['c1']['pgdist_plan_read'] = dict(failed=False, msg='unable to connect to PostgreSQL at x: refused')
    with pytest.raises(AnsibleFilterError, match='c1: cannot read the current placement'):
        pgdist_plan(hostvars, GROUPS, variables())
    with pytest.raises(AnsibleFilterError, match='variables lacks check_mode'):
        pgdist_plan(hostvars, GROUPS, dict((k, v) for k, v in variables().items() if k != 'check_mode'))


def test_what_the_read_saves_the_server_role():
    """A cluster read before the run: no package or status check, no certificate to generate, and a pg_hba.conf
    the server role wrote whole stays whole (its first line says so)."""
    info = dict(instance=dict(version_num=150004), file_settings=[],
                hba_file=dict(path='/x', first_line=node_plan.HBA_HEADER + ': edit ...'),
                settings=dict(ssl=dict(setting='on'),
                              ssl_cert_file=dict(setting='/etc/postgresql/15/pgdist_s2/pgdist-server.crt')))
    plan = build(reads=dict(c1=running(), s1=running(dict(info, hba_file=dict(path='/x', first_line='# Debian'))),
                            s2=running(info), r1=dict(running=False, error=None, info=None)))
    s1, s2, r1 = (plan['hosts'][host] for host in ('s1', 's2', 'r1'))
    assert s2['cluster']['read'] is True and r1['cluster']['read'] is False
    assert s2['hba_whole_file'] is True and s1['hba_whole_file'] is False
    assert s2['tls']['generate'] is False and s1['tls']['generate'] is True and r1['tls']['generate'] is True


def test_the_server_template_starts_with_the_header_the_plan_looks_for():
    with open(os.path.join(ROOT, 'roles', 'server', 'templates', 'pg_hba.conf.j2')) as handle:
        assert handle.readline().startswith(node_plan.HBA_HEADER)
    with open(os.path.join(ROOT, 'roles', 'server', 'vars', 'main.yml')) as handle:
        assert yaml.safe_load(handle)['pgdist_server_hba_header'] == node_plan.HBA_HEADER


def test_a_cluster_of_another_major_version_on_the_port_is_not_this_one():
    old = running(dict(instance=dict(version_num=140011), file_settings=[]))
    plan = build(reads=dict(c1=running(), s1=old, s2=running(), r1=running()))
    assert plan['hosts']['s1']['cluster']['running'] is True and plan['hosts']['s1']['cluster']['read'] is False


def test_distributed_transaction_settings():
    plan = build(facts_=dict(FACTS, c1=facts('c1', '10.0.0.1', 5432, postgresql_version=18)))
    c1, s1, r1 = (plan['hosts'][host] for host in ('c1', 's1', 'r1'))
    assert dict((name, value) for name, value in c1['settings'].items() if name.startswith('pgdist.')) == {
        'pgdist.database': 'library', 'pgdist.two_phase_commit': True, 'pgdist.read_committed': True,
        'pgdist.async_insert': True, 'pgdist.router': True,
        'pgdist.consistent_reads': 'repeatable_read', 'pgdist.consistent_reads_timeout': '1s',
        'pgdist.deadlock_check_interval': '2s', 'pgdist.recovery_interval': '10s',
        'pgdist.frozen_backend_timeout': '20s', 'pgdist.commit_timeout': '10s'}
    assert c1['settings']['shared_preload_libraries'] == 'pgdist'
    assert c1['settings']['client_connection_check_interval'] == '5s'
    assert 'max_prepared_transactions' not in c1['settings']
    # A coordinator on 16 and later aborts in parallel too.
    assert c1['foreign_servers'][0]['options']['parallel_abort'] == 'true'
    assert (s1['settings']['max_prepared_transactions'], s1['settings']['tcp_keepalives_idle'],
            s1['settings']['tcp_keepalives_interval'], s1['settings']['tcp_keepalives_count']) == (100, 10, 5, 3)
    assert not any(name.startswith(('pgdist.', 'tcp_keepalives')) for name in r1['settings'])
    assert r1['coordinator_extension'] is False and s1['coordinator_extension'] is False


def test_settings_of_a_coordinator_on_13_and_without_the_extension():
    old = build(facts_=dict(FACTS, c1=facts('c1', '10.0.0.1', 5432, postgresql_version=13)),
                coordinator_extension=False)['hosts']['c1']
    assert 'client_connection_check_interval' not in old['settings']
    # 13's postgres_fdw has neither batch_size nor async_capable (Debian 11's postgresql-13): only fetch_size is tuned.
    left_out = {'parallel_commit', 'parallel_abort', 'batch_size', 'async_capable'}
    assert not set(old['foreign_servers'][0]['options']) & left_out
    assert old['foreign_servers'][0]['options']['fetch_size'] == '10000'
    plain = build(coordinator_extension=False)['hosts']
    assert not any(name.startswith('pgdist.') or name == 'shared_preload_libraries' for name in plain['c1']['settings'])
    assert plain['c1']['coordinator_extension'] is False
    assert 'max_prepared_transactions' not in plain['s1']['settings']
    one_phase = build(extension_settings=dict(two_phase_commit=False))['hosts']
    assert one_phase['c1']['settings']['pgdist.two_phase_commit'] is False
    assert one_phase['c1']['settings']['pgdist.read_committed'] is True
    assert 'max_prepared_transactions' not in one_phase['s1']['settings']


def test_consistent_reads_take_yaml_off_and_refuse_other_values():
    unquoted = build(extension_settings=dict(consistent_reads=False))['hosts']['c1']['settings']
    assert unquoted['pgdist.consistent_reads'] == 'off'
    with pytest.raises(InvalidInput, match='pgdist_extension_settings.consistent_reads must be one of off'):
        build(extension_settings=dict(consistent_reads='always'))


def test_foreign_server_options_of_the_user_win_over_the_tuned_ones():
    options = build(foreign_server_options=dict(batch_size=1, use_remote_estimate=True))['hosts']['c1'][
        'foreign_servers'][0]['options']
    assert (options['batch_size'], options['use_remote_estimate'], options['fetch_size'], options['async_capable']) == (
        1, True, '10000', 'true')


def test_preloaded_libraries_of_other_sources_stay_after_pgdist():
    conf = '/etc/postgresql/15/pgdist_c1'
    rows = [dict(sourcefile=conf + '/postgresql.conf', sourceline=9, seqno=1, name='shared_preload_libraries',
                 setting='pg_stat_statements, pgdist', error=None),
            dict(sourcefile=conf + '/conf.d/50-pgdist.conf', sourceline=3, seqno=2, name='shared_preload_libraries',
                 setting='pgdist,pg_stat_statements', error=None)]
    reads = dict((host, running()) for host in FACTS)
    reads['c1'] = running(dict(instance={}, tables={}, file_settings=rows))
    assert build(reads=reads)['hosts']['c1']['settings']['shared_preload_libraries'] == 'pgdist,pg_stat_statements'
    # The user's value is kept too, pgdist first.
    preloading = facts('c1', '10.0.0.1', 5432, postgresql_settings={'shared_preload_libraries': 'auto_explain'})
    user = build(facts_=dict(FACTS, c1=preloading))
    assert user['hosts']['c1']['settings']['shared_preload_libraries'] == 'pgdist,auto_explain'


@pytest.mark.parametrize('extra, message', [
    (dict(extension_settings=dict(two_phase=True)), 'pgdist_extension_settings: unknown key two_phase'),
    (dict(extension_settings=dict(read_committed='maybe')), 'pgdist_extension_settings.read_committed'),
    (dict(keepalives=dict(idle=0)), 'pgdist_keepalives.idle must be a positive number'),
    (dict(coordinator_extension='perhaps'), "pgdist_coordinator_extension must be a boolean or 'force', got 'perhaps'"),
])
def test_bad_transaction_variables_name_the_field(extra, message):
    with pytest.raises(InvalidInput) as error:
        build(**extra)
    assert message in str(error.value)


@pytest.mark.parametrize('major', [12, 19])
def test_the_extension_on_an_untested_major_fails_the_plan_naming_the_host_and_the_major(major):
    on_major = dict(FACTS, c1=facts('c1', '10.0.0.1', 5432, postgresql_version=major))
    with pytest.raises(InvalidInput) as error:
        build(facts_=on_major)
    assert str(error.value).startswith("c1: the coordinator extension is tested on PostgreSQL 13 to 18 only, not on "
                                       "this host's %d" % major)
    assert 'pgdist_coordinator_extension: false' in str(error.value) and 'force' in str(error.value)
    # Without the extension the plan goes through.
    assert build(facts_=on_major, coordinator_extension=False)['hosts']['c1']['coordinator_extension'] is False


def test_forcing_the_extension_builds_it_on_any_major_and_lets_it_start():
    forced = build(facts_=dict(FACTS, c1=facts('c1', '10.0.0.1', 5432, postgresql_version=19)),
                   coordinator_extension='force')['hosts']
    assert forced['c1']['coordinator_extension'] is True
    assert forced['c1']['settings']['pgdist.allow_unverified_major'] is True
    assert forced['c1']['settings']['shared_preload_libraries'] == 'pgdist'
    assert forced['s1']['settings']['max_prepared_transactions'] == 100
    assert 'pgdist.allow_unverified_major' in node_plan.MANAGED_SETTINGS
    # On a tested major nothing needs forcing: the setting is left to its default.
    assert 'pgdist.allow_unverified_major' not in build()['hosts']['c1']['settings']


COPIED = dict(name='test_logical_rep', columns=[dict(name='c1', type='integer', nullable=False),
                                                dict(name='c2', type='text')], primary_key=['c1'])
SUBSCRIBER = facts('r2', '10.0.0.5', 5436, subscriptions=[dict(
    name='test_first_sub', publisher='c1', publication='test_first_pub', tables=[COPIED], synchronous=True)])


def test_own_subscriptions_copy_plain_tables_under_their_names():
    """pgdist_subscriptions on a replica without pgdist_replica_of: the seed's test_first_pub/test_first_sub."""
    plan = node_plan.build_plan(dict(GROUPS, replicas=['r1', 'r2']), dict(FACTS, r2=SUBSCRIBER), variables(),
                                dict((host, running()) for host in list(FACTS) + ['r2']))
    c1, r2 = plan['hosts']['c1'], plan['hosts']['r2']
    assert c1['publications'] == [dict(name='pgdist_reference', tables=['public.countries']),
                                  dict(name='test_first_pub', tables=['public.test_logical_rep'])]
    assert c1['grants'][0]['tables'] == ['public.countries', 'public.test_logical_rep']
    assert c1['synchronous']['standbys'] == ['test_first_sub'] and c1['settings']['wal_level'] == 'logical'
    assert '10.0.0.5' in [rule['address'] for rule in c1['hba_rules'] if rule.get('user') == 'pgdist_replication']
    for host in (c1, r2):
        copied = [table for table in host['tables'] if table['name'] == 'test_logical_rep']
        assert [(t['side'], t['primary_key'], t['partitions']) for t in copied] == [
            ('shard', ['c1'], [dict(name='test_logical_rep', default=True)])]
    assert [(s['name'], s['publication'], s['publisher'], s['options']) for s in r2['subscriptions']] == [
        ('pgdist_reference_r2', 'pgdist_reference', 'c1', {}),
        ('test_first_sub', 'test_first_pub', 'c1', dict(synchronous_commit='on'))]
    assert r2['subscriptions'][1]['connection']['application_name'] == 'test_first_sub'
    assert not [table for table in plan['hosts']['s1']['tables'] if table['name'] == 'test_logical_rep']


@pytest.mark.parametrize('entry, message', [
    (dict(name='sub', publisher='nowhere', publication='p', tables=[COPIED]),
     r"r2: pgdist_subscriptions\[0\] \(sub\): publisher 'nowhere' is not another host of the plan"),
    (dict(name='Sub-1', publisher='c1', publication='p', tables=[COPIED]),
     r"name 'Sub-1' is also the slot name"),
    (dict(name='sub', publisher='c1', publication='p', tables=[], synchronous=True),
     r'\(sub\): tables must list the tables to copy'),
    (dict(name='sub', publisher='c1', publication='p', tables=[COPIED], sync=True),
     r'r2: pgdist_subscriptions\[0\]: unknown key\(s\) sync; known: name, publisher'),
    (dict(name='sub', publisher='c1', publication='p', tables=[dict(COPIED, shard='s1')]),
     r'\(sub\): tables\[0\] \(test_logical_rep\): unknown key\(s\) shard'),
    (dict(publisher='c1', publication='p', tables=[COPIED]), r'pgdist_subscriptions\[0\]: name is required'),
])
def test_bad_own_subscriptions_name_the_host_and_field(entry, message):
    with pytest.raises(InvalidInput, match=message):
        node_plan.build_plan(dict(GROUPS, replicas=['r1', 'r2']), dict(FACTS, r2=dict(SUBSCRIBER, subscriptions=[entry])),
                             variables(), dict((host, running()) for host in list(FACTS) + ['r2']))
