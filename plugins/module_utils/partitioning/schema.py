# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner steps of an application's schema (objects.py): indexes, CHECK and foreign key constraints,
expression defaults and sequences, reconciled against the snapshot like the columns.

Writes go on while a table that holds rows changes: on such a table (a shard table, or a plain one) an index
is built with CREATE INDEX CONCURRENTLY, and a constraint is added NOT VALID (only new rows are checked, the
lock is held for a moment) and validated by VALIDATE CONSTRAINT, which lets writes through. PostgreSQL runs
neither CONCURRENTLY nor a validation that must not hold the ADD's lock inside the module's transaction, so
these statements are deferred: they run after the rest has committed, each on its own (Plan.add with
in_transaction=False). A build that fails there (duplicates for a unique index) leaves an invalid index or an
unvalidated constraint; the catalog shows it and the next run rebuilds or validates it. A table created in
the same run gets everything in the transaction.

What the module made carries the comment schema_catalog.MANAGED: taken out of the lists, it is dropped;
indexes and constraints made by hand are left alone. One of the same name is taken over (and rebuilt if it
differs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import check_identifier
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.objects import Check
from ansible_collections.pgdist.cluster.plugins.module_utils.schema_catalog import MANAGED


def constraint_view(row):
    """A catalog constraint as the diff shows it."""
    if row['type'] == 'c':
        return dict(check=row['expression'], validated=row['validated'])
    return dict(columns=row['columns'], references='%s(%s)' % (row['table'], ', '.join(row['references'])),
                validated=row['validated'])


def objects_view(snapshot, key):
    """The indexes and constraints of a table as the catalogs hold them, for the diff."""
    return dict(indexes=dict((name, dict((k, row[k]) for k in ('columns', 'unique', 'method', 'predicate', 'valid')))
                             for name, row in snapshot.indexes_on(key).items()),
                constraints=dict((name, constraint_view(row)) for name, row in snapshot.constraints_on(key).items()))


def with_objects(view, objects):
    """view with the indexes and constraints of objects that there are (a table without any shows neither)."""
    view.update((key, value) for key, value in objects.items() if value)
    return view


class SchemaSteps(object):
    """Mixed into base.Planner: self.layout, self.snapshot, self.plan, self.render, self.holds_rows."""

    def queue(self, query, later=False):
        """Plan query in the transaction, or (later) after it has committed, on its own (see above)."""
        if later:
            self.deferred.append(query)
        else:
            self.plan.add(query)

    # -- defaults computed on the coordinator ----------------------------------------------

    def computed_default(self, table, column, have, created):
        """default_expression or sequence: true of a column, on the side that computes them; True when the
        column has one (then the literal default's step is not taken)."""
        if column.sequence:
            self.sequence_default(table, column, have, created)
            return True
        if column.default_expression is not None:
            if have is None or have['default'] != column.expression_sql:
                self.plan.add(sqlbuild.set_default_expression(table, column.name, column.expression_sql))
            return True
        return False

    def sequence_default(self, table, column, have, created):
        """The column numbered by its own sequence on this side: created (owned by the column, so it goes with
        the table), started after the largest value a table that exists holds, and the column's default."""
        sequence = sqlbuild.ident(*column.sequence)
        text = self.render(sequence)
        if column.sequence not in self.snapshot.relations:
            self.plan.add(sqlbuild.create_sequence(sequence, column.type_sql, table, column.name))
            if not created:
                self.plan.add(sqlbuild.start_sequence_after(text, table, column.name))
        if have is None or have.get('default_sequence') != '%s.%s' % column.sequence:
            self.plan.add(sqlbuild.set_default_nextval(table, column.name, text))

    # -- indexes and constraints -----------------------------------------------------------

    def schema_objects(self, table, key, created, indexes, constraints, index_prefix='', online=None,
                       partitioned=False):
        """Reconcile table's indexes and constraints with the wanted ones; returns their view after.

        indexes: the layout's indexes this side gets; constraints: its checks and foreign keys likewise;
        index_prefix: put before each index name (shard tables); online: whether changes must let writes through
        (default: the table existed and holds rows); partitioned: a partitioned table, on which PostgreSQL
        builds no index concurrently and adds no foreign key NOT VALID (only its CHECKs go online).
        """
        current_indexes = self.snapshot.indexes_on(key) if not created else {}
        current_constraints = self.snapshot.constraints_on(key) if not created else {}
        asked = {}

        def rows_here():
            """Asked only when something changes: does the table hold rows (then writes must go on)?"""
            if 'online' not in asked:
                asked['online'] = (not created and self.holds_rows(*key)) if online is None else online
            return asked['online']
        index_views = self._indexes(table, key[0], indexes, current_indexes, index_prefix,
                                    lambda: not partitioned and rows_here())
        constraint_views = self._constraints(table, constraints, current_constraints, rows_here, partitioned)
        return dict(indexes=index_views, constraints=constraint_views)

    def _indexes(self, table, schema, wanted, current, prefix, online):
        views, names = {}, set()
        for index in wanted:
            name = check_identifier(prefix + index.name, 'indexes: %s (its name on %s)' % (index.name, schema))
            names.add(name)
            views[name] = index.view()
            have = current.get(name)
            if have is not None and have['valid'] and dict((k, have[k]) for k in index.shape()) == index.shape():
                if not have['managed']:
                    self.plan.add(sqlbuild.comment_on_index(sqlbuild.ident(schema, name), MANAGED))
                continue
            concurrently = online()
            if have is not None:
                self._drop_index(schema, name, concurrently)
            build = sqlbuild.create_index(name, table, index.columns, index.unique, index.method, index.where_sql,
                                          concurrently=concurrently)
            comment = sqlbuild.comment_on_index(sqlbuild.ident(schema, name), MANAGED)
            for query in (build, comment):
                self.queue(query, concurrently)
        for name in sorted(current):
            if name not in names and current[name]['managed']:
                self._drop_index(schema, name, online())
        return views

    def _drop_index(self, schema, name, online):
        self.queue(sqlbuild.drop_index(sqlbuild.ident(schema, name), concurrently=online), online)

    def _constraints(self, table, wanted, current, rows_here, partitioned):
        views, names = {}, set()
        for item in wanted:
            names.add(item.name)
            check = item.expression_sql if isinstance(item, Check) else None
            views[item.name] = dict(check=check) if check is not None else item.shape()
            have = current.get(item.name)
            if have is not None and self._same_constraint(item, have):
                if not have['validated']:
                    self._validate(table, item.name, (check is not None or not partitioned) and rows_here())
                if not have['managed']:
                    self.plan.add(sqlbuild.comment_on_constraint(item.name, table, MANAGED))
                continue
            if have is not None:
                self.plan.add(sqlbuild.drop_constraint(table, item.name))
            online = (check is not None or not partitioned) and rows_here()
            if check is not None:
                clause = sqlbuild.expression_check(item.name, check)
            else:
                clause = sqlbuild.foreign_key_constraint(item.name, item.columns, sqlbuild.ident(*item.table),
                                                         item.references)
            self.plan.add(sqlbuild.add_constraint(table, clause, not_valid=online))
            self.plan.add(sqlbuild.comment_on_constraint(item.name, table, MANAGED))
            if online:
                self._validate(table, item.name, online)
        for name in sorted(current):
            if name not in names and current[name]['managed']:
                self.plan.add(sqlbuild.drop_constraint(table, name))
        return views

    @staticmethod
    def _same_constraint(item, have):
        if isinstance(item, Check):
            return have['type'] == 'c' and have['expression'] == item.expression_sql
        return have['type'] == 'f' and dict((k, have[k]) for k in item.shape()) == item.shape()

    def _validate(self, table, name, online):
        self.queue(sqlbuild.validate_constraint(table, name), online)
