# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shard side: the real tables behind the coordinator's foreign partitions.

Each gets the parent's columns and a CHECK constraint equal to its bounds, so
a shard refuses rows that belong elsewhere. A hash bound needs
satisfies_hash_partition(), which reads the partition key of a partitioned
table: an empty one with the same key columns, <remote schema>._pgdist_hash_<table>,
gives it the same key types and opclasses as the coordinator, so the shard
accepts exactly the rows the coordinator routes to it.

Each also gets a key guard: a BEFORE UPDATE OF <key> trigger that fires only
when the new row falls outside the table's bounds and refuses the UPDATE with
a message saying what happened and what to do. postgres_fdw sends a
key-changing UPDATE made through the coordinator to the shard as it is
(PostgreSQL moves rows between local partitions only), where the CHECK would
refuse it under an opaque constraint name. A trigger on the shard costs the
coordinator nothing: its UPDATE and DELETE stay one remote statement.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.base import Planner, column_view
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import (
    BOUND_CHECK_PREFIX, bound_check_identifier, sibling_bounds)
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import GUARD_PREFIX, GUARD_SUFFIX
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.schema import objects_view, with_objects
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import read_shard
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal

GUARD_MESSAGE = ('pgdist: this UPDATE would put a row of %s outside its partition: the new key (%s) = %% '
                 'does not belong in %%.%% on this shard')
MOVE_HINT = ('Rows do not move from one foreign partition to another by default. Delete the row and insert it with '
             'the new key through the coordinator, or set key_update: move for %s (pgdist.cluster.partitioned_table '
             'on the coordinator), which moves such rows at the cost of a row trigger on every UPDATE of the table.')
INSERT_ONLY_HINT = ('With partitioning: inheritance rows are routed on INSERT only: delete the row and insert it '
                    'with the new key through the coordinator.')


def bound_checks(layout, part, shape_text):
    """The bounds CHECK of a shard table, by name; none where it would say nothing: rows routed
    through another table (route_via) have no key here, and a lone DEFAULT accepts every row."""
    if layout.route_via or (part.bound.is_default and not sibling_bounds(layout)):
        return []
    return [bound_check_identifier(layout, part.bound, shape_text)]


def hash_shape_text(layout, part, render):
    """The hash shape table of part's shard schema as SQL text (see above), None for other methods."""
    shape = layout.hash_shapes().get(part.remote[0])
    return render(sqlbuild.ident(*shape)) if shape else None


class ShardPlanner(Planner):
    read = staticmethod(read_shard)
    computes_defaults = False

    def __init__(self, *args):
        super(ShardPlanner, self).__init__(*args)
        self._guard_functions = {}

    def run(self):
        layout, snapshot = self.layout, self.snapshot
        shapes = layout.hash_shapes()
        targets = [part.remote for part in layout.held_partitions]
        before = dict(('%s.%s' % key, with_objects(dict(bounds=snapshot.relation(key)['bound_checks'],
                                                        columns=column_view(snapshot.columns_of(key))),
                                                   objects_view(snapshot, key)))
                      for key in targets if snapshot.relation(key))
        if not layout.present:
            self.drop_all(targets, shapes)
            return dict(before=before, after={}, partitions={}, unlisted_partitions=[])
        self.ensure_schemas(set(target[0] for target in targets))
        for shape in sorted(set(shapes.values()) - set(snapshot.relations)):
            key_columns = [layout.column(name).definition() for name in layout.key]
            self.plan.add(sqlbuild.create_table(sqlbuild.ident(*shape), key_columns, method='hash', key=layout.key))
        after = dict(('%s.%s' % part.remote, self.shard_table(part, shapes.get(part.remote[0])))
                     for part in layout.held_partitions)
        self.analyze([sqlbuild.ident(*target) for target in targets])
        return dict(before=before, after=after, partitions=dict((part.name, part.view()) for part in layout.held_partitions),
                    unlisted_partitions=[])

    def shard_table(self, part, shape):
        """Create or reconcile one shard table; its view for the diff."""
        layout = self.layout
        current = self.snapshot.relation(part.remote)
        table = sqlbuild.ident(*part.remote)
        label = '%s.%s' % part.remote
        shape_text = self.render(sqlbuild.ident(*shape)) if shape else None
        checks = bound_checks(layout, part, shape_text)
        constraints = [sqlbuild.check_constraint(name, self.predicate(part.bound, hash_shape=shape_text))
                       for name in checks]
        if current is None:
            self.plan.add(sqlbuild.create_table(table, [column.definition() for column in layout.columns],
                                                layout.primary_key, constraints=constraints))
        else:
            if current['kind'] != 'r':
                raise Refusal('partitions: %s: %s exists and is not a plain table; nothing was changed'
                              % (part.name, label))
            self.columns(table, part.remote, self.snapshot.columns_of(part.remote))
            if current['bound_checks'] != checks:
                if constraints:
                    self.refuse_rows_outside(part, part.remote, hash_shape=shape_text)
                for name in current['bound_checks']:
                    self.plan.add(sqlbuild.drop_constraint(table, name))
                for constraint in constraints:
                    self.plan.add(sqlbuild.add_constraint(table, constraint))
            self.primary_key(table, label, current['primary_key'])
        self.key_guard(part, table, checks, shape_text)
        # Index names are per schema, and a shard may hold several partitions of one table.
        objects = self.schema_objects(table, part.remote, current is None, layout.indexes,
                                      layout.checks + layout.foreign_keys, index_prefix=part.remote[1] + '_')
        return with_objects(dict(bounds=checks, columns=dict((column.name, column.shard_view())
                                                             for column in layout.columns)), objects)

    def key_guard(self, part, table, checks, shape_text):
        """The guard trigger of a table with a bounds CHECK, named after it: new bounds, new guard."""
        current = dict((name, function) for name, function in self.snapshot.triggers_on(part.remote).items()
                       if name.startswith(GUARD_PREFIX))
        wanted = {}
        if checks:
            function = self.guard_function(part.remote[0])
            wanted[GUARD_PREFIX + checks[0][len(BOUND_CHECK_PREFIX):]] = function
        for name in sorted(current):
            if name not in wanted or current[name] != '%s.%s' % wanted[name].strings:
                self.plan.add(sql.drop_trigger(name, table))
        for name, function in sorted(wanted.items()):
            if current.get(name) != '%s.%s' % function.strings:
                predicate = self.predicate(part.bound, 'NEW', shape_text)
                self.plan.add(sql.create_key_guard(name, table, self.layout.key, predicate, function))

    def guard_function(self, schema):
        """<table>_pgdist_key_guard in schema, the function every guard of this table there calls."""
        if schema not in self._guard_functions:
            layout = self.layout
            message = GUARD_MESSAGE % (sql.raise_text(layout.label), sql.raise_text(', '.join(layout.key)))
            hint = INSERT_ONLY_HINT if layout.routed_on_insert else MOVE_HINT % layout.label
            body = sql.key_guard_body(message, layout.key, hint)
            self._guard_functions[schema] = self.trigger_function(schema, GUARD_SUFFIX, body)
        return self._guard_functions[schema]

    def drop_all(self, targets, shapes):
        relations = self.snapshot.relations
        found = [key for key in targets if key in relations]
        if found and not self.layout.drop_data:
            raise Refusal('state: absent would drop the shard tables %s and their rows; set drop_data: true to drop '
                          'them; nothing was changed' % ', '.join('%s.%s' % key for key in found))
        for key in found + sorted(shape for shape in set(shapes.values()) if shape in relations):
            self.plan.add(sqlbuild.drop_relation(sqlbuild.ident(*key)))
        for schema in sorted(set(target[0] for target in targets)):
            self.drop_function(schema, GUARD_SUFFIX)
