# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rebalancing: where each hash table's partitions should live, and the moves that get them there.

Pure Python like topology.py: the current placement comes in as data (the
coordinator's foreign partitions, read by pgdist.cluster.cluster_info) and
the result is an ordered list of moves, each run by playbooks/rebalance.yml
with pgdist.cluster.partition_move and the modules of its other steps.

plan_moves() spreads every table's partitions evenly over its shards minus
the drained ones (the counts differ by at most one) with the fewest moves:
the shards that already hold the most partitions get the larger shares, and
a shard keeps its partitions up to its share. Ties go to the shard with the
fewer partitions of the tables planned before, then to the name, so the
tables together stay even too and the same input always gives the same plan.

Only tables placed by partition_count are rebalanced: a partition the
inventory places itself (shard: on the partition) stays where it says.
planned_moves() adds to each move what its steps need on each host; a move's
source admits the target as a replication peer (move_hba_rules) only while
the plan has the move, that is during rebalance.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput, split_qualified
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import published_tables, shard_tables


def _table_shares(eligible, current, load):
    """{shard: how many of the table's partitions it holds after the rebalance}."""
    count = len(current)
    base, extra = divmod(count, len(eligible))
    held = dict((shard, sum(1 for where in current.values() if where == shard)) for shard in eligible)
    larger = sorted(eligible, key=lambda shard: (-held[shard], load[shard], shard))[:extra]
    return dict((shard, base + (1 if shard in larger else 0)) for shard in eligible)


def _check_drain(shards, drain):
    if not isinstance(drain or [], (list, tuple)):
        raise InvalidInput('pgdist_drain must be a list of shard hosts, got %r' % (drain,))
    drain = list(drain or [])
    for shard in drain:
        if shard not in shards:
            raise InvalidInput('pgdist_drain lists %r, which is not in the shards group (%s); drain a shard before '
                               'removing it from the inventory' % (shard, ', '.join(sorted(shards)) or 'empty'))
    return set(drain)


def plan_moves(tables, shards, drain=()):
    """The ordered moves [{table, partition, source, target}] of a rebalance.

    tables: [{name, partitions: [{name, shard}], shards}] in the order to
    plan them: each hash table's partitions in remainder order with the shard
    (inventory host) each lives on now, and the shards the table may use
    (None or empty: every shard). shards: the shards group. drain: shards to
    empty (their partitions move, nothing moves to them). Moves come table by
    table, in partition order.
    """
    shards = sorted(shards or [])
    drained = _check_drain(shards, drain)
    load = dict.fromkeys(shards, 0)
    moves = []
    for table in tables:
        name = table['name']
        allowed = sorted(table.get('shards') or shards)
        eligible = [shard for shard in allowed if shard in load and shard not in drained]
        current = dict((part['name'], part['shard']) for part in table['partitions'])
        for partition, shard in sorted(current.items()):
            if shard not in load:
                raise InvalidInput('%s: partition %s lives on %r, which is not in the shards group (%s); put the '
                                   'shard back in the inventory to move it' % (name, partition, shard,
                                                                               ', '.join(shards) or 'empty'))
        if not current:
            continue
        if not eligible:
            raise InvalidInput('pgdist_drain: draining %s leaves table %s no shard to hold its partitions (its shards: '
                               '%s)' % (', '.join(sorted(drained)), name, ', '.join(allowed)))
        shares = _table_shares(eligible, current, load)
        kept = dict.fromkeys(eligible, 0)
        leaving = []
        for part in table['partitions']:
            shard = part['shard']
            if shard in kept and kept[shard] < shares[shard]:
                kept[shard] += 1
            else:
                leaving.append(part)
        for part in leaving:
            target = min(eligible, key=lambda shard: (-(shares[shard] - kept[shard]), load[shard], shard))
            kept[target] += 1
            moves.append(dict(table=name, partition=part['name'], source=part['shard'], target=target))
        for shard, count in kept.items():
            load[shard] += count
    return moves


def spread_tables(tables, placed):
    """plan_moves' tables: the pgdist_tables entries with partition_count, each partition with the shard
    place_partitions gave it (the one the coordinator's foreign partition points at)."""
    out = []
    for table, spec in zip(tables, placed):
        if table.get('partition_count') is None:
            continue
        schema, name = split_qualified(table['name'], 'name')
        out.append(dict(name='%s.%s' % (schema, name), shards=table.get('shards'),
                        partitions=[dict(name='%s.%s' % (schema, part['name']), shard=part['shard'])
                                    for part in spec['partitions']]))
    return out


def _wal_level(read):
    return (((read.get('info') or {}).get('settings') or {}).get('wal_level') or {}).get('setting')


def planned_moves(tables, placed, shards, drain, peers, facts, read):
    """(moves, refusals): plan_moves' moves with what their steps need, and why they cannot run yet.

    Each move: summary (its line of the printed plan), table, partition
    (schema.name on the coordinator), source and target (inventory hosts),
    source_server and to_server (foreign servers), shard_table
    (partitioned_table arguments of the target's table, side shard), remote
    (the shard table, schema.table, published on the source), publisher
    (address and port of the source) and replication_address (where the
    target's subscription connects from). A source not running with
    wal_level logical cannot publish: that is a refusal, not a restart.
    """
    moves = plan_moves(spread_tables(tables, placed), shards, drain)
    by_name = dict(('%s.%s' % split_qualified(spec['name'], 'name'), spec) for spec in placed)
    refusals = []
    for move in moves:
        source, target = move['source'], move['target']
        spec = shard_tables([by_name[move['table']]], source)[0]
        base = move['partition'].split('.', 1)[1]
        spec = dict(spec, as_fdw_user=True, partitions=[part for part in spec['partitions'] if part['name'] == base])
        subscriber = facts[target]
        move.update(source_server=peers[source]['server'], to_server=peers[target]['server'], shard_table=spec,
                    remote=published_tables([spec])[0],
                    publisher=dict(host=peers[source]['address'], port=peers[source]['port']),
                    replication_address=str(subscriber.get('replication_source_address') or peers[target]['address']),
                    summary='move %s from %s to %s' % (move['partition'], source, target))
    for source in sorted(set(move['source'] for move in moves)):
        level = _wal_level(read(source))
        if level != 'logical':
            refusals.append('%s runs with wal_level %s, so its partitions cannot be copied to another shard by '
                            'logical replication: set pgdist_replication_enabled: true for the shards and run site.yml '
                            '(it restarts them), then rebalance' % (source, level or 'unknown (not read)'))
    return moves, refusals


def move_hba_rules(moves, host, database, user):
    """A move's source admits the replication user to the database from its targets' addresses."""
    targets = {}
    for move in moves:
        if move['source'] == host:
            targets.setdefault(move['replication_address'], set()).add(move['target'])
    return [dict(type='host', database=database, user=user, address=address, method='scram-sha-256',
                 comment='rebalance: partition moves to %s' % ', '.join(sorted(targets[address])))
            for address in sorted(targets)]
