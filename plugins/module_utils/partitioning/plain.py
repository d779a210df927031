# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""side: plain: one table without partitions, such as a reference table copied to every shard.

Its columns and primary key are reconciled as a shard table's are. It gets no
bounds CHECK; one left by an earlier run with side: shard and a lone DEFAULT
partition (a CHECK (true), which said nothing) is dropped, which loses no row.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.base import Planner, column_view
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.schema import objects_view, with_objects
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import read_plain
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal


class PlainPlanner(Planner):
    read = staticmethod(read_plain)

    def run(self):
        layout = self.layout
        current = self.snapshot.relation(layout.qualified)
        before = {}
        if current is not None:
            before = with_objects(dict(table=layout.label, columns=column_view(self.snapshot.columns_of(layout.qualified))),
                                  objects_view(self.snapshot, layout.qualified))
        if not layout.present:
            if current is not None:
                if not layout.drop_data:
                    raise Refusal('state: absent would drop %s and its rows; set drop_data: true to drop it; '
                                  'nothing was changed' % layout.label)
                self.plan.add(sqlbuild.drop_relation(layout.table))
            return dict(before=before, after={}, partitions={}, unlisted_partitions=[])
        self.ensure_schemas([layout.schema])
        if current is None:
            self.plan.add(sqlbuild.create_table(layout.table, [column.definition() for column in layout.columns],
                                                layout.primary_key))
            self.created_defaults(layout.table)
        else:
            self.reconcile(current)
        objects = self.schema_objects(layout.table, layout.qualified, current is None, layout.indexes,
                                      layout.checks + layout.foreign_keys)
        self.analyze([layout.table])
        after = with_objects(dict(table=layout.label, columns=dict((column.name, column.view())
                                                                   for column in layout.columns)), objects)
        return dict(before=before, after=after, partitions={}, unlisted_partitions=[])

    def reconcile(self, current):
        layout = self.layout
        if current['kind'] != 'r':
            raise Refusal('%s exists and is not a plain table; nothing was changed' % layout.label)
        self.columns(layout.table, layout.qualified, self.snapshot.columns_of(layout.qualified))
        for name in current['bound_checks']:
            self.plan.add(sqlbuild.drop_constraint(layout.table, name))
        self.primary_key(layout.table, layout.label, current['primary_key'])
