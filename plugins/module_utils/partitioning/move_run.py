# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reconciler of pgdist.cluster.partition_move: read the move, let move.py decide, run the switch.

The module runs on the coordinator (local socket, as postgres). It reads the
source and target shards through the connections the coordinator's foreign
servers and user mappings describe: the address, login and pg_hba rule
postgres_fdw itself uses, so no other login is needed on the shards. What it
reads there is open to any login: the table's key and replica identity, the
move's publication and slot (pg_publication, pg_replication_slots), the
coordinator's prepared transactions (pg_prepared_xacts), the subscription's
state per table (pg_subscription_rel), the current WAL position; the one
change it makes there is the rename of the source table, which the fdw user
owns.

The wait and the lock run while planning, on the transaction the runner then
commits: writes to the table paused first (sql.pause_writes: readers go on,
writers wait), then no prepared transaction left, then the slot confirmed
the source's WAL position read under the lock; the plan's statements (the
lock again, a no-op, then the re-pointing) follow in the same transaction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import check_identifier, split_qualified
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.shards import Shard
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.move import (
    CLOSE_ENOUGH_BYTES, KEPT_INFIX, SUBSCRIPTION_STATES, TWO_PHASE_PREFIX, MoveSnapshot, ShardState, leftovers, move_name, pause_statements, plan_move)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the runner
    pass

POLL_SECONDS = 0.02


def read_source(remote, name):
    def reader(conn):
        identities = catalog.replica_identities(conn, [remote])
        return ShardState(table=identities.get(remote),
                          kept=catalog.tables_with_prefix(conn, remote[0], remote[1] + KEPT_INFIX),
                          publication=catalog.publication_exists(conn, name), slot=catalog.slot_progress(conn, name))
    return reader


def read_target(remote, name):
    def reader(conn):
        exists = catalog.relation_kind(conn, *remote) == 'r'
        rows = exists and catalog.row_check(conn, sql.has_rows(sqlbuild.ident(*remote)))[0]
        return ShardState(table=dict(identity=None, keyed=None) if exists else None, rows=rows,
                          subscription=catalog.subscription_table_state(conn, name, *remote))
    return reader


def read_move(request, schema, name, to_server, shards):
    """The MoveSnapshot; shards ({server: Shard}) receives the connections opened, to close or use later."""
    conn = request.conn
    partition = catalog.foreign_partition(conn, schema, name)
    stamp = time.strftime('%Y%m%d%H%M%S', time.gmtime())
    snapshot = MoveSnapshot(schema, name, to_server, partition=partition, stamp=stamp,
                            current_user=catalog.current_user(conn), database=conn.info.dbname)
    if partition is None or partition['kind'] != 'f' or not partition['is_partition']:
        return snapshot
    snapshot.servers = catalog.existing_servers(conn, [partition['server'], to_server])
    source_server = snapshot.source_server
    if to_server not in snapshot.servers or source_server is None:
        return snapshot
    slot = move_name(schema, name)
    for server in (source_server, to_server):
        shards[server] = Shard(request, server)
    snapshot.source = shards[source_server].read(read_source(snapshot.remote, slot), ShardState)
    snapshot.target = shards[to_server].read(read_target(snapshot.remote, slot), ShardState)
    return snapshot


def wait_for(check, timeout):
    """Poll check() until it returns something true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(POLL_SECONDS)


class Switch(object):
    """The waits of the switch, on the coordinator's transaction and the two shard connections."""

    def __init__(self, request, snapshot, source, target):
        self.request = request
        self.snapshot = snapshot
        self.source = source
        self.target = target
        self.name = move_name(snapshot.schema, snapshot.name)
        self.locked_at = None

    def holding(self):
        """Ask the coordinator's session for a row while writes are paused: a session killed under the lock (its
        transaction rolled back, writes resumed) fails the task at once, not after the wait."""
        with self.request.conn.cursor() as cursor:
            cursor.execute('SELECT 1')
        return True

    def caught_up(self, lsn=None):
        """(caught up, table state, slot progress) right now: the copy done and the slot at lsn, or without lsn
        within CLOSE_ENOUGH_BYTES of the source's current position."""
        state = catalog.subscription_table_state(self.target.conn, self.name, *self.snapshot.remote)
        progress = catalog.slot_progress(self.source.conn, self.name, lsn)
        near = progress and (progress['reached'] if lsn else progress['lag_bytes'] <= CLOSE_ENOUGH_BYTES)
        return bool(state and state['state'] == 'r' and near), state, progress

    def why_not(self, state, progress):
        return 'subscription %s on server %s: %s, slot %s' % (
            self.name, self.target.server,
            'table state %s' % SUBSCRIPTION_STATES.get(state['state'], state['state']) if state and state['state']
            else 'not copying %s.%s' % self.snapshot.remote,
            '%d bytes behind' % progress['lag_bytes'] if progress else 'missing on server %s' % self.source.server)

    def wait_caught_up(self, timeout, lsn=None):
        """Until the initial copy is done and the slot confirmed lsn (default: the source's position at each
        look); a Refusal naming what is behind after timeout seconds."""
        last = []

        def check():
            last[:] = self.caught_up(lsn)
            return last[0] or (lsn and not self.holding())
        if not wait_for(check, timeout):
            raise Refusal('%s has not caught up %swithin %ss (%s); %snothing was changed' % (
                self.snapshot.label, 'to %s on server %s ' % (lsn, self.source.server) if lsn else '', timeout,
                self.why_not(last[1], last[2]), 'writes resumed and ' if lsn else ''))

    def lock_and_drain(self, timeout):
        """Writes to the partition paused; then no prepared transaction left and every change applied."""
        conn, label = self.request.conn, self.snapshot.label
        with conn.cursor() as cursor:
            cursor.execute(sqlbuild.set_local('lock_timeout', '%ds' % timeout))
            for statement in pause_statements(self.snapshot):
                cursor.execute(statement)
        self.locked_at = time.monotonic()

        def drained():
            return self.holding() and not catalog.prepared_gids(self.source.conn, TWO_PHASE_PREFIX)
        if not wait_for(drained, timeout):
            raise Refusal('%s: prepared transactions of the coordinator are still pending on server %s after %ss (%s):'
                          ' its rows may still change there, so the switch is refused; writes resumed and nothing was '
                          'changed' % (label, self.source.server, timeout, ', '.join(
                              catalog.prepared_gids(self.source.conn, TWO_PHASE_PREFIX))))
        lsn, started = catalog.current_wal_lsn(self.source.conn, flush=True), time.monotonic()
        self.wait_caught_up(max(self.locked_at + timeout - time.monotonic(), 0), lsn)
        return lsn, round(time.monotonic() - started, 3)


def rename_source(source, statement, outcome, locked_at, kept_as):
    """The action after the commit: the write pause measured up to the commit, then the source table renamed."""
    def action():
        if locked_at is not None:
            outcome['write_pause'] = round(time.monotonic() - locked_at, 3)
        try:
            with source.conn.cursor() as cursor:
                cursor.execute(statement)
        except psycopg2.Error as exc:
            raise Refusal('the switch is committed (the partition reads and writes on its new server), but renaming '
                          'the source table to %s on server %s failed: %s; run the move again to finish it'
                          % (kept_as, source.server, pg_message(exc)))
        finally:
            source.close()
    return action


def partition_move(request):
    params = request.params
    schema, name = split_qualified(params['name'], 'name')
    to_server = check_identifier(params['to_server'], 'to_server')
    shards = {}
    try:
        return _reconcile(request, read_move(request, schema, name, to_server, shards), shards)
    finally:
        for shard in shards.values():
            if request.check_mode or not shard.renames:  # else the rename after the commit closes it
                shard.close()


def _reconcile(request, snapshot, shards):
    params, step = request.params, request.params['step']
    decision = plan_move(snapshot, step)
    name = move_name(snapshot.schema, snapshot.name)
    outcome = dict(phase=decision.phase, remaining=decision.remaining, leftovers=decision.leftovers,
                   publication=name, subscription=name, slot=name, kept_as=decision.kept_as,
                   source_server=snapshot.source_server, to_server=snapshot.to_server, write_pause=None)
    source = shards.get(snapshot.source_server)
    read = snapshot.source is not None and not snapshot.source.error
    outcome['kept_tables'] = ['%s.%s' % (snapshot.remote[0], kept) for kept in snapshot.source.kept] if read else []
    outcome['source_queries'] = [statement.as_string(source.conn) for statement in decision.source] if source else []
    if step == 'wait' and decision.phase in ('copying', 'streaming') and not request.check_mode:
        Switch(request, snapshot, source, shards[snapshot.to_server]).wait_caught_up(params['catch_up_timeout'])
        outcome.update(phase='caught_up', remaining=decision.remaining[1:])
    if step != 'switch':
        return outcome
    switch = None
    if decision.coordinator and not request.check_mode:
        switch = Switch(request, snapshot, source, shards[snapshot.to_server])
        switch.wait_caught_up(params['catch_up_timeout'])
        outcome['lsn'], outcome['apply_wait'] = switch.lock_and_drain(params['switch_timeout'])
    request.plan.extend(decision.coordinator)
    for statement in decision.source:
        source.renames = True
        request.after_commit(rename_source(source, statement, outcome, switch and switch.locked_at, decision.kept_as))
    if decision.coordinator:
        outcome.update(before=dict(server=snapshot.partition['server']), after=dict(server=snapshot.to_server))
        if not request.check_mode:
            left = leftovers(snapshot, name)
            outcome.update(phase='switched', leftovers=left, remaining=['drop %s' % item for item in left])
    return outcome
