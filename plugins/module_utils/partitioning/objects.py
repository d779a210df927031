# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an application's schema adds to a table: secondary indexes, CHECK constraints, foreign keys,
expression defaults and sequence-numbered columns. parse_objects() checks them in pure Python (naming the
field); resolve_expressions() has the server parse every expression and print it back, so what is compared
with the catalog is the server's own spelling (pg_get_expr), as for the bounds and defaults of layout.py.

Where each lives (see schema.py for the statements):
- shard tables (side: shard) get every index (named <shard table>_<name>: index names are per schema and a
  shard may hold several partitions of one table), CHECK and foreign key, and no expression default or
  sequence: the coordinator computes those, so every shard sees the same ids and times;
- the coordinator's declarative parent gets the CHECKs (its local partitions enforce them; foreign partitions
  carry them as declarations), the non-unique indexes (PostgreSQL builds them on the local partitions and skips
  the foreign ones) and, when every partition is local, the unique indexes and foreign keys too (PostgreSQL
  refuses both over foreign partitions); expression defaults and sequences live on the parent only;
- side: plain gets everything, on its one table.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import schema_catalog
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_expression, check_identifier, split_qualified)

# Integer types a sequence can number (what nextval() returns fits them as PostgreSQL's serial types do).
SEQUENCE_TYPES = ('smallint', 'integer', 'bigint')
SEQUENCE_SUFFIX = '_seq'


class Index(object):
    def __init__(self, name, columns, unique, where, method):
        self.name = name
        self.columns = columns
        self.unique = unique
        self.where = where
        self.where_sql = where  # the server's spelling, set by resolve_expressions()
        self.method = method

    def shape(self):
        """What the catalog must show for this index (schema_catalog.indexes)."""
        return dict(columns=list(self.columns), unique=self.unique, method=self.method, predicate=self.where_sql)

    def view(self):
        return dict(columns=list(self.columns), unique=self.unique, method=self.method, where=self.where_sql)


class Check(object):
    def __init__(self, name, expression):
        self.name = name
        self.expression = expression
        self.expression_sql = expression  # set by resolve_expressions()


class ForeignKey(object):
    def __init__(self, name, columns, table, references):
        self.name = name
        self.columns = columns
        self.table = table
        self.references = references

    def shape(self):
        return dict(columns=list(self.columns), table='%s.%s' % self.table, references=list(self.references))


def _names(items, field):
    names = []
    for position, item in enumerate(items):
        name = check_identifier(item.get('name'), '%s[%d].name' % (field, position))
        if name in names:
            raise InvalidInput('%s: %s is listed twice' % (field, name))
        names.append(name)
    return names


def _columns_of(layout, field, columns):
    if not isinstance(columns, list) or not columns:
        raise InvalidInput('%s: columns must be a non-empty list of column names' % field)
    for column in columns:
        check_identifier(column, field + ': columns')
        if not layout.column(column):
            raise InvalidInput('%s: %s is not in columns' % (field, column))
    if len(set(columns)) != len(columns):
        raise InvalidInput('%s: a column is listed twice in %s' % (field, ', '.join(columns)))
    return list(columns)


def _parse_indexes(layout, specs):
    _names(specs, 'indexes')
    for spec in specs:
        field = 'indexes: %s' % spec['name']
        columns = _columns_of(layout, field, spec.get('columns'))
        method = spec.get('method') or 'btree'
        unique = bool(spec.get('unique'))
        if unique and method != 'btree':
            raise InvalidInput('%s: a unique index needs method btree (PostgreSQL has no unique %s index)'
                               % (field, method))
        if unique and layout.side != 'plain':
            if layout.route_via:
                raise InvalidInput('%s: a unique index cannot include the partition key of a table routed through '
                                   '%s.%s (route_via): rows of equal values on two shards would both be accepted'
                                   % ((field,) + layout.route_via['table']))
            missing = [column for column in layout.key if column not in columns]
            if missing:
                raise InvalidInput('%s: a unique index must include the partition key column(s) %s: each shard '
                                   'checks uniqueness among its own rows only, so equal values in two partitions '
                                   'would both be accepted' % (field, ', '.join(missing)))
        where = spec.get('where')
        if where is not None:
            check_expression(where, field + ': where')
        layout.indexes.append(Index(spec['name'], columns, unique, where, method))


def _parse_checks(layout, specs):
    for spec in specs:
        field = 'checks: %s' % spec['name']
        layout.checks.append(Check(spec['name'], check_expression(spec.get('expression'), field + ': expression')))


def _parse_foreign_keys(layout, specs):
    for spec in specs:
        field = 'foreign_keys: %s' % spec['name']
        columns = _columns_of(layout, field, spec.get('columns'))
        references = spec.get('references') or {}
        table = split_qualified(references.get('table'), field + ': references.table', layout.schema)
        referenced = references.get('columns')
        if not isinstance(referenced, list) or len(referenced) != len(columns):
            raise InvalidInput('%s: references.columns must name as many columns as columns (%d)'
                               % (field, len(columns)))
        for column in referenced:
            check_identifier(column, field + ': references.columns')
        layout.foreign_keys.append(ForeignKey(spec['name'], columns, table, list(referenced)))


def parse_objects(layout, params):
    """Indexes, checks and foreign keys of the parameters, onto layout (after its columns and key)."""
    checks, foreign_keys = params.get('checks') or [], params.get('foreign_keys') or []
    _parse_indexes(layout, params.get('indexes') or [])
    constraint_names = _names(checks, 'checks') + _names(foreign_keys, 'foreign_keys')
    twice = sorted(set(name for name in constraint_names if constraint_names.count(name) > 1))
    if twice:
        raise InvalidInput('checks, foreign_keys: constraint name(s) %s given twice (one table, one namespace)'
                           % ', '.join(twice))
    _parse_checks(layout, checks)
    _parse_foreign_keys(layout, foreign_keys)


def column_defaults(layout, column, spec):
    """default, default_expression or sequence: true of one column spec, onto column (at most one of them)."""
    given = [key for key in ('default', 'default_expression') if spec.get(key) is not None]
    if spec.get('sequence'):
        given.append('sequence')
    if len(given) > 1:
        raise InvalidInput('columns: %s: give one of default (a value), default_expression (SQL, computed on the '
                           'coordinator) and sequence: true, not %s' % (column.name, ' and '.join(given)))
    if spec.get('default_expression') is not None:
        column.default_expression = check_expression(spec['default_expression'],
                                                     'columns: %s: default_expression' % column.name)
        column.expression_sql = column.default_expression
    if spec.get('sequence'):
        column.sequence = (layout.schema, check_identifier(
            '%s_%s%s' % (layout.name, column.name, SEQUENCE_SUFFIX), 'columns: %s: sequence (its name)' % column.name))


def check_sequence_types(layout):
    """After resolve: a sequence numbers integer columns only."""
    for column in layout.columns:
        if column.sequence and column.type_sql not in SEQUENCE_TYPES:
            raise InvalidInput('columns: %s: sequence: true needs an integer column (%s), not %s'
                               % (column.name, ', '.join(SEQUENCE_TYPES), column.type_sql))


def resolve_expressions(conn, layout):
    """Every expression as the server prints it back (one probe table, rolled back); kept as given in a
    read-only transaction (check mode in a database that does not exist yet: nothing to compare with)."""
    expressions = []
    for check in layout.checks:
        expressions.append(('check', check.name, check.expression, 'checks: %s: expression' % check.name, None))
    for index in layout.indexes:
        if index.where is not None:
            expressions.append(('predicate', index.name, index.where, 'indexes: %s: where' % index.name,
                                index.columns))
    for column in layout.columns:
        if column.default_expression is not None:
            expressions.append(('default', column.name, column.default_expression,
                                'columns: %s: default_expression' % column.name, None))
    if not expressions:
        return
    found = schema_catalog.canonical_expressions(
        conn, [(column.name, column.type_sql) for column in layout.columns], expressions)
    if found is None:
        return
    for check in layout.checks:
        check.expression_sql = found[('check', check.name)]
    for index in layout.indexes:
        if index.where is not None:
            index.where_sql = found[('predicate', index.name)]
    for column in layout.columns:
        if column.default_expression is not None:
            column.expression_sql = found[('default', column.name)]
