"""Unit tests of the HA layout in pgdist_plan (plugins/module_utils/ha.py, node_plan.py): no server."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils import ha, node_plan
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

from test_node_plan import DEFAULTS, FACTS, facts, running, variables

GROUPS = {'coordinator': ['c1'], 'shards': ['s1', 's2'], 'replicas': ['r1'], 'standbys': ['s1b', 's2b'],
          'ungrouped': []}
HA_FACTS = dict(FACTS, s1b=facts('s1b', '10.0.0.5', 5436, standby_of='s1'),
                s2b=facts('s2b', '10.0.0.6', 5437, standby_of='s2'),
                r1=facts('r1', '10.0.0.4', 5435, replica_of='s1'))
HA_VARIABLES = dict((key, DEFAULTS['pgdist_' + key]) for key in (
    'standbys_group', 'etcd_group', 'ha_replication_user', 'ha_ttl', 'ha_loop_wait', 'ha_retry_timeout',
    'ha_maximum_lag_on_failover'))


def build(groups=None, facts_=None, reads=None, **extra):
    facts_ = facts_ or HA_FACTS
    reads = reads if reads is not None else dict((host, running()) for host in facts_)
    return node_plan.build_plan(groups or GROUPS, facts_, variables(**dict(HA_VARIABLES, **extra)), reads)


def test_the_coordinator_reaches_every_member_and_writes_to_the_primary():
    plan = build()
    servers = dict((server['name'], server['options']) for server in plan['hosts']['c1']['foreign_servers'])
    assert sorted(servers) == ['s1', 's2']
    assert dict((key, servers['s1'][key]) for key in ('host', 'port', 'target_session_attrs', 'connect_timeout')) == \
        dict(host='10.0.0.2,10.0.0.5', port='5433,5436', target_session_attrs='read-write', connect_timeout='3')
    assert servers['s2']['host'] == '10.0.0.3,10.0.0.6'
    # The partitions are still placed on the shard names.
    assert plan['placement'] == {'public.events_p0': 's1', 'public.events_p1': 's2', 'public.child1': 's1'}
    assert plan['ha_groups'] == {'s1': ['s1', 's1b'], 's2': ['s2', 's2b']}
    assert plan['etcd'] == ['c1', 's1', 's2']


def test_a_standby_holds_what_its_shard_holds_and_takes_writes_only_as_primary():
    hosts = build()['hosts']
    shard, standby = hosts['s1'], hosts['s1b']
    assert standby['roles'] == ['shard', 'standby']
    assert standby['tables'] == shard['tables'] and standby['tables']
    assert (shard['writable'], standby['writable']) == (True, False)
    assert shard['files_owner'] == standby['files_owner'] == 'patroni'
    assert hosts['c1']['files_owner'] == 'server' and hosts['c1']['writable'] is True and hosts['c1']['ha'] is None
    # The same settings on every member, the fdw user admitted from the coordinator on each.
    for name in ('max_prepared_transactions', 'wal_level', 'max_wal_senders', 'hot_standby', 'wal_log_hints'):
        assert standby['settings'][name] == shard['settings'][name]
    fdw = [rule for rule in standby['hba_rules'] if rule.get('user') == 'pgdist_fdw' and rule.get('address')]
    assert [rule['address'] for rule in fdw] == ['10.0.0.1']
    replication = [(r['type'], r['database'], r.get('address')) for r in standby['hba_rules']
                   if r.get('user') == 'pgdist_patroni']
    # Its own socket for the local replication connection Patroni makes (use_unix_socket_repl), TLS between members.
    assert replication == [('local', 'replication', None),
                           ('hostssl', 'replication', '10.0.0.2'), ('hostssl', 'postgres', '10.0.0.2'),
                           ('hostssl', 'replication', '10.0.0.5'), ('hostssl', 'postgres', '10.0.0.5')]
    assert standby['ha']['config']['postgresql']['use_unix_socket_repl'] is True


def test_the_member_read_out_of_recovery_takes_the_writes():
    reads = dict((host, running()) for host in HA_FACTS)
    reads['s1'] = running(dict(instance=dict(in_recovery=True), file_settings=[]))
    reads['s1b'] = running(dict(instance=dict(in_recovery=False), file_settings=[]))
    hosts = build(reads=reads)['hosts']
    assert (hosts['s1']['writable'], hosts['s1b']['writable']) == (False, True)
    assert hosts['s1']['ha']['writer'] == hosts['s1b']['ha']['writer'] == 's1b'
    # The bootstrapping member stays the shard host (the HA role starts it first).
    assert (hosts['s1']['ha']['first'], hosts['s1b']['ha']['first']) == (True, False)


def test_patroni_gets_the_plans_settings_and_synchronous_mode():
    hosts = build()['hosts']
    config = hosts['s1b']['ha']['config']
    dynamic = config['bootstrap']['dcs']
    assert dynamic['synchronous_mode'] is True and dynamic['synchronous_mode_strict'] is False
    assert (dynamic['ttl'], dynamic['loop_wait'], dynamic['retry_timeout']) == (20, 5, 5)
    # Settings every member must share are Patroni's dynamic configuration, the others its local parameters.
    assert dynamic['postgresql']['parameters']['max_prepared_transactions'] == 100
    # s1 publishes to its replica r1 (logical); s2 publishes nothing: streaming needs replica.
    assert dynamic['postgresql']['parameters']['wal_level'] == 'logical'
    assert hosts['s2b']['ha']['dynamic']['postgresql']['parameters']['wal_level'] == 'replica'
    local = config['postgresql']['parameters']
    assert 'max_prepared_transactions' not in local and 'port' not in local and 'listen_addresses' not in local
    assert local['ssl'] is True and local['unix_socket_directories'] == '/var/run/postgresql'
    assert config['postgresql']['listen'] == '10.0.0.5:5436'
    assert config['postgresql']['connect_address'] == '10.0.0.5:5436'
    assert config['postgresql']['data_dir'] == '/var/lib/postgresql/15/pgdist_s1b'
    assert config['etcd3'] == dict(hosts=['10.0.0.1:2379', '10.0.0.2:2379', '10.0.0.3:2379'])
    assert config['scope'] == 'pgdist-s1' and config['name'] == 's1b'
    assert 'password' not in config['postgresql']['authentication']['replication']
    # pgdist_ha_synchronous false on the shard: asynchronous standbys.
    asynchronous = dict(HA_FACTS, s2=dict(HA_FACTS['s2'], ha_synchronous=False))
    assert build(facts_=asynchronous)['hosts']['s2b']['ha']['dynamic']['synchronous_mode'] is False


def test_a_replica_of_an_ha_shard_subscribes_to_every_member():
    r1 = build()['hosts']['r1']
    connection = r1['subscriptions'][0]['connection']
    assert (connection['host'], connection['port'], connection['target_session_attrs']) == (
        '10.0.0.2,10.0.0.5', '5433,5436', 'read-write')
    # The publication is planned on every member; the writable one creates it.
    hosts = build()['hosts']
    assert hosts['s1b']['publications'] == hosts['s1']['publications'] != []


def test_etcd_runs_on_the_coordinator_and_the_shards_by_default():
    hosts = build()['hosts']
    assert hosts['s1b']['etcd'] is None
    etcd = hosts['s1']['etcd']
    assert etcd['ETCD_NAME'] == 's1'
    assert etcd['ETCD_INITIAL_CLUSTER'] == 'c1=http://10.0.0.1:2380,s1=http://10.0.0.2:2380,s2=http://10.0.0.3:2380'
    assert etcd['ETCD_LISTEN_CLIENT_URLS'] == 'http://10.0.0.2:2379,http://127.0.0.1:2379'


def test_a_plan_without_standbys_has_no_ha():
    plan = node_plan.build_plan({'coordinator': ['c1'], 'shards': ['s1', 's2'], 'replicas': ['r1']}, FACTS,
                                variables(), dict((host, running()) for host in FACTS))
    assert plan['standbys'] == [] and plan['etcd'] == []
    assert all(node['ha'] is None and node['etcd'] is None and node['files_owner'] == 'server'
               for node in plan['hosts'].values())
    assert 'target_session_attrs' not in plan['hosts']['c1']['foreign_servers'][0]['options']


@pytest.mark.parametrize('change, message', [
    (dict(s1b=dict(standby_of='')), 's1b is in the standbys group but has no pgdist_standby_of'),
    (dict(s1b=dict(standby_of='r1')), "s1b: pgdist_standby_of is 'r1', which is not in the shards group"),
    (dict(s1=dict(patroni_api_port='http')), "s1: pgdist_patroni_api_port must be a port number"),
])
def test_bad_ha_input_names_the_host(change, message):
    bad = dict(HA_FACTS)
    for host, values in change.items():
        bad[host] = dict(bad[host], **values)
    with pytest.raises(InvalidInput, match=message):
        build(facts_=bad)


def test_the_etcd_cluster_needs_an_odd_number_of_members():
    groups = dict(GROUPS, etcd=['c1', 's1'])
    with pytest.raises(InvalidInput, match='odd number of members .*got 2: c1, s1; list the members in the etcd group'):
        build(groups=groups)
    with pytest.raises(InvalidInput, match='nowhere: etcd members must be hosts'):
        build(groups=dict(GROUPS, etcd=['c1', 's1', 'nowhere']))


def test_patroni_timing_is_checked():
    with pytest.raises(InvalidInput, match='pgdist_ha_ttl .10. must be at least'):
        build(ha_ttl=10)


def test_a_synchronous_logical_replica_of_an_ha_shard_is_refused():
    refused = dict(HA_FACTS, r1=dict(HA_FACTS['r1'], replication_synchronous=True))
    with pytest.raises(InvalidInput, match='r1: pgdist_replication_synchronous on a replica of s1, an HA shard'):
        build(facts_=refused)


def test_dcs_settings_are_patronis_command_line_ones():
    assert set(ha.DCS_SETTINGS) >= {'max_prepared_transactions', 'max_connections', 'wal_level', 'max_wal_senders'}
