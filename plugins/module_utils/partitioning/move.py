# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving one foreign partition to another shard: the names, the snapshot and the pure planner.

A move is a sequence of steps, each run on the host it concerns and each
visible in the catalogs there, so the next run sees how far an interrupted
one got:

1. target shard: the shard table (pgdist.cluster.partitioned_table side: shard);
2. source shard: publication pgdist_move_<partition> of the source table;
3. target shard: subscription pgdist_move_<partition> (its slot has the same
   name): initial copy, then streaming;
4. coordinator (this planner): wait until the copy is done and the slot caught up,
   then the switch in one transaction: writes to the table paused (SHARE ROW
   EXCLUSIVE locks, sql.pause_writes), no prepared transaction of the coordinator left on the
   source, the slot confirmed the source's WAL position, the foreign partition
   re-created on the target's server with the same bound and options and a
   comment recording the move; after the commit the source table is renamed
   <table>_moved_<UTC timestamp>, where it stays until the user drops it;
5. target and source: subscription and publication dropped (the slot goes with
   the subscription).

The planner decides from a MoveSnapshot only; reading it and running the
switch is move_run.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import MAX_IDENTIFIER_BYTES, InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import remote_of
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Plan, Refusal

MOVE_PREFIX = 'pgdist_move_'
KEPT_INFIX = '_moved_'
RECORD_PREFIX = 'pgdist.cluster.partition_move '
# gids of the coordinator extension's two-phase commits (extension/pgdist: pgdist_<system id>_<xid>_...)
TWO_PHASE_PREFIX = 'pgdist_'
# Caught up before the lock: while writers go on, the source's position stays ahead of the slot, so the wait before
# pausing them stops within this many bytes; the wait under the lock then reaches the exact position.
CLOSE_ENOUGH_BYTES = 1024 * 1024
SUBSCRIPTION_STATES = dict(i='initialize', d='data_copy', f='finished_copy', s='synchronized', r='ready')


def move_name(schema, name):
    """Publication, subscription and slot name of the move of schema.name.

    Slot names allow lower case letters, digits and _ only: a partition name
    that is not already such a name in public, or too long, gets a short hash
    of schema.name so two moves never share a name.
    """
    clean = re.sub('[^a-z0-9_]', '_', name.lower())
    if clean == name and schema == 'public' and len(MOVE_PREFIX + clean) <= MAX_IDENTIFIER_BYTES:
        return MOVE_PREFIX + clean
    digest = hashlib.sha1(('%s.%s' % (schema, name)).encode('utf-8')).hexdigest()[:8]
    return (MOVE_PREFIX + clean)[:MAX_IDENTIFIER_BYTES - 9] + '_' + digest


def kept_name(table, stamp):
    """<table>_moved_<stamp>, the table shortened (by whole characters) to fit 63 bytes."""
    suffix = KEPT_INFIX + stamp
    while len((table + suffix).encode('utf-8')) > MAX_IDENTIFIER_BYTES:
        table = table[:-1]
    return table + suffix


def record_text(source_server, kept_schema, kept_table):
    """The comment the switch leaves on the new foreign partition: where it came from, what was kept there."""
    return RECORD_PREFIX + json.dumps(dict(moved_from=source_server, kept_as='%s.%s' % (kept_schema, kept_table)),
                                      sort_keys=True)


def parse_record(comment):
    if not comment or not comment.startswith(RECORD_PREFIX):
        return None
    try:
        record = json.loads(comment[len(RECORD_PREFIX):])
    except ValueError:
        return None
    return record if isinstance(record, dict) and 'moved_from' in record and 'kept_as' in record else None


class ShardState(object):
    """What one shard holds of a move, read through the coordinator's foreign server.

    error: why the shard could not be read (then nothing else is set);
    table: catalog.replica_identities() row of the shard table (identity, keyed), or None when it is missing;
    rows: whether the table holds rows (target only);
    kept: names of the tables <table>_moved_* beside it;
    publication: whether the move's publication exists (source);
    slot: catalog.slot_progress() row of the move's slot (source), or None;
    subscription: catalog.subscription_table_state() row (target), or None.
    """

    def __init__(self, error=None, table=None, rows=False, kept=(), publication=False, slot=None, subscription=None):
        self.error = error
        self.table = table
        self.rows = rows
        self.kept = list(kept)
        self.publication = publication
        self.slot = slot
        self.subscription = subscription


class MoveSnapshot(object):
    """The move of partition schema.name to to_server as the catalogs show it.

    partition: catalog.foreign_partition() row or None; servers: those of the
    source and target servers that exist; source, target: ShardState (None
    when not read); stamp: the UTC time of this run (YYYYMMDDHHMMSS), for the
    kept table's name; current_user: who the coordinator's statements run as.
    """

    def __init__(self, schema, name, to_server, partition=None, servers=(), source=None, target=None,
                 stamp='', current_user='postgres', database=''):
        self.schema = schema
        self.name = name
        self.to_server = to_server
        self.partition = partition
        self.servers = set(servers)
        self.source = source
        self.target = target
        self.stamp = stamp
        self.current_user = current_user
        self.database = database

    @property
    def label(self):
        return '%s.%s' % (self.schema, self.name)

    @property
    def record(self):
        return parse_record(self.partition and self.partition['comment'])

    @property
    def source_server(self):
        """The server the rows come from: the partition's, or the one the finished move recorded."""
        partition = self.partition
        if partition['server'] == self.to_server:
            record = self.record
            return record['moved_from'] if record else None
        return partition['server']

    @property
    def remote(self):
        """(schema, table) of the shard table on both sides: the move keeps the remote name."""
        return remote_of(self.partition)


class Decision(object):
    """What the planner decided: the phase, what is left, and the statements of the switch.

    coordinator: a Plan for the coordinator's one transaction (empty unless the switch is due);
    source: statements for the source shard after that commit (the rename of the source table);
    leftovers: objects of a finished switch still to drop (publication, slot, subscription).
    """

    def __init__(self, phase, remaining, leftovers=(), coordinator=None, source=(), kept_as=None):
        self.phase = phase
        self.remaining = list(remaining)
        self.leftovers = list(leftovers)
        self.coordinator = coordinator or Plan()
        self.source = list(source)
        self.kept_as = kept_as


def check_partition(snapshot):
    """Refuse what cannot move, naming the reason; nothing has been changed at that point."""
    partition, label = snapshot.partition, snapshot.label
    if partition is None:
        raise InvalidInput('name: there is no table %s in database %s' % (label, snapshot.database))
    if not partition['is_partition'] or partition['parent_kind'] != 'p':
        raise Refusal('name: %s is not a partition of a declaratively partitioned table; only those are moved '
                      '(an inheritance child is re-pointed by partitioned_table); nothing was changed' % label)
    if partition['kind'] != 'f':
        raise Refusal('name: %s is a local partition on the coordinator, not a foreign partition on a shard: there is '
                      'no shard to move it from; nothing was changed' % label)
    if snapshot.to_server not in snapshot.servers:
        raise InvalidInput('to_server: there is no foreign server %s in database %s' % (snapshot.to_server,
                                                                                        snapshot.database))


def check_source(snapshot):
    source, remote = snapshot.source, '%s.%s' % snapshot.remote
    server = snapshot.partition['server']
    if source.error:
        raise Refusal('cannot read the source shard (server %s) of %s: %s; nothing was changed'
                      % (server, snapshot.label, source.error))
    if source.table is None:
        raise Refusal('%s: the source table %s does not exist on server %s; nothing was changed'
                      % (snapshot.label, remote, server))
    if not source.table['keyed'] and source.table['identity'] != 'f':
        raise Refusal('%s: the source table %s on server %s has no primary key and no replica identity, so its '
                      'UPDATE and DELETE could not be replicated (they would even fail there once it is published); '
                      'add a primary key (partitioned_table primary_key on side: shard) or set REPLICA IDENTITY FULL, '
                      'then move it; nothing was changed' % (snapshot.label, remote, server))
    target = snapshot.target
    if target.error:
        raise Refusal('cannot read the target shard (server %s) of %s: %s; nothing was changed'
                      % (snapshot.to_server, snapshot.label, target.error))
    if target.rows and target.subscription is None:
        raise Refusal('%s: the target table %s on server %s already holds rows and no subscription %s copies into '
                      'it: the initial copy would duplicate or clash with them; empty or drop it first (its rows are '
                      'not the partition\'s); nothing was changed'
                      % (snapshot.label, remote, snapshot.to_server, move_name(snapshot.schema, snapshot.name)))


def leftovers(snapshot, name):
    """The move's objects still on the shards, as 'kind name on server s'."""
    found = []
    source, target, server = snapshot.source, snapshot.target, snapshot.source_server
    if source is not None and not source.error:
        if source.publication:
            found.append('publication %s on server %s' % (name, server))
        if source.slot:
            found.append('replication slot %s on server %s' % (name, server))
    if target is not None and not target.error and target.subscription:
        found.append('subscription %s on server %s' % (name, snapshot.to_server))
    return found


def plan_finished(snapshot, name):
    """The partition already points at to_server: nothing to switch; the rename of the source table if an
    earlier run committed the switch but could not rename it, and the objects left to drop."""
    record = snapshot.record
    source = snapshot.source
    statements = []
    kept_as = record and record['kept_as']
    if record and source is not None and not source.error and source.table is not None:
        kept_schema, kept_table = kept_as.split('.', 1)
        statements.append(sql.rename_table(sqlbuild.ident(*snapshot.remote), kept_table))
    left = leftovers(snapshot, name)
    remaining = ['rename %s to %s on server %s' % ('%s.%s' % snapshot.remote, kept_as, snapshot.source_server)
                 ] if statements else []
    remaining += ['drop %s' % item for item in left]
    return Decision('switched' if remaining else 'done', remaining, left, source=statements, kept_as=kept_as)


def phase_before_switch(snapshot):
    """(phase, steps still to run before the switch) from what the shards hold."""
    source, target, remote = snapshot.source, snapshot.target, '%s.%s' % snapshot.remote
    name = move_name(snapshot.schema, snapshot.name)
    server, to_server = snapshot.partition['server'], snapshot.to_server
    missing = []
    if target.table is None:
        missing.append('create the table %s on server %s (partitioned_table side: shard)' % (remote, to_server))
    if not source.publication:
        missing.append('create publication %s of %s on server %s' % (name, remote, server))
    if target.subscription is None:
        missing.append('create subscription %s to it on server %s' % (name, to_server))
    if missing:
        phase = 'published' if source.publication and target.table is not None else 'not_started'
        return phase, missing
    state = target.subscription['state']
    if state != 'r' or not (source.slot and source.slot['lag_bytes'] <= CLOSE_ENOUGH_BYTES):
        return 'copying' if state != 'r' else 'streaming', ['wait until subscription %s caught up' % name]
    return 'caught_up', []


def plan_move(snapshot, step):
    """The Decision for step (plan, wait or switch) of snapshot's move."""
    check_partition(snapshot)
    name = move_name(snapshot.schema, snapshot.name)
    if snapshot.partition['server'] == snapshot.to_server:
        return plan_finished(snapshot, name)
    check_source(snapshot)
    phase, before = phase_before_switch(snapshot)
    kept = kept_name(snapshot.remote[1], snapshot.stamp)
    kept_as = '%s.%s' % (snapshot.remote[0], kept)
    tail = ['switch %s to server %s' % (snapshot.label, snapshot.to_server),
            'rename %s to %s on server %s' % ('%s.%s' % snapshot.remote, kept_as, snapshot.partition['server']),
            'drop subscription %s on server %s and publication %s on server %s' % (
                name, snapshot.to_server, name, snapshot.partition['server'])]
    if step != 'switch':
        return Decision(phase, before + tail, kept_as=kept_as)
    setup = [item for item in before if not item.startswith('wait ')]
    if setup:
        raise Refusal('%s cannot switch to server %s yet: %s first; nothing was changed'
                      % (snapshot.label, snapshot.to_server, '; '.join(setup)))
    return Decision(phase, before + tail, coordinator=switch_plan(snapshot, kept),
                    source=[sql.rename_table(sqlbuild.ident(*snapshot.remote), kept)], kept_as=kept_as)


def pause_statements(snapshot):
    partition = snapshot.partition
    return sql.pause_writes(sqlbuild.ident(partition['parent_schema'], partition['parent_name']),
                            sqlbuild.ident(snapshot.schema, snapshot.name))


def switch_plan(snapshot, kept):
    """The coordinator's transaction: pause writes, re-create the partition on the target, record the move."""
    partition = snapshot.partition
    table = sqlbuild.ident(snapshot.schema, snapshot.name)
    parent = sqlbuild.ident(partition['parent_schema'], partition['parent_name'])
    remote_schema, remote_table = snapshot.remote
    options = dict(partition['options'], schema_name=remote_schema, table_name=remote_table)
    plan = Plan()
    for statement in pause_statements(snapshot):
        plan.add(statement)
    plan.add(sql.detach_partition(parent, table))
    plan.add(sqlbuild.drop_relation(table, foreign=True))
    plan.add(sql.create_foreign_partition(table, parent, partition['bound'], snapshot.to_server, options))
    if partition['owner'] != snapshot.current_user:
        plan.add(sqlbuild.alter_owner('FOREIGN TABLE', table, partition['owner']))
    plan.add(sql.comment_on_foreign_table(table, record_text(partition['server'], remote_schema, kept)))
    return plan
