# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The coordinator's declarative layout: a PARTITION BY parent and its local or foreign partitions.

PostgreSQL routes rows itself. It moves a row whose key changes between local
partitions only: postgres_fdw updates a foreign partition's row in place, on
the shard, whose key guard (shard.py) refuses it. key_update: move adds the
mover trigger instead, which moves such rows through the parent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import parse_bound, sibling_bounds
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.coordinator import CoordinatorPlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import MOVER_SUFFIX, MOVER_TRIGGER
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal

STRATEGIES = dict(r='range', l='list', h='hash')


class DeclarativePlanner(CoordinatorPlanner):
    PARENT_KIND = 'p'

    def check_parent(self, parent):
        if parent['strategy'] != self.layout.method[0]:
            raise Refusal('partition_by: %s is partitioned by %s, not %s; changing the method means moving '
                          'every row; nothing was changed'
                          % (self.layout.label, STRATEGIES[parent['strategy']], self.layout.method))

    def create_parent(self):
        layout = self.layout
        self.plan.add(sqlbuild.create_table(layout.table, [column.definition() for column in layout.columns],
                                            layout.primary_key, method=layout.method, key=layout.key))

    def create_child(self, part):
        options = part.fdw_options() if part.server else None
        self.plan.add(sql.create_partition(part.table, self.layout.table, part.bound, part.server, options))

    def attach_existing(self, part, existing):
        """A table left by prune_partitions (or made by hand) becomes the partition again."""
        if existing['kind'] not in ('r', 'f') or existing['server'] != part.server or existing['is_partition']:
            raise Refusal('partitions: %s: %s.%s exists but is not a partition of %s (and is not a %s table that '
                          'could be attached); rename or drop it; nothing was changed'
                          % (part.name, part.schema, part.name, self.layout.label,
                             'foreign' if part.server else 'plain'))
        # PostgreSQL checks a local table's rows when attaching it, not a foreign table's. Hash bounds are
        # checked on the parent's key, so before the parent exists only an empty table can be attached.
        if self.layout.method == 'hash' and self.snapshot.relation(self.layout.qualified) is None:
            self.refuse_if_rows(part.schema, part.name, 'attaching %s to the new table %s (its rows can be checked '
                                'against hash bounds once the table exists)' % (part.name, self.layout.label))
        else:
            self.refuse_rows_outside(part, None, *self.hash_shape())
        self.plan.add(sql.attach_partition(self.layout.table, part.table, part.bound))
        self.update_options(part, existing)

    def bound_changed(self, part, current):
        return parse_bound(current['bound']) != part.bound

    def unbind(self, parts):
        """New bounds: every row must fit them. All are detached before any is attached (see bind)."""
        for part in parts:
            self.refuse_rows_outside(part, None, *self.hash_shape())
        self.check_default(parts)
        for part in parts:
            self.plan.add(sql.detach_partition(self.layout.table, part.table))

    def bind(self, parts):
        for part in parts:
            self.plan.add(sql.attach_partition(self.layout.table, part.table, part.bound))

    def check_default(self, rebound):
        """The default partition takes what the others do not: when they change, its rows must still fit."""
        snapshot = self.snapshot
        default = [part for part in self.layout.partitions if part.bound.is_default
                   and part.qualified in snapshot.children and part not in rebound]
        current = [parse_bound(snapshot.relation(key)['bound']) for key in snapshot.children]
        if default and set(sibling_bounds(self.layout)) - set(current):
            self.refuse_rows_outside(default[0])

    def hash_shape(self):
        """(hash shape, fence) for row checks: the parent's own key, evaluated here rather than on a shard."""
        if self.layout.method != 'hash':
            return (None, False)
        return (self.render(self.layout.table), True)

    def take_out(self, table):
        return sql.detach_partition(self.layout.table, table)

    def drop_child(self, table, foreign):
        return [sql.detach_partition(self.layout.table, table), sqlbuild.drop_relation(table, foreign=foreign)]

    def row_movement(self):
        """key_update: move keeps the mover trigger on the parent (cloned to every partition); else none."""
        layout = self.layout
        if layout.key_update == 'move' and any(part.server for part in layout.partitions):
            body = sql.mover_body(self.render, layout.table, [column.name for column in layout.columns], layout.key)
            self.trigger(MOVER_TRIGGER, 'BEFORE UPDATE', MOVER_SUFFIX, body)
            return
        if MOVER_TRIGGER in self.snapshot.triggers_on(layout.qualified):
            self.plan.add(sql.drop_trigger(MOVER_TRIGGER, layout.table))
        self.drop_function(layout.schema, MOVER_SUFFIX)

    def analyzed_tables(self):
        # ANALYZE of a partitioned table also analyzes each partition (foreign ones through their fdw).
        return [self.layout.table]
