# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seeds' inheritance layout on the coordinator.

A plain parent; children that INHERIT it, each with a CHECK constraint equal
to its bounds (which gives constraint exclusion); and a generated PL/pgSQL
function, called by the BEFORE INSERT trigger pgdist_route (or the names
route_trigger gives), that inserts each row into its child. With route_via a row follows the row of another table it
references, and the children carry no CHECK. The steps shared with the
declarative layout are CoordinatorPlanner's; this implements its layout hooks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import bound_check_identifier
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.coordinator import CoordinatorPlanner
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import ROUTING_SUFFIX
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal


class InheritancePlanner(CoordinatorPlanner):
    PARENT_KIND = 'r'

    def check_parent(self, parent):
        """A plain parent has no partitioning method to compare."""

    def create_parent(self):
        layout = self.layout
        self.plan.add(sqlbuild.create_table(layout.table, [column.definition() for column in layout.columns],
                                            layout.primary_key))

    def wanted_checks(self, part):
        # Rows routed through another table (route_via) carry no key column: no bounds CHECK.
        return [] if self.layout.route_via else [bound_check_identifier(self.layout, part.bound)]

    def child_constraints(self, part):
        return [sqlbuild.check_constraint(name, self.predicate(part.bound)) for name in self.wanted_checks(part)]

    def create_child(self, part):
        options = part.fdw_options() if part.server else None
        self.plan.add(sql.create_inheriting_child(part.table, self.layout.table, self.child_constraints(part),
                                                  part.server, options))

    def attach_existing(self, part, existing):
        raise Refusal('partitions: %s: %s.%s exists but is not a child of %s; rename or drop it; nothing was changed'
                      % (part.name, part.schema, part.name, self.layout.label))

    def bound_changed(self, part, current):
        return current['bound_checks'] != self.wanted_checks(part)

    def unbind(self, parts):
        """New CHECK bounds: every row must fit them (PostgreSQL checks local children only)."""
        for part in parts:
            if self.wanted_checks(part):
                self.refuse_rows_outside(part)
        for part in parts:
            for name in self.snapshot.relation(part.qualified)['bound_checks']:
                self.plan.add(sqlbuild.drop_constraint(part.table, name))

    def bind(self, parts):
        for part in parts:
            for constraint in self.child_constraints(part):
                self.plan.add(sqlbuild.add_constraint(part.table, constraint))

    def take_out(self, table):
        return sql.no_inherit(table, self.layout.table)

    def drop_child(self, table, foreign):
        return [sqlbuild.drop_relation(table, foreign=foreign)]

    def row_movement(self):
        """Rows are routed on INSERT by the routing trigger; an UPDATE never moves them."""
        self.trigger(self.layout.routing_trigger, 'BEFORE INSERT', ROUTING_SUFFIX, self.routing_body())
        self.drop_renamed_routing()

    def drop_renamed_routing(self):
        """A routing trigger renamed (route_trigger) leaves no second one behind: the first BEFORE trigger to
        return NULL would route every row with its own, maybe older, bounds. Ours are known by their source."""
        layout = self.layout
        wanted = '%s.%s' % (layout.schema, layout.routing_function)
        dropped = set()
        for name, function in sorted(self.snapshot.triggers_on(layout.qualified).items()):
            called = tuple(function.split('.', 1))
            if name == layout.routing_trigger or self.routing_mark() not in (self.snapshot.functions.get(called) or ''):
                continue
            self.plan.add(sql.drop_trigger(name, layout.table))
            if function != wanted and called not in dropped:
                dropped.add(called)
                self.plan.add(sql.drop_function(sqlbuild.ident(*called)))

    def routing_mark(self):
        """The start of the error every routing function of this table raises (see routing_body)."""
        return 'pgdist: no partition of %s accepts a row with' % sql.raise_text(self.layout.label)

    def routing_body(self):
        layout = self.layout
        record = 'routed_via' if layout.route_via else 'NEW'
        branches = [(self.predicate(part.bound, record), part.table) for part in layout.partitions]
        # RAISE takes % as its placeholder: names are escaped, the one placeholder shows the key.
        message = '%s (%s) = %%' % (self.routing_mark(), sql.raise_text(', '.join(layout.key)))
        lookup = None
        if layout.route_via:
            route = layout.route_via
            looked_up = route['table'] + (route['references'], route['column'])
            message += sql.raise_text(' (looked up in %s.%s by %s = %s)' % looked_up)
            lookup = (sqlbuild.ident(*route['table']), route['column'], route['references'], layout.key)
        failure = sql.raise_arguments(message, [sql.column_ref(name, record) for name in layout.key])
        return sql.routing_body(branches, failure, lookup)

    def analyzed_tables(self):
        # ANALYZE of a plain parent samples its children but does not analyze them one by one.
        return [self.layout.table] + [part.table for part in self.layout.partitions]
