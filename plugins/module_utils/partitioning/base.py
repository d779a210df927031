# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps every planner shares: row refusals, schemas, columns, trigger functions, ANALYZE."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import check_identifier
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import sibling_bounds
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.schema import SchemaSteps
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Plan, Refusal


def column_view(current):
    """{name: dict(type, nullable, default)} of catalog columns, for diffs."""
    return dict((column['name'], dict(type=column['type'], nullable=not column['not_null'],
                                      default=column['default'])) for column in current)


def _shown(value):
    return 'NULL' if value is None else value


class Planner(SchemaSteps):
    """Plans one table: the wanted layout against a snapshot, into a Plan of its own.

    Planning is a pure function of the two but for row checks: `rows`
    (snapshot.LiveRows, or what a test gives) is asked only when a change
    would touch rows. `render` turns composed SQL into text, because the
    source of a trigger function is compared as the catalog keeps it.
    A subclass per side and partitioning names its snapshot reader in `read`
    and implements run() -> dict(before=, after=, partitions=, unlisted_partitions=).
    `computes_defaults`: whether this side's tables get the expression defaults and sequences (the
    coordinator and plain tables; a shard table is written through the coordinator, which computed them).
    """

    read = None
    computes_defaults = True

    def __init__(self, layout, snapshot, rows, render):
        self.layout = layout
        self.snapshot = snapshot
        self.rows = rows
        self.render = render
        self.plan = Plan()
        self.deferred = []
        self._held = {}

    def run(self):
        raise NotImplementedError

    # -- rows ------------------------------------------------------------------------

    def holds_rows(self, schema, name):
        """Does the table hold rows? Asked once per table; a table that cannot be read is refused."""
        if (schema, name) not in self._held:
            self._held[(schema, name)] = self.rows.any(schema, name)
        return self._held[(schema, name)]

    def refuse_if_rows(self, schema, name, change):
        if self.holds_rows(schema, name):
            raise Refusal('%s.%s holds rows: %s would lose or hide them, so it is refused and nothing was changed'
                          % (schema, name, change))

    def refuse_rows_outside(self, part, table=None, hash_shape=None, fence=False):
        """New bounds for a partition's table (table, default: the partition) go through only when every row fits."""
        schema, name = table or part.qualified
        query = sql.rows_outside(sqlbuild.ident(schema, name), self.layout.key,
                                 self.predicate(part.bound, hash_shape=hash_shape), fence)
        count, smallest, largest = self.rows.outside(schema, name, query)
        if count:
            raise Refusal('partitions: %s: %s.%s holds %d row(s) outside its new bounds %s (smallest key %s, largest '
                          'key %s): changing the bounds would hide them, so it is refused and nothing was changed; '
                          'move or delete those rows first'
                          % (part.name, schema, name, count, part.bound.text(), _shown(smallest), _shown(largest)))

    def predicate(self, bound, record=None, hash_shape=None):
        """The rows bound accepts, on the key columns (of record in PL/pgSQL)."""
        refs = [sql.column_ref(name, record) for name in self.layout.key]
        return sql.bound_predicate(bound, refs, sibling_bounds(self.layout), hash_shape)

    # -- shared steps -------------------------------------------------------------------

    def ensure_schemas(self, schemas):
        for schema in sorted(set(schemas) - self.snapshot.schemas):
            self.plan.add(sqlbuild.create_schema(schema))

    def columns(self, table, key, current, partition_key=()):
        """Make a table's columns match layout.columns; returns the column view after."""
        schema, name = key
        wanted = self.layout.columns
        by_name = dict((column['name'], column) for column in current)
        wanted_names = set(column.name for column in wanted)
        for column in current:
            if column['name'] not in wanted_names:
                self.refuse_if_rows(schema, name, 'dropping column %s (not in columns)' % column['name'])
                self.plan.add(sqlbuild.drop_column(table, column['name']))
        for column in wanted:
            have = by_name.get(column.name)
            if have is None:
                self.plan.add(sqlbuild.add_column(table, column.definition()))
                continue
            if have['type'] != column.type_sql:
                if column.name in partition_key:
                    raise Refusal('columns: %s: %s.%s is partitioned by %s, whose type (%s) PostgreSQL cannot change '
                                  'in place; nothing was changed' % (column.name, schema, name, column.name,
                                                                     have['type']))
                self.refuse_if_rows(schema, name, 'changing the type of column %s from %s to %s'
                                    % (column.name, have['type'], column.type_sql))
                self.plan.add(sqlbuild.alter_column(table, column.name, 'type', type_sql=column.type_sql))
            if have['not_null'] == column.nullable:
                self.plan.add(sqlbuild.alter_column(table, column.name,
                                                    'drop_not_null' if column.nullable else 'set_not_null'))
            self.default(table, column, have)
        return dict((column.name, column.view()) for column in wanted)

    def created_defaults(self, table):
        """The defaults a CREATE TABLE does not carry (computed ones), on a table created in this plan."""
        if self.computes_defaults:
            for column in self.layout.columns:
                self.computed_default(table, column, None, created=True)

    def default(self, table, column, have):
        """Defaults are compared as values of the column type: the catalog keeps 'x'::type, we get x."""
        if self.computes_defaults and self.computed_default(table, column, have, created=False):
            return
        if column.default is None:
            if have['default'] is not None:
                self.plan.add(sqlbuild.alter_column(table, column.name, 'drop_default'))
        elif have['type'] != column.type_sql or have.get('value') is None or have['value'] != column.default_value:
            self.plan.add(sqlbuild.alter_column(table, column.name, 'set_default', default=column.default))

    def primary_key(self, table, label, current):
        """layout.primary_key on an existing table (current: its key now): added when it has none, never changed."""
        wanted = self.layout.primary_key
        if not wanted or current == wanted:
            return
        if current:
            raise Refusal('primary_key: %s already has the primary key (%s); changing it is not done in place'
                          % (label, ', '.join(current)))
        self.plan.add(sqlbuild.add_primary_key(table, wanted))

    def trigger_function(self, schema, suffix, body):
        """<table><suffix> in schema with body, created or replaced when its source differs; its identifier."""
        name = self.layout.function_name(suffix)
        text = self.render(body)
        if self.snapshot.functions.get((schema, name)) != text:
            check_identifier(name, 'name (function %s)' % name)
            self.plan.add(sql.create_trigger_function(sqlbuild.ident(schema, name), text))
        return sqlbuild.ident(schema, name)

    def drop_function(self, schema, suffix):
        """Drop <table><suffix> from schema if it exists."""
        name = self.layout.function_name(suffix)
        if (schema, name) in self.snapshot.functions:
            self.plan.add(sql.drop_function(sqlbuild.ident(schema, name)))

    def analyze(self, tables):
        """analyze: true refreshes the statistics of tables, which changes nothing a diff shows."""
        if self.layout.analyze and tables:
            self.plan.add(sql.analyze(tables), alters=False)
