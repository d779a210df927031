"""Unit tests of the topology and config filters (plugins/filter)."""

import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name):
    spec = importlib.util.spec_from_file_location('pgdist_filter_' + name, os.path.join(ROOT, 'plugins', 'filter', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


topology = load('topology')
config = load('config')

EVENTS = dict(name='events', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
              partition_count=4)
BOOKS = dict(name='booksample', partitioning='inheritance', columns=[dict(name='id', type='int')],
             partition_by=dict(method='list', key='location'),
             partitions=[dict(name='booksample_paris', values=['paris'], shard='shard1'),
                         dict(name='booksample_local', values=['hanoi'])])


def test_hash_partitions_round_robin_over_sorted_shards():
    placed = topology.place_partitions([EVENTS], ['shard2', 'shard1'])
    parts = placed[0]['partitions']
    assert [(p['name'], p['modulus'], p['remainder'], p['shard']) for p in parts] == [
        ('events_p0', 4, 0, 'shard1'), ('events_p1', 4, 1, 'shard2'),
        ('events_p2', 4, 2, 'shard1'), ('events_p3', 4, 3, 'shard2')]
    assert 'partition_count' not in placed[0]


def test_adding_a_shard_moves_no_existing_partition():
    before = topology.place_partitions([EVENTS], ['shard1', 'shard2'])
    pinned = dict((p['name'], p['server']) for p in before[0]['partitions'])
    after = topology.place_partitions([EVENTS], ['shard1', 'shard2', 'shard0'], pinned=pinned)
    assert [p['shard'] for p in after[0]['partitions']] == [p['shard'] for p in before[0]['partitions']]
    # A new hash table uses the new shard too.
    fresh = topology.place_partitions([dict(EVENTS, name='clicks')], ['shard1', 'shard2', 'shard0'], pinned=pinned)
    assert [p['shard'] for p in fresh[0]['partitions']] == ['shard0', 'shard1', 'shard2', 'shard0']


def test_removing_a_shard_that_holds_a_partition_is_refused():
    with pytest.raises(AnsibleFilterError, match='events_p1 lives on foreign server .shard2.'):
        topology.place_partitions([EVENTS], ['shard1'], pinned={'events_p1': 'shard2'})


def test_server_names_and_sides():
    placed = topology.place_partitions([BOOKS], ['shard1'], servers={'shard1': 'paris_srv'})
    coordinator = topology.coordinator_tables(placed)[0]
    assert coordinator['partitions'] == [dict(name='booksample_paris', values=['paris'], server='paris_srv'),
                                         dict(name='booksample_local', values=['hanoi'])]
    shard = topology.shard_tables(placed, 'shard1')
    assert shard == [dict(name='booksample', partitioning='inheritance', columns=[dict(name='id', type='int')],
                          partition_by=dict(method='list', key='location'), side='shard',
                          partitions=[dict(name='booksample_paris', values=['paris'])])]
    assert topology.shard_tables(placed, 'shard9') == []


def test_primary_key_stays_on_the_coordinator_only_without_foreign_partitions():
    local = dict(BOOKS, partitioning='declarative', primary_key=['id'], partitions=[dict(name='p', values=['x'])])
    assert topology.coordinator_tables(topology.place_partitions([local], []))[0]['primary_key'] == ['id']
    placed = topology.place_partitions([dict(BOOKS, primary_key=['id'])], ['shard1'])
    assert 'primary_key' not in topology.coordinator_tables(placed)[0]
    assert topology.shard_tables(placed, 'shard1')[0]['primary_key'] == ['id']


@pytest.mark.parametrize('table, message', [
    (dict(BOOKS, partitions=[dict(name='x', values=['y'], shard='nowhere')]), "shard 'nowhere', which is not in the shards group"),
    (dict(EVENTS, partition_count=0), 'partition_count must be a positive integer'),
    (dict(EVENTS, partition_by=dict(method='list', key='id')), 'partition_count needs partition_by.method hash'),
    (dict(EVENTS, shards=['shard7']), "shards lists 'shard7'"),
    (dict(name=None), 'every table needs a name'),
])
def test_errors_name_the_table_and_field(table, message):
    with pytest.raises(AnsibleFilterError, match=message):
        topology.place_partitions([table], ['shard1'])


def test_peers_and_fdw_rules():
    hostvars = {'c': {'pgdist_address': '10.0.0.1', 'pgdist_port': 5433}, 's': {'ansible_host': 'db-s'}}
    peers = topology.peers(['s', 'c'], hostvars)
    assert peers == [dict(host='c', address='10.0.0.1', port=5433, server='c'),
                     dict(host='s', address='db-s', port=5432, server='s')]
    lines = config.hba_lines(topology.fdw_hba_rules(peers[:1], 'library', 'pgdist_fdw'))
    assert [line.split('\n')[-1] for line in lines] == [
        'local library pgdist_fdw scram-sha-256', 'host library pgdist_fdw 10.0.0.1/32 scram-sha-256']


@pytest.mark.parametrize('rule, message', [
    (dict(type='host', address='0.0.0.0/0', method='trust'), r'pgdist_hba_rules\[0\]: method trust is refused'),
    (dict(type='host', method='scram-sha-256'), 'address is required'),
    (dict(type='local', address='1.2.3.4', method='peer'), 'address is only for host lines'),
    (dict(type='host', address='::1', method='scram'), "method 'scram' is not one of"),
    (dict(type='hots', address='::1', method='md5'), "type 'hots'"),
    (dict(type='host', address='::1', method='md5', user='a b'), "user 'a b' must be one word"),
    (dict(type='host', address='::1', method='md5', adress='x'), 'unknown field'),
])
def test_hba_rules_are_validated(rule, message):
    with pytest.raises(AnsibleFilterError, match=message):
        config.hba_lines([], [], [rule])


def test_hba_lines_and_conf_lines():
    assert config.hba_lines([], [], [dict(type='hostssl', database=['a', 'b'], user='u', address='10.1.2.3',
                                          method='scram-sha-256')]) == ['hostssl a,b u 10.1.2.3/32 scram-sha-256']
    assert config.hba_lines([dict(type='local', user='postgres', method='trust')]) == ['local all postgres trust']
    assert config.pg_conf_lines({'port': 5432, 'ssl': False, 'listen_addresses': "a'b", 'x.y': ['p', 'q'],
                                 'skip': None}) == ["listen_addresses = 'a''b'", 'port = 5432', 'ssl = off',
                                                    "x.y = 'p,q'"]
    with pytest.raises(AnsibleFilterError, match='not a valid PostgreSQL setting name'):
        config.pg_conf_lines({'bad name': 1})
