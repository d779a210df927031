# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reconciler of pgdist.cluster.partitioned_table: check, read, then decide.

parse_layout() checks the parameters, resolve() has the server canonicalise
types, defaults and bounds, check_bounds() refuses overlaps and gaps; the
strategy's reader takes one snapshot of the current state, and plan() (pure
but for row checks) turns layout and snapshot into the statements. Nothing
is changed before every check passed; the runner applies the plan in one
transaction, or not at all in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, versions
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import check_bounds
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.coordinator import missing_servers
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.declarative import DeclarativePlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.inheritance import InheritancePlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import parse_layout, resolve
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.plain import PlainPlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.shard import ShardPlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.shards import read_remote_tables
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import LiveRows

# One planner per side, and on the coordinator one per partitioning: a new strategy is a new planner here.
COORDINATOR_PLANNERS = dict(declarative=DeclarativePlanner, inheritance=InheritancePlanner)
SIDE_PLANNERS = dict(shard=ShardPlanner, plain=PlainPlanner)


def planner_class(layout):
    if layout.side == 'coordinator':
        return COORDINATOR_PLANNERS[layout.mode]
    return SIDE_PLANNERS[layout.side]


def plan(layout, snapshot, rows, render):
    """Wanted layout + snapshot -> (Plan, outcome); rows answers row checks, render turns SQL into text."""
    planner = planner_class(layout)(layout, snapshot, rows, render)
    outcome = planner.run()
    # CREATE INDEX CONCURRENTLY and VALIDATE CONSTRAINT after the commit (schema.py).
    for query in planner.deferred:
        planner.plan.add(query, in_transaction=False)
    return planner.plan, outcome


def require_fdw_features(conn, layout):
    """Foreign partition options newer than the server's postgres_fdw are refused, naming the version."""
    for part in layout.partitions:
        server = catalog.foreign_server(conn, part.server) if part.server and part.options else None
        if server:
            versions.require_fdw_options(conn, server['fdw'], 'pg_catalog.pg_foreign_table', part.options,
                                         'partitions: %s: options' % part.name)


def assume_missing_servers(request, layout, snapshot):
    """A foreign server an earlier task creates: an error outside check mode; in check mode, planned as created."""
    for server, message in sorted(missing_servers(layout, snapshot).items()):
        request.assume_created('foreign server %s' % server, message)
        snapshot.servers.add(server)


def partitioned_table(request):
    """Reconciler of the partitioned_table module."""
    conn = request.conn
    layout = parse_layout(request.params)
    if layout.present:
        resolve(conn, layout)
        check_bounds(layout)
        require_fdw_features(conn, layout)
    snapshot = planner_class(layout).read(conn, layout)
    if layout.side == 'coordinator' and layout.present:
        assume_missing_servers(request, layout, snapshot)
        read_remote_tables(request, layout, snapshot)
    planned, outcome = plan(layout, snapshot, LiveRows(conn), lambda query: query.as_string(conn))
    request.plan.extend(planned)
    return outcome
