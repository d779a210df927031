"""The partition_move planner on hand-built snapshots: phases, refusals, the switch's statements, no server."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.move import (
    MoveSnapshot, ShardState, kept_name, move_name, parse_record, plan_move, record_text)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal
from support.sqltext import render

STAMP = '20261201103000'


def partition(server='s1', comment=None, kind='f', is_partition=True, owner='postgres', options=None):
    return dict(schema='public', name='items_p0', kind=kind, is_partition=is_partition, parent_schema='public',
                parent_name='items', parent_kind='p', bound='FOR VALUES WITH (modulus 2, remainder 0)',
                server=server if kind == 'f' else None, options=dict(options or {}), owner=owner, comment=comment)


def source(keyed=True, identity='d', publication=True, lag=0, table=True, **extra):
    slot = dict(name='pgdist_move_items_p0', active=True, confirmed_flush_lsn='0/1', reached=lag == 0,
                lag_bytes=lag) if publication else None
    return ShardState(table=dict(identity=identity, keyed=keyed) if table else None, publication=publication,
                      slot=slot, **extra)


def target(table=True, rows=True, state='r'):
    subscription = dict(enabled=True, slot_name='pgdist_move_items_p0', state=state) if state else None
    return ShardState(table=dict(identity=None, keyed=None) if table else None, rows=rows, subscription=subscription)


def snapshot(part=None, src=None, tgt=None, **extra):
    args = dict(partition=part or partition(), servers={'s1', 's2'}, source=src or source(), target=tgt or target(),
                stamp=STAMP, database='db')
    args.update(extra)
    return MoveSnapshot('public', 'items_p0', 's2', **args)


def test_names_say_which_move_and_fit():
    assert move_name('public', 'items_p0') == 'pgdist_move_items_p0'
    other = move_name('analytics', 'items_p0')
    assert other.startswith('pgdist_move_items_p0_') and other != move_name('public', 'items_p0')
    assert move_name('public', 'Items-P0').startswith('pgdist_move_items_p0_')
    long_name = move_name('public', 'x' * 63)
    assert len(long_name) == 63 and long_name.startswith('pgdist_move_xxx')
    assert kept_name('items_p0', STAMP) == 'items_p0_moved_' + STAMP
    assert len(kept_name('y' * 63, STAMP)) == 63
    assert parse_record(record_text('s1', 'public', 'items_p0_moved_1')) == dict(
        moved_from='s1', kept_as='public.items_p0_moved_1')
    assert parse_record('a comment of the user') is None and parse_record(None) is None


def test_switch_statements_in_one_transaction_then_the_rename():
    decision = plan_move(snapshot(part=partition(owner='app', options={'fetch_size': '100'})), 'switch')
    assert decision.phase == 'caught_up'
    assert [render(q) for q in decision.coordinator.statements] == [
        'LOCK TABLE ONLY "public"."items" IN SHARE ROW EXCLUSIVE MODE',
        'ALTER FOREIGN TABLE "public"."items_p0" ENABLE TRIGGER USER',
        'ALTER TABLE "public"."items" DETACH PARTITION "public"."items_p0"',
        'DROP FOREIGN TABLE "public"."items_p0"',
        'CREATE FOREIGN TABLE "public"."items_p0" PARTITION OF "public"."items" FOR VALUES WITH (modulus 2, '
        'remainder 0) SERVER "s2" OPTIONS ("fetch_size" \'100\', "schema_name" \'public\', "table_name" \'items_p0\')',
        'ALTER FOREIGN TABLE "public"."items_p0" OWNER TO "app"',
        'COMMENT ON FOREIGN TABLE "public"."items_p0" IS \'pgdist.cluster.partition_move {"kept_as": '
        '"public.items_p0_moved_%s", "moved_from": "s1"}\'' % STAMP]
    assert [render(q) for q in decision.source] == [
        'ALTER TABLE "public"."items_p0" RENAME TO "items_p0_moved_%s"' % STAMP]


@pytest.mark.parametrize('src, tgt, phase, first', [
    (source(publication=False), target(table=False, rows=False, state=None), 'not_started',
     'create the table public.items_p0 on server s2 (partitioned_table side: shard)'),
    (source(), target(rows=False, state=None), 'published', 'create subscription pgdist_move_items_p0 to it on server s2'),
    (source(), target(state='d'), 'copying', 'wait until subscription pgdist_move_items_p0 caught up'),
    (source(lag=50 * 1024 * 1024), target(), 'streaming', 'wait until subscription pgdist_move_items_p0 caught up'),
    (source(lag=100), target(), 'caught_up', 'switch public.items_p0 to server s2'),
])
def test_plan_reports_the_phase_and_what_is_left(src, tgt, phase, first):
    decision = plan_move(snapshot(src=src, tgt=tgt), 'plan')
    assert decision.phase == phase and decision.remaining[0] == first
    assert not decision.coordinator and decision.source == []
    assert decision.remaining[-1] == ('drop subscription pgdist_move_items_p0 on server s2 and publication '
                                      'pgdist_move_items_p0 on server s1')


def test_switch_before_the_setup_is_refused_naming_the_steps():
    with pytest.raises(Refusal) as info:
        plan_move(snapshot(tgt=target(rows=False, state=None)), 'switch')
    assert str(info.value) == ('public.items_p0 cannot switch to server s2 yet: create subscription '
                               'pgdist_move_items_p0 to it on server s2 first; nothing was changed')


def test_a_copying_subscription_is_switched_after_the_wait():
    decision = plan_move(snapshot(tgt=target(state='d')), 'switch')
    assert decision.phase == 'copying' and decision.coordinator


@pytest.mark.parametrize('snap, error, message', [
    (snapshot(part=None, partition=None), InvalidInput, 'name: there is no table public.items_p0 in database db'),
    (snapshot(part=partition(kind='r')), Refusal, 'is a local partition on the coordinator'),
    (snapshot(part=partition(is_partition=False)), Refusal, 'is not a partition of a declaratively partitioned'),
    (snapshot(servers={'s1'}), InvalidInput, 'to_server: there is no foreign server s2 in database db'),
    (snapshot(src=ShardState(error='connection refused')), Refusal,
     'cannot read the source shard (server s1) of public.items_p0: connection refused'),
    (snapshot(src=source(table=False)), Refusal, 'the source table public.items_p0 does not exist on server s1'),
    (snapshot(src=source(keyed=False)), Refusal, 'has no primary key and no replica identity'),
    (snapshot(tgt=ShardState(error='timeout')), Refusal, 'cannot read the target shard (server s2)'),
    (snapshot(tgt=target(state=None)), Refusal, 'already holds rows and no subscription pgdist_move_items_p0'),
])
def test_refusals_name_the_reason(snap, error, message):
    for step in ('plan', 'switch'):
        with pytest.raises(error) as info:
            plan_move(snap, step)
        assert message in str(info.value)


def test_replica_identity_full_without_a_key_moves():
    assert plan_move(snapshot(src=source(keyed=False, identity='f')), 'switch').coordinator


def test_a_finished_move_changes_nothing_and_names_its_leftovers():
    record = record_text('s1', 'public', 'items_p0_moved_1')
    finished = snapshot(part=partition(server='s2', comment=record), src=source(table=False))
    decision = plan_move(finished, 'switch')
    assert decision.phase == 'switched' and not decision.coordinator and decision.source == []
    assert decision.leftovers == ['publication pgdist_move_items_p0 on server s1',
                                  'replication slot pgdist_move_items_p0 on server s1',
                                  'subscription pgdist_move_items_p0 on server s2']
    clean = snapshot(part=partition(server='s2', comment=record), src=ShardState(), tgt=ShardState())
    assert plan_move(clean, 'switch').phase == 'done' and plan_move(clean, 'switch').remaining == []
    # never moved at all: nothing is read on the shards
    unread = MoveSnapshot('public', 'items_p0', 's2', partition=partition(server='s2'), servers={'s1', 's2'})
    assert plan_move(unread, 'switch').phase == 'done'


def test_a_switch_committed_without_its_rename_renames_on_the_next_run():
    record = record_text('s1', 'public', 'items_p0_moved_1')
    decision = plan_move(snapshot(part=partition(server='s2', comment=record), src=ShardState(table={}),
                                  tgt=ShardState()), 'switch')
    assert [render(q) for q in decision.source] == ['ALTER TABLE "public"."items_p0" RENAME TO "items_p0_moved_1"']
    assert decision.phase == 'switched' and not decision.coordinator
