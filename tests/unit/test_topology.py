"""Unit tests of the topology rules (plugins/module_utils/topology.py), no server."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils import topology
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

EVENTS = dict(name='events', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
              partition_count=4)
BOOKS = dict(name='booksample', partitioning='inheritance', columns=[dict(name='id', type='int'), dict(name='location', type='text')],
             partition_by=dict(method='list', key='location'),
             partitions=[dict(name='booksample_paris', values=['paris'], shard='shard1'),
                         dict(name='booksample_local', values=['hanoi'])])


def shards_of(placed):
    return [p['shard'] for p in placed['partitions']]


def test_hash_partitions_round_robin_over_sorted_shards():
    placed = topology.place_partitions([EVENTS], ['shard2', 'shard1'])
    parts = placed[0]['partitions']
    assert [(p['name'], p['modulus'], p['remainder'], p['shard']) for p in parts] == [
        ('events_p0', 4, 0, 'shard1'), ('events_p1', 4, 1, 'shard2'),
        ('events_p2', 4, 2, 'shard1'), ('events_p3', 4, 3, 'shard2')]
    assert 'partition_count' not in placed[0]


def test_adding_a_shard_moves_no_existing_partition():
    before = topology.place_partitions([EVENTS], ['shard1', 'shard2'])
    pinned = dict(('public.' + p['name'], p['server']) for p in before[0]['partitions'])
    after = topology.place_partitions([EVENTS], ['shard1', 'shard2', 'shard0'], pinned=pinned)
    assert shards_of(after[0]) == shards_of(before[0])
    # A new hash table uses the new shard too.
    fresh = topology.place_partitions([dict(EVENTS, name='clicks')], ['shard1', 'shard2', 'shard0'], pinned=pinned)
    assert shards_of(fresh[0]) == ['shard0', 'shard1', 'shard2', 'shard0']


def test_pins_are_schema_qualified_so_same_named_tables_do_not_share_them():
    """Issue 21, case 2: analytics.events beside public.events after a third shard joined."""
    pinned = {'public.events_p0': 'shard1', 'public.events_p1': 'shard2', 'public.events_p2': 'shard1'}
    placed = topology.place_partitions([dict(EVENTS, partition_count=3), dict(EVENTS, name='analytics.events',
                                                                              partition_count=3)],
                                       ['shard1', 'shard2', 'shard3'], pinned=pinned)
    assert shards_of(placed[0]) == ['shard1', 'shard2', 'shard1']
    assert shards_of(placed[1]) == ['shard1', 'shard2', 'shard3']
    # And the pins of analytics.events never leak onto public.events either.
    other = topology.place_partitions([dict(EVENTS, partition_count=3)], ['shard1', 'shard2', 'shard3'],
                                      pinned={'analytics.events_p0': 'shard3'})
    assert shards_of(other[0]) == ['shard1', 'shard2', 'shard3']


def test_pins_from_cluster_info_tables():
    tables = {'public.events': dict(partitions=[
        dict(schema='public', name='events_p0', kind='foreign', server='shard1'),
        dict(schema='public', name='events_local', kind='local', server=None)]),
        'analytics.events': dict(partitions=[dict(schema='analytics', name='events_p0', kind='foreign',
                                                  server='shard3')])}
    assert topology.pins_from_tables(tables) == {'public.events_p0': 'shard1', 'analytics.events_p0': 'shard3'}
    assert topology.pins_from_tables(None) == {}


def test_removing_a_shard_that_holds_a_partition_is_refused():
    with pytest.raises(InvalidInput, match='events_p1 lives on foreign server .shard2.'):
        topology.place_partitions([EVENTS], ['shard1'], pinned={'public.events_p1': 'shard2'})


def test_server_names_and_sides():
    placed = topology.place_partitions([BOOKS], ['shard1'], servers={'shard1': 'paris_srv'})
    coordinator = topology.coordinator_tables(placed)[0]
    assert coordinator['partitions'] == [dict(name='booksample_paris', values=['paris'], server='paris_srv'),
                                         dict(name='booksample_local', values=['hanoi'])]
    shard = topology.shard_tables(placed, 'shard1')
    assert shard == [dict(name='booksample', partitioning='inheritance', columns=[dict(name='id', type='int'), dict(name='location', type='text')],
                          partition_by=dict(method='list', key='location'), side='shard',
                          partitions=[dict(name='booksample_paris', values=['paris'])])]
    assert topology.shard_tables(placed, 'shard9') == []


def test_a_default_partition_on_a_shard_is_told_its_siblings_bounds():
    cities = dict(name='cities', columns=[dict(name='city', type='text')], partition_by=dict(method='list', key='city'),
                  partitions=[dict(name='cities_paris', values=['paris'], shard='shard1'),
                              dict(name='cities_other', default=True, shard='shard2'),
                              dict(name='cities_hanoi', values=['hanoi'])])
    placed = topology.place_partitions([cities], ['shard1', 'shard2'])
    assert topology.shard_tables(placed, 'shard2')[0]['partitions'] == [
        dict(name='cities_other', default=True), dict(name='cities_paris', values=['paris'], elsewhere=True),
        dict(name='cities_hanoi', values=['hanoi'], elsewhere=True)]
    # the bounds of the other partitions do not depend on their siblings: only their own
    assert topology.shard_tables(placed, 'shard1')[0]['partitions'] == [dict(name='cities_paris', values=['paris'])]


def test_coordinator_only_keys_stay_on_the_coordinator():
    placed = topology.place_partitions([dict(BOOKS, prune_partitions=True)], ['shard1'])
    assert topology.coordinator_tables(placed)[0]['prune_partitions'] is True
    assert 'prune_partitions' not in topology.shard_tables(placed, 'shard1')[0]


def test_primary_key_stays_on_the_coordinator_only_without_foreign_partitions():
    key = ['id', 'location']
    local = dict(BOOKS, partitioning='declarative', primary_key=key, partitions=[dict(name='p', values=['x'])])
    assert topology.coordinator_tables(topology.place_partitions([local], []))[0]['primary_key'] == key
    placed = topology.place_partitions([dict(BOOKS, partitioning='declarative', primary_key=key)], ['shard1'])
    assert 'primary_key' not in topology.coordinator_tables(placed)[0]
    assert topology.shard_tables(placed, 'shard1')[0]['primary_key'] == key


@pytest.mark.parametrize('table, message', [
    (dict(BOOKS, partitions=[dict(name='x', values=['y'], shard='nowhere')]), "shard 'nowhere', which is not in the shards group"),
    (dict(EVENTS, partition_count=0), 'partition_count must be a positive integer'),
    (dict(EVENTS, partition_by=dict(method='list', key='id')), 'partition_count needs partition_by.method hash'),
    (dict(EVENTS, shards=['shard7']), "shards lists 'shard7'"),
    (dict(name=None), 'every table needs a name'),
    (dict(EVENTS, name='t' * 70), '63 bytes'),
])
def test_errors_name_the_table_and_field(table, message):
    with pytest.raises(InvalidInput, match=message):
        topology.place_partitions([table], ['shard1'])


def test_a_table_listed_twice_also_when_one_spelling_is_qualified():
    with pytest.raises(InvalidInput, match=r'pgdist_tables\[1\] \(public.events\): the table is listed twice'):
        topology.place_partitions([EVENTS, dict(EVENTS, name='public.events')], ['shard1'])


def test_published_tables_follow_the_remote_names():
    """As partitioned_table names the shard tables: remote_schema or the parent's schema (also for a partition
    in another schema on the coordinator), remote_table or the partition's name."""
    specs = [dict(name='sales.orders', partitions=[dict(name='orders_a'), dict(name='orders_b', remote_table='b'),
                                                   dict(name='other.orders_c'),
                                                   dict(name='orders_d', remote_schema='archive')])]
    assert topology.published_tables(specs) == ['sales.orders_a', 'sales.b', 'sales.orders_c', 'archive.orders_d']
    assert topology.remote_table('public', 'p0', dict(schema_name='s', table_name='t')) == ('s', 't')
    assert topology.remote_table('public', 'p0', {}) == ('public', 'p0')


def test_reference_table_spec_is_one_plain_table():
    spec = topology.reference_table_spec(dict(name='countries', columns=[dict(name='code', type='text')],
                                              primary_key=['code']), 0)
    assert spec == dict(name='countries', columns=[dict(name='code', type='text')], side='shard',
                        partition_by=dict(method='list', key=['code']), primary_key=['code'],
                        partitions=[dict(name='countries', default=True)])
    with pytest.raises(InvalidInput, match=r'pgdist_reference_tables\[2\] \(countries\): unknown key\(s\) shard'):
        topology.reference_table_spec(dict(name='countries', columns=[dict(name='code', type='text')], shard='x'), 2)


GROUPS = dict(names=dict(coordinator='coordinator', shards='shards', replicas='replicas'), coordinators=['c'],
              shards=['s1', 's2'], replicas=['r1'])


def test_replication_links_and_names():
    facts = {'r1': dict(replica_of='s1', replication_synchronous=True), 's1': {}, 's2': {}, 'c': {}}
    links = topology.replication_links(GROUPS, facts, [dict(name='countries')])
    assert [(l['kind'], l['publisher'], l['subscriber'], l['publication'], l['subscription'], l['synchronous'])
            for l in links] == [
        ('shard', 's1', 'r1', 'pgdist_shard_s1', 'pgdist_replica_r1', True),
        ('reference', 'c', 's1', 'pgdist_reference', 'pgdist_reference_s1', False),
        ('reference', 'c', 's2', 'pgdist_reference', 'pgdist_reference_s2', False),
        ('reference', 'c', 'r1', 'pgdist_reference', 'pgdist_reference_r1', False)]
    assert topology.replication_name('pgdist_replica_', 'Replica-1.example') == 'pgdist_replica_replica_1_example'
    with pytest.raises(InvalidInput, match="pgdist_replica_of is 'c', which is not in the shards group"):
        topology.replication_links(GROUPS, dict(facts, r1=dict(replica_of='c')), [])
    with pytest.raises(InvalidInput, match='r1 is in the replicas group but has no pgdist_replica_of'):
        topology.replication_links(GROUPS, dict(facts, r1={}), [])


def test_synchronous_standby_names():
    assert topology.synchronous_standby_names(['b', 'a', 'a'], 2) == 'ANY 2 ("a", "b")'
    assert topology.synchronous_standby_names([]) == ''


def test_peers_tls_and_peer_rules():
    assert topology.peer('c', dict(address='10.0.0.1', port=5433)) == dict(
        host='c', address='10.0.0.1', port=5433, server='c')
    assert topology.peer('s', dict(foreign_server_name='srv_s'))['server'] == 'srv_s'
    assert topology.peer_ssl_options(False, '/ca.crt') == {}
    assert topology.peer_ssl_options(True) == {'sslmode': 'require', 'channel_binding': 'require'}
    assert topology.peer_ssl_options('yes', '/etc/pki/ca.crt') == {'sslmode': 'verify-full',
                                                                   'sslrootcert': '/etc/pki/ca.crt'}
    with pytest.raises(InvalidInput, match='pgdist_ssl must be a boolean'):
        topology.peer_ssl_options('maybe')
    with pytest.raises(InvalidInput, match='pgdist_ssl_ca_file must be an absolute path'):
        topology.peer_ssl_options(True, 'ca.crt')
    rules = topology.fdw_hba_rules([dict(host='c', address='10.0.0.1')], 'library', 'pgdist_fdw')
    assert [(r['type'], r.get('address')) for r in topology.require_ssl(rules, True)] == [
        ('local', None), ('hostssl', '10.0.0.1')]
    assert topology.require_ssl(rules, False) == rules
    links = [dict(publisher='s1', subscriber='r1'), dict(publisher='s1', subscriber='r2'),
             dict(publisher='c', subscriber='s1')]
    facts = {'r1': dict(address='10.0.0.5'), 'r2': dict(address='10.0.0.6', replication_source_address='10.0.0.5')}
    assert [r['address'] for r in topology.replication_hba_rules(links, 's1', facts, 'db', 'repl')] == ['10.0.0.5']
