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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput


def _table_shares(eligible, current, load):
    """{shard: how many of the table's partitions it holds after the rebalance}."""
    count = len(current)
    base, extra = divmod(count, len(eligible))
    held = dict((shard, sum(1 for where in current.values() if where == shard)) for shard in eligible)
    larger = sorted(eligible, key=lambda shard: (-held[shard], load[shard], shard))[:extra]
    return dict((shard, base + (1 if shard in larger else 0)) for shard in eligible)


def _check_drain(shards, drain):
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

