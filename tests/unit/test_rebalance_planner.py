"""Unit tests of the placement planner (plugins/module_utils/rebalance.py): no server."""

import itertools
import random

import pytest
from test_node_plan import FACTS, facts, running, variables

from ansible_collections.pgdist.cluster.plugins.module_utils import node_plan
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.rebalance import plan_moves


def table(name, homes, shards=None):
    """A hash table whose partition i lives on homes[i]."""
    return dict(name='public.' + name, shards=shards,
                partitions=[dict(name='public.%s_p%d' % (name, index), shard=home) for index, home in enumerate(homes)])


def after(tables, moves):
    """The tables as the catalogs show them once the moves are done."""
    where = dict((move['partition'], move['target']) for move in moves)
    return [dict(t, partitions=[dict(p, shard=where.get(p['name'], p['shard'])) for p in t['partitions']])
            for t in tables]


def counts(one):
    out = {}
    for part in one['partitions']:
        out[part['shard']] = out.get(part['shard'], 0) + 1
    return out


def fewest_moves(homes, eligible):
    """The least number of moves that spreads homes evenly over eligible, by trying every assignment of the
    larger shares (small inputs only)."""
    base, extra = divmod(len(homes), len(eligible))
    best = None
    for larger in itertools.combinations(eligible, extra):
        shares = dict((shard, base + (shard in larger)) for shard in eligible)
        held = dict((shard, homes.count(shard)) for shard in eligible)
        moves = sum(max(held[s] - shares[s], 0) for s in eligible) + sum(1 for h in homes if h not in eligible)
        best = moves if best is None else min(best, moves)
    return best


def test_a_third_shard_gets_two_of_eight_partitions_with_two_moves():
    tables = [table('events', ['s1', 's2'] * 4)]
    moves = plan_moves(tables, ['s1', 's2', 's3'])
    assert moves == [dict(table='public.events', partition='public.events_p6', source='s1', target='s3'),
                     dict(table='public.events', partition='public.events_p7', source='s2', target='s3')]
    assert counts(after(tables, moves)[0]) == dict(s1=3, s2=3, s3=2)


def test_a_balanced_placement_moves_nothing_and_a_second_plan_is_empty():
    tables = [table('events', ['s1', 's2', 's3'] * 3), table('orders', ['s1', 's2'] * 4 + ['s1'])]
    moves = plan_moves(tables, ['s1', 's2', 's3'])
    assert [move['table'] for move in moves] == ['public.orders'] * 3
    assert plan_moves(after(tables, moves), ['s1', 's2', 's3']) == []
    assert plan_moves([table('events', ['s1', 's2'] * 2)], ['s1', 's2']) == []


def test_draining_a_shard_moves_its_partitions_only_and_nothing_to_it():
    tables = [table('events', ['s1', 's2', 's3', 's1', 's2', 's3', 's1', 's2'])]
    moves = plan_moves(tables, ['s1', 's2', 's3'], drain=['s3'])
    assert [(m['partition'], m['source']) for m in moves] == [('public.events_p2', 's3'), ('public.events_p5', 's3')]
    assert counts(after(tables, moves)[0]) == dict(s1=4, s2=4)
    assert plan_moves(after(tables, moves), ['s1', 's2', 's3'], drain=['s3']) == []


def test_a_table_keeps_to_its_own_shards():
    tables = [table('events', ['s1'] * 4, shards=['s1', 's2'])]
    moves = plan_moves(tables, ['s1', 's2', 's3'])
    assert set(m['target'] for m in moves) == {'s2'} and len(moves) == 2


def test_tables_together_stay_even_when_each_has_a_remainder():
    # 4 partitions over 3 shards, all leaving a drained shard: each table has one shard with 2; the planner
    # gives that share to a different shard each time, so the shards end with 4/4/4 instead of 6/3/3.
    tables = [table('t%d' % index, ['s4'] * 4) for index in range(3)]
    moves = plan_moves(tables, ['s1', 's2', 's3', 's4'], drain=['s4'])
    total = {}
    for one in after(tables, moves):
        assert sorted(counts(one).values()) == [1, 1, 2]
        for shard, count in counts(one).items():
            total[shard] = total.get(shard, 0) + count
    assert total == dict(s1=4, s2=4, s3=4)


def test_fewer_moves_win_over_the_tables_together():
    # Every table on s1: keeping 2 of each there costs 2 moves a table; giving s2 or s3 the larger share
    # would cost 3.
    tables = [table('t%d' % index, ['s1'] * 4) for index in range(3)]
    moves = plan_moves(tables, ['s1', 's2', 's3'])
    assert len(moves) == 6
    assert all(counts(one)['s1'] == 2 for one in after(tables, moves))


def test_the_plan_is_deterministic_even_and_has_the_fewest_moves():
    randomness = random.Random(14)
    shards = ['s1', 's2', 's3', 's4']
    for case in range(300):
        homes = [randomness.choice(shards) for index in range(randomness.randint(1, 9))]
        drain = randomness.sample(shards, randomness.randint(0, 2))
        tables = [table('t', homes)]
        moves = plan_moves(tables, shards, drain)
        assert moves == plan_moves([table('t', homes)], list(reversed(shards)), drain)
        eligible = [s for s in shards if s not in drain]
        spread = counts(after(tables, moves)[0])
        assert set(spread) <= set(eligible)
        assert max(spread.values()) - min([spread.get(s, 0) for s in eligible]) <= 1
        assert len(moves) == fewest_moves(homes, eligible), (case, homes, drain)
        assert all(m['source'] != m['target'] for m in moves)
        assert plan_moves(after(tables, moves), shards, drain) == []


@pytest.mark.parametrize('tables, drain, message', [
    ([table('events', ['s1', 's2'])], ['s9'], "pgdist_drain lists 's9', which is not in the shards group (s1, s2)"),
    ([table('events', ['s1', 's2'], shards=['s2'])], ['s2'],
     'pgdist_drain: draining s2 leaves table public.events no shard to hold its partitions (its shards: s2)'),
    ([table('events', ['s1', 'gone'])], [],
     "public.events: partition public.events_p1 lives on 'gone', which is not in the shards group (s1, s2)"),
])
def test_bad_input_names_the_field(tables, drain, message):
    with pytest.raises(InvalidInput) as error:
        plan_moves(tables, ['s1', 's2'], drain)
    assert message in str(error.value)


# -- in pgdist_plan (node_plan.build_plan with rebalance: true) ------------------------------------------------

def rebalance_plan(homes, wal_level='logical', shards=('s1', 's2', 's3'), **extra):
    """build_plan of a coordinator c1, the shards (s3 with a replica r3, its subscriptions from 127.0.0.1) and
    the hash table events whose partition i the coordinator places on homes[i]."""
    groups = dict(coordinator=['c1'], shards=list(shards), replicas=['r3'])
    hosts = dict(FACTS, s3=facts('s3', '10.0.0.5', 5436, replication_source_address='127.0.0.1'),
                 r3=facts('r3', '10.0.0.6', 5437, replica_of='s3'))
    hosts.pop('r1')
    events = dict(name='events', columns=[dict(name='id', type='bigint')], primary_key=['id'],
                  partition_by=dict(method='hash', key='id'), partition_count=len(homes))
    placed = {'public.events': dict(partitions=[
        dict(schema='public', name='events_p%d' % index, kind='foreign', server=home) for index, home in enumerate(homes)])}
    settings = dict(wal_level=dict(setting=wal_level))
    reads = dict((host, running(dict(instance={}, tables=placed if host == 'c1' else {}, file_settings=[],
                                     settings=settings))) for host in hosts)
    return node_plan.build_plan(groups, hosts, variables(tables=[events], reference_tables=[], **extra), reads)


def test_the_plan_has_the_moves_and_their_steps_only_when_rebalancing():
    assert rebalance_plan(['s1', 's1', 's2', 's1'])['moves'] == []
    plan = rebalance_plan(['s1', 's1', 's2', 's1'], rebalance=True)
    assert plan['refusals'] == []
    move, = plan['moves']
    assert move == dict(
        table='public.events', partition='public.events_p3', source='s1', target='s3', source_server='s1',
        to_server='s3', remote='public.events_p3', publisher=dict(host='10.0.0.2', port=5433),
        replication_address='127.0.0.1', summary='move public.events_p3 from s1 to s3',
        shard_table=dict(name='events', columns=[dict(name='id', type='bigint')], primary_key=['id'], side='shard',
                         partition_by=dict(method='hash', key='id'), as_fdw_user=True,
                         partitions=[dict(name='events_p3', modulus=4, remainder=3)]))
    # The source admits the target's subscription only while the move is planned.
    rule = ('hostssl', 'library', 'pgdist_replication', '127.0.0.1', 'rebalance: partition moves to s3')
    assert rule in [(r['type'], r['database'], r['user'], r.get('address'), r.get('comment'))
                    for r in plan['hosts']['s1']['hba_rules']]
    assert plan['hosts']['s1']['hba_rules'][:-1] == rebalance_plan(['s1', 's1', 's2', 's1'])['hosts']['s1']['hba_rules']
    assert [r.get('comment') for r in plan['hosts']['s2']['hba_rules'] if 'rebalance' in str(r.get('comment'))] == []


def test_a_drain_and_a_source_without_logical_wal():
    plan = rebalance_plan(['s1', 's2', 's3', 's3'], wal_level='replica', rebalance=True, drain=['s3'])
    assert [(m['partition'], m['source'], m['target']) for m in plan['moves']] == [
        ('public.events_p2', 's3', 's1'), ('public.events_p3', 's3', 's2')]
    assert plan['refusals'] == [
        's3 runs with wal_level replica, so its partitions cannot be copied to another shard by logical replication: '
        'set pgdist_replication_enabled: true for the shards and run site.yml (it restarts them), then rebalance']
    with pytest.raises(InvalidInput, match='pgdist_drain must be a list of shard hosts'):
        rebalance_plan(['s1'], rebalance=True, drain='s1')


def test_shard_publications_follow_the_partitions_they_hold():
    # After a move of events_p1 from s1 to s3 the next plan (site.yml) publishes it from s3 to s3's replica,
    # which holds the table; s1's publication (and its replica's tables) no longer name it.
    before = rebalance_plan(['s1', 's1'], shards=('s1', 's3'))
    after_move = rebalance_plan(['s1', 's3'], shards=('s1', 's3'))
    assert [p['tables'] for p in before['hosts']['s3']['publications']] == [[]]
    assert [p['tables'] for p in after_move['hosts']['s3']['publications']] == [['public.events_p1']]
    assert [[p['name'] for p in t['partitions']] for t in after_move['hosts']['r3']['tables']] == [['events_p1']]
