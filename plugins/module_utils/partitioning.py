# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partitioned tables: the bounds model, validation and planning.

One call reconciles a whole table with all its partitions:

* ``side: coordinator, partitioning: declarative``: a partitioned parent
  (PARTITION BY RANGE/LIST/HASH) and its partitions, local tables or
  foreign tables on a postgres_fdw server.
* ``side: coordinator, partitioning: inheritance``: the seeds' layout: a
  plain parent, children that INHERIT it with CHECK constraints, and a
  generated PL/pgSQL routing function called by a BEFORE INSERT trigger.
* ``side: shard``: the real tables behind the foreign partitions, with the
  parent's columns and a CHECK constraint equal to the partition bounds.

The steps are: parse_layout() checks the structure of the parameters
(pure Python), resolve() asks the server to parse the column types and to
canonicalise every bound value, check_bounds() refuses overlaps and gaps,
and a planner compares with the catalog and fills the plan. Nothing is
changed before every check passed. Changes that could lose or hide rows
(bounds, column types, removed columns, re-pointed foreign partitions) are
applied only to empty tables and refused otherwise.

Bound CHECK constraints are named ``pgdist_bounds_<hash>``, the hash taken
over the canonical bounds, so comparing a child's bounds is comparing a
constraint name; their text is shown by pg_get_constraintdef.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, sqlbuild, versions
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal, option_text, options_diff

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    pass

ROUTING_TRIGGER = 'pgdist_route'
MOVE_TRIGGER = 'pgdist_move'
BOUND_CHECK_PREFIX = 'pgdist_bounds_'
HASH_SHAPE_PREFIX = '_pgdist_hash_'

# A type name: words (optionally schema-qualified), modifiers of digits, array brackets.
# Anything else (quotes, semicolons, parentheses with expressions) is refused before the
# server's own parser (to_regtype) sees it.
TYPE_NAME = re.compile(
    r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?( [A-Za-z_][A-Za-z0-9_]*)*'
    r'(\s*\((?P<mods>\s*\d+\s*(,\s*\d+\s*)*)\))?( [A-Za-z_][A-Za-z0-9_]*)*(\s*\[\s*\d*\s*\])*$')


class Unbounded(object):
    """MINVALUE or MAXVALUE in a range bound."""

    def __init__(self, keyword, rank):
        self.keyword = keyword
        self.rank = rank

    def __repr__(self):
        return self.keyword


MINVALUE = Unbounded('MINVALUE', -1)
MAXVALUE = Unbounded('MAXVALUE', 1)


class Bound(object):
    """The bounds of one partition; values are text (canonical once resolved) or None (NULL)."""

    def __init__(self, kind, values=None, lower=None, upper=None, modulus=None, remainder=None):
        self.kind = kind
        self.values = list(values or [])
        self.lower = list(lower or [])
        self.upper = list(upper or [])
        self.modulus = modulus
        self.remainder = remainder

    def signature(self):
        """A comparable form: list values as a set, unbounded values by keyword."""
        def norm(items):
            return tuple(item.keyword if isinstance(item, Unbounded) else ('v', item) for item in items)
        if self.kind == 'list':
            return ('list', tuple(sorted(norm(self.values), key=repr)))
        if self.kind == 'range':
            return ('range', norm(self.lower), norm(self.upper))
        if self.kind == 'hash':
            return ('hash', int(self.modulus), int(self.remainder))
        return ('default',)

    def __eq__(self, other):
        return isinstance(other, Bound) and self.signature() == other.signature()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.signature())

    def text(self):
        """The bound as PostgreSQL prints it (pg_get_expr), values quoted."""
        def show(value):
            if value is None:
                return 'NULL'
            if isinstance(value, Unbounded):
                return value.keyword
            return "'%s'" % value.replace("'", "''")
        if self.kind == 'list':
            return 'FOR VALUES IN (%s)' % ', '.join(map(show, self.values))
        if self.kind == 'range':
            return 'FOR VALUES FROM (%s) TO (%s)' % (', '.join(map(show, self.lower)),
                                                     ', '.join(map(show, self.upper)))
        if self.kind == 'hash':
            return 'FOR VALUES WITH (modulus %d, remainder %d)' % (self.modulus, self.remainder)
        return 'DEFAULT'


BOUND_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|[^,\s()]+)\s*(,|$)")


def _parse_datums(text):
    values = []
    for match in BOUND_TOKEN.finditer(text):
        token = match.group(1)
        if token.startswith("'"):
            values.append(token[1:-1].replace("''", "'"))
        elif token == 'NULL':
            values.append(None)
        elif token in ('MINVALUE', 'MAXVALUE'):
            values.append(MINVALUE if token == 'MINVALUE' else MAXVALUE)
        else:
            values.append(token)
        if match.end() == len(text):
            break
    return values


def parse_bound(text):
    """A Bound from pg_get_expr(relpartbound, oid); None for an unrecognised text."""
    if text is None:
        return None
    if text == 'DEFAULT':
        return Bound('default')
    match = re.match(r'^FOR VALUES IN \((.*)\)$', text, re.S)
    if match:
        return Bound('list', values=_parse_datums(match.group(1)))
    match = re.match(r"^FOR VALUES FROM \((.*)\) TO \((.*)\)$", text, re.S)
    if match:
        return Bound('range', lower=_parse_datums(match.group(1)), upper=_parse_datums(match.group(2)))
    match = re.match(r'^FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)$', text)
    if match:
        return Bound('hash', modulus=int(match.group(1)), remainder=int(match.group(2)))
    return None


# -- the wanted layout -------------------------------------------------------------

class Column(object):
    def __init__(self, name, type_text, nullable, default):
        self.name = name
        self.type_text = type_text
        self.type_sql = None  # canonical, set by resolve()
        self.nullable = nullable
        self.default = default

    def definition(self):
        return (self.name, self.type_sql, self.nullable, self.default)

    def view(self):
        return dict(type=self.type_sql or self.type_text, nullable=self.nullable, default=self.default)


class Partition(object):
    def __init__(self, name, schema, bound, server=None, remote=None, options=None):
        self.name = name
        self.schema = schema
        self.bound = bound
        self.server = server
        self.remote = remote
        self.options = options or {}

    @property
    def table(self):
        return sqlbuild.ident(self.schema, self.name)

    def fdw_options(self):
        """The foreign table's whole wanted option set."""
        wanted = dict(schema_name=self.remote[0], table_name=self.remote[1])
        wanted.update((key, option_text(value)) for key, value in self.options.items())
        return wanted

    def view(self):
        return dict(bounds=self.bound.text(), server=self.server,
                    remote='%s.%s' % self.remote if self.server else None)


class Layout(object):
    """The checked parameters of one partitioned_table call."""

    def __init__(self, params):
        self.params = params
        self.schema, self.name = split_qualified(params['name'], 'name')
        self.side = params.get('side') or 'coordinator'
        self.mode = params.get('partitioning') or 'declarative'
        self.present = params.get('state', 'present') == 'present'
        self.prune = params.get('prune_partitions')
        self.drop_data = params.get('drop_data')
        self.columns = []
        self.partitions = []
        self.primary_key = []
        self.method = None
        self.key = []
        self.route_via = None
        self.key_types = []

    @property
    def table(self):
        return sqlbuild.ident(self.schema, self.name)

    @property
    def label(self):
        return '%s.%s' % (self.schema, self.name)

    def column(self, name):
        for column in self.columns:
            if column.name == name:
                return column
        return None


def _nonempty_list(value):
    return isinstance(value, list) and len(value) > 0


def _range_side(part_name, field, value, width):
    values = value if isinstance(value, list) else [value]
    if len(values) != width:
        raise InvalidInput('partitions: %s: %s has %d value(s) but the partition key has %d column(s)'
                           % (part_name, field, len(values), width))
    result = []
    for item in values:
        if isinstance(item, str) and item.upper() in ('MINVALUE', 'MAXVALUE'):
            result.append(MINVALUE if item.upper() == 'MINVALUE' else MAXVALUE)
        elif item is None:
            raise InvalidInput('partitions: %s: %s cannot hold null; range bounds use MINVALUE or MAXVALUE'
                               % (part_name, field))
        else:
            result.append(option_text(item))
    for index, item in enumerate(result):
        if isinstance(item, Unbounded) and any(follow is not item for follow in result[index + 1:]):
            raise InvalidInput('partitions: %s: in %s every value after %s must also be %s'
                               % (part_name, field, item.keyword, item.keyword))
    return result


def _partition_bound(layout, spec):
    """The Bound a partition spec asks for; refuses mixed or foreign bound kinds."""
    name = spec['name']
    given = [kind for kind, fields in (('list', ('values',)), ('range', ('from', 'to')),
                                       ('hash', ('modulus', 'remainder')))
             if any(spec.get(field) is not None for field in fields)]
    if spec.get('default'):
        given.append('default')
    if len(given) != 1:
        raise InvalidInput('partitions: %s: give exactly one kind of bounds (values; from/to; modulus/remainder; '
                           'default: true), found %s' % (name, ', '.join(given) or 'none'))
    kind = given[0]
    if kind == 'default':
        if layout.method == 'hash':
            raise InvalidInput('partitions: %s: a hash partitioned table cannot have a default partition' % name)
        if layout.mode == 'inheritance':
            raise InvalidInput('partitions: %s: default partitions exist only with partitioning: declarative' % name)
        return Bound('default')
    if kind != layout.method:
        raise InvalidInput('partitions: %s: %s bounds given for a table partitioned by %s'
                           % (name, kind, layout.method))
    if kind == 'list':
        if not _nonempty_list(spec['values']):
            raise InvalidInput('partitions: %s: values must be a non-empty list' % name)
        return Bound('list', values=[None if value is None else option_text(value) for value in spec['values']])
    if kind == 'range':
        if spec.get('from') is None or spec.get('to') is None:
            raise InvalidInput('partitions: %s: a range partition needs both from and to' % name)
        width = len(layout.key)
        return Bound('range', lower=_range_side(name, 'from', spec['from'], width),
                     upper=_range_side(name, 'to', spec['to'], width))
    modulus, remainder = spec.get('modulus'), spec.get('remainder')
    if modulus is None or remainder is None or modulus < 1 or not 0 <= remainder < modulus:
        raise InvalidInput('partitions: %s: a hash partition needs modulus >= 1 and 0 <= remainder < modulus '
                           '(got modulus=%s, remainder=%s)' % (name, modulus, remainder))
    return Bound('hash', modulus=modulus, remainder=remainder)


def parse_layout(params):
    """Check the structure of the parameters; no database access."""
    layout = Layout(params)
    if layout.mode == 'inheritance' and layout.side == 'shard':
        # The shard side is the same for both modes: plain tables with CHECK constraints.
        layout.mode = 'declarative'
    if not layout.present:
        return layout
    seen = set()
    for spec in params.get('columns') or []:
        name = check_identifier(spec.get('name'), 'columns')
        if name in seen:
            raise InvalidInput('columns: column %s is listed twice' % name)
        seen.add(name)
        type_text = (spec.get('type') or '').strip()
        if not TYPE_NAME.match(type_text):
            raise InvalidInput('columns: %s: type %r is not a type name (letters, digits, _, spaces, '
                               'modifiers like (10,2) and [] only)' % (name, spec.get('type')))
        nullable = spec.get('nullable')
        layout.columns.append(Column(name, type_text, True if nullable is None else nullable, spec.get('default')))
    if not layout.columns:
        raise InvalidInput('columns: a partitioned table needs at least one column')
    by = params.get('partition_by') or {}
    layout.method = by.get('method')
    key = by.get('key')
    layout.key = [key] if isinstance(key, str) else list(key or [])
    if layout.method not in sqlbuild.PARTITION_METHODS or not layout.key:
        raise InvalidInput('partition_by: needs method (range, list or hash) and key (one or more columns)')
    if layout.mode == 'inheritance' and layout.method == 'hash':
        raise InvalidInput('partition_by: inheritance mode routes by list or range; use partitioning: declarative '
                           'for hash partitioning')
    if layout.method == 'list' and len(layout.key) != 1:
        raise InvalidInput('partition_by: list partitioning takes exactly one key column, got %s'
                           % ', '.join(layout.key))
    route = params.get('route_via')
    if route:
        if params.get('partitioning') != 'inheritance':
            raise InvalidInput('route_via: only with partitioning: inheritance')
        table = split_qualified(route['table'], 'route_via.table', layout.schema)
        layout.route_via = dict(table=table, column=check_identifier(route['column'], 'route_via.column'),
                                references=check_identifier(route['references'], 'route_via.references'))
        if not layout.column(layout.route_via['column']):
            raise InvalidInput('route_via.column: %s is not a column of %s' % (route['column'], layout.label))
    for column in layout.key:
        check_identifier(column, 'partition_by.key')
        if not route and not layout.column(column):
            raise InvalidInput('partition_by.key: %s is not in columns' % column)
    layout.primary_key = [check_identifier(column, 'primary_key') for column in params.get('primary_key') or []]
    for column in layout.primary_key:
        if not layout.column(column):
            raise InvalidInput('primary_key: %s is not in columns' % column)
        layout.column(column).nullable = False  # as PostgreSQL makes it
    if layout.primary_key:
        missing = [column for column in layout.key if column not in layout.primary_key]
        if missing:
            raise InvalidInput('primary_key: must include the partition key column(s) %s; PostgreSQL enforces '
                               'uniqueness per partition only' % ', '.join(missing))
        if layout.mode == 'inheritance':
            raise InvalidInput('primary_key: with partitioning: inheritance a key on the parent would not cover '
                               'its children; declare it with partitioning: declarative')
    names = set()
    for spec in params.get('partitions') or []:
        schema, name = split_qualified(spec.get('name'), 'partitions', layout.schema)
        if (schema, name) in names:
            raise InvalidInput('partitions: %s is listed twice' % name)
        names.add((schema, name))
        bound = _partition_bound(layout, spec)
        server = spec.get('server')
        if server is not None:
            check_identifier(server, 'partitions: %s: server' % name)
        remote = (check_identifier(spec.get('remote_schema') or layout.schema, 'partitions: %s: remote_schema' % name),
                  check_identifier(spec.get('remote_table') or name, 'partitions: %s: remote_table' % name))
        for option in spec.get('options') or {}:
            check_identifier(option, 'partitions: %s: options' % name)
            if option in ('schema_name', 'table_name'):
                raise InvalidInput('partitions: %s: options: set %s with remote_%s' % (name, option, option[:-5]))
        if spec.get('options') and server is None and layout.side == 'coordinator':
            raise InvalidInput('partitions: %s: options are foreign table options and need a server' % name)
        layout.partitions.append(Partition(name, schema, bound, server, remote, spec.get('options')))
    if layout.side == 'coordinator' and layout.mode == 'declarative' and layout.primary_key:
        foreign = [part.name for part in layout.partitions if part.server]
        if foreign:
            raise InvalidInput('primary_key: PostgreSQL cannot create a unique index on a partitioned table with '
                               'foreign partitions (%s); enforce uniqueness on the shards instead (the shard side '
                               'takes primary_key)' % ', '.join(foreign))
    defaults = [part.name for part in layout.partitions if part.bound.kind == 'default']
    if len(defaults) > 1:
        raise InvalidInput('partitions: only one default partition is possible, got %s' % ', '.join(defaults))
    return layout


# -- server-side resolution -----------------------------------------------------------

def resolve(conn, layout):
    """Canonical column types and bound values, parsed by the server itself."""
    types = catalog.resolve_types(conn, set(column.type_text for column in layout.columns))
    categories = {}
    for column in layout.columns:
        found = types[column.type_text]
        if found['oid'] is None:
            raise InvalidInput('columns: %s: type %r does not exist' % (column.name, column.type_text))
        modifiers = TYPE_NAME.match(column.type_text).group('mods')
        if modifiers:
            if not found['modin']:
                raise InvalidInput('columns: %s: type %s takes no modifiers' % (column.name, found['name']))
            try:
                column.type_sql = catalog.type_with_modifier(conn, found['oid'], found['modin_schema'],
                                                             found['modin'], modifiers.replace(' ', '').split(','))
            except psycopg2.Error as exc:
                raise InvalidInput('columns: %s: %s' % (column.name, _pg_message(exc)))
        else:
            column.type_sql = found['name']
        categories[column.name] = found['category']
    if layout.route_via:
        return
    layout.key_types = [(layout.column(name).type_sql, categories[name]) for name in layout.key]
    for position, type_sql in enumerate(type_sql for type_sql, category in layout.key_types):
        slots = []
        for part in layout.partitions:
            bound = part.bound
            if bound.kind == 'list':
                slots.extend((bound.values, index) for index, value in enumerate(bound.values) if value is not None)
            elif bound.kind == 'range':
                for side in (bound.lower, bound.upper):
                    if not isinstance(side[position], Unbounded):
                        slots.append((side, position))
        if not slots:
            continue
        try:
            values = catalog.canonical_values(conn, type_sql, [items[index] for items, index in slots])
        except psycopg2.Error as exc:
            raise InvalidInput('partitions: a bound value does not fit key column %s (%s): %s'
                               % (layout.key[position], type_sql, _pg_message(exc)))
        for (items, index), value in zip(slots, values):
            items[index] = value


def _pg_message(exc):
    return (getattr(exc, 'diag', None) and exc.diag.message_primary or str(exc)).strip()


def _typed(value, category):
    if isinstance(value, Unbounded):
        return (value.rank, 0)
    if category == 'N':
        try:
            return (0, Decimal(value))
        except InvalidOperation:
            pass
    return (0, value)


def check_bounds(layout):
    """Refuse overlapping ranges, duplicate list values and hash remainders that clash or leave gaps.

    Range values are compared as numbers for numeric keys and as text
    otherwise (ISO dates and timestamps sort right; for collated text
    PostgreSQL's own overlap check at CREATE time still applies).
    """
    parts = [part for part in layout.partitions if part.bound.kind != 'default']
    if layout.method == 'list':
        owners = {}
        for part in parts:
            for value in part.bound.values:
                if value in owners and owners[value] != part.name:
                    raise InvalidInput('partitions: value %s is listed in both %s and %s'
                                       % ('NULL' if value is None else repr(value), owners[value], part.name))
                if value in owners:
                    raise InvalidInput('partitions: %s lists value %r twice' % (part.name, value))
                owners[value] = part.name
    elif layout.method == 'range':
        categories = [category for type_sql, category in layout.key_types] or ['S'] * len(layout.key)

        def key(values):
            return tuple(_typed(value, category) for value, category in zip(values, categories))
        ranges = []
        for part in parts:
            lower, upper = key(part.bound.lower), key(part.bound.upper)
            if lower >= upper:
                raise InvalidInput('partitions: %s: the range %s is empty (from must be below to)'
                                   % (part.name, part.bound.text()))
            ranges.append((lower, upper, part))
        ranges.sort(key=lambda item: item[0])
        for first, second in zip(ranges, ranges[1:]):
            if second[0] < first[1]:
                raise InvalidInput('partitions: %s and %s overlap (%s; %s)'
                                   % (first[2].name, second[2].name, first[2].bound.text(), second[2].bound.text()))
    elif layout.method == 'hash' and parts:
        moduli = sorted(set(part.bound.modulus for part in parts))
        for smaller, larger in zip(moduli, moduli[1:]):
            if larger % smaller:
                raise InvalidInput('partitions: hash moduli must each divide the next larger one; %d does not '
                                   'divide %d' % (smaller, larger))
        top = moduli[-1]
        owners = {}
        for part in parts:
            for residue in range(part.bound.remainder, top, part.bound.modulus):
                if residue in owners:
                    raise InvalidInput('partitions: %s and %s take the same hash values (modulus %d, remainder %d)'
                                       % (owners[residue], part.name, top, residue))
                owners[residue] = part.name
        missing = [str(residue) for residue in range(top) if residue not in owners]
        # A shard holds some of the partitions only: coverage is the coordinator's concern.
        if missing and layout.side == 'coordinator':
            raise InvalidInput('partitions: the hash partitions do not cover modulus %d: no partition takes '
                               'remainder %s' % (top, ', '.join(missing)))


def bound_check_identifier(layout, bound, hash_shape=None):
    """pgdist_bounds_<hash of the key and canonical bounds>."""
    others = ()
    if bound.kind == 'default':
        others = sorted(repr(part.bound.signature()) for part in layout.partitions if part.bound.kind != 'default')
    digest = hashlib.sha256(repr((layout.key, bound.signature(), others, hash_shape)).encode('utf-8')).hexdigest()
    return BOUND_CHECK_PREFIX + digest[:16]


def sibling_bounds(layout):
    return [part.bound for part in layout.partitions if part.bound.kind != 'default']


# -- shared reconciliation steps ---------------------------------------------------------

class Planner(object):
    """Plans one call: keeps the request, the layout and what the diff shows."""

    def __init__(self, request, layout):
        self.request = request
        self.conn = request.conn
        self.plan = request.plan
        self.layout = layout
        self._rows = {}

    def has_rows(self, schema, name):
        """Cached: does the table hold rows? A table we cannot read counts as holding rows."""
        if (schema, name) not in self._rows:
            try:
                self._rows[(schema, name)] = catalog.has_rows(self.conn, schema, name)
            except psycopg2.Error as exc:
                raise Refusal('cannot tell whether %s.%s holds rows (%s); nothing was changed'
                              % (schema, name, _pg_message(exc)))
        return self._rows[(schema, name)]

    def refuse_if_rows(self, schema, name, change, option=None):
        if self.has_rows(schema, name):
            raise Refusal('%s.%s holds rows: %s would lose or hide them, so it is refused and nothing was changed%s'
                          % (schema, name, change, ('; ' + option) if option else ''))

    def ensure_schemas(self, schemas):
        existing = catalog.existing_schemas(self.conn, schemas)
        for schema in sorted(set(schemas) - existing):
            self.plan.add(sqlbuild.create_schema(schema))

    def columns(self, table, schema, name, current, key=()):
        """Make a table's columns match layout.columns; returns the column view after."""
        wanted = self.layout.columns
        by_name = dict((column['name'], column) for column in current)
        wanted_names = set(column.name for column in wanted)
        for column in current:
            if column['name'] not in wanted_names:
                self.refuse_if_rows(schema, name, 'dropping column %s (not in columns)' % column['name'])
                self.plan.add(sqlbuild.drop_column(table, column['name']))
        defaults = []
        for column in wanted:
            have = by_name.get(column.name)
            if have is None:
                self.plan.add(sqlbuild.add_column(table, column.definition()))
                continue
            if have['type'] != column.type_sql:
                if column.name in key:
                    raise Refusal('columns: %s: %s.%s is partitioned by %s, whose type (%s) PostgreSQL cannot change '
                                  'in place; nothing was changed' % (column.name, schema, name, column.name,
                                                                     have['type']))
                self.refuse_if_rows(schema, name, 'changing the type of column %s from %s to %s'
                                    % (column.name, have['type'], column.type_sql))
                self.plan.add(sqlbuild.alter_column(table, column.name, 'type', type_sql=column.type_sql))
            if have['not_null'] == column.nullable:
                self.plan.add(sqlbuild.alter_column(table, column.name,
                                                    'drop_not_null' if column.nullable else 'set_not_null'))
            defaults.append((column, have['default']))
        self._defaults(table, defaults)
        return dict((column.name, column.view()) for column in wanted)

    def _defaults(self, table, pairs):
        """Compare defaults as values of the column type: the catalog keeps 'x'::type, we get x."""
        compare = []
        for column, expression in pairs:
            if column.default is None:
                if expression is not None:
                    self.plan.add(sqlbuild.alter_column(table, column.name, 'drop_default'))
                continue
            constant = _constant_text(expression)
            if constant is None:
                self.plan.add(sqlbuild.alter_column(table, column.name, 'set_default', default=column.default))
            else:
                compare.append((column, constant))
        for column, constant in compare:
            if not catalog.same_values(self.conn, column.type_sql, [(option_text(column.default), constant)])[0]:
                self.plan.add(sqlbuild.alter_column(table, column.name, 'set_default', default=column.default))


def _raise_text(text):
    return text.replace('%', '%%')


def _constant_text(expression):
    """The text of a constant default ('x'::type, 42, true), or None for anything else."""
    if expression is None:
        return None
    match = re.match(r"^'((?:[^']|'')*)'(::[a-z ]+(\(\d+(,\d+)?\))?)?$", expression)
    if match:
        return match.group(1).replace("''", "'")
    if re.match(r'^-?\d+(\.\d+)?$|^true$|^false$', expression):
        return expression
    match = re.match(r"^\((-?\d+(\.\d+)?)\)(::[a-z ]+)?$", expression)
    return match.group(1) if match else None


# -- coordinator ------------------------------------------------------------------------

class CoordinatorPlanner(Planner):

    def run(self):
        layout = self.layout
        parent = catalog.relations(self.conn, [(layout.schema, layout.name)]).get((layout.schema, layout.name))
        children = catalog.children(self.conn, parent['oid']) if parent else []
        before = self.view(parent, children)
        if not layout.present:
            self.drop_all(parent, children)
            return dict(before=before, after={}, partitions={}, unlisted_partitions=[])
        self.validate_servers()
        self.ensure_schemas(set([layout.schema] + [part.schema for part in layout.partitions]))
        if parent is None:
            self.create_parent()
            after_columns = dict((column.name, column.view()) for column in layout.columns)
        else:
            self.check_parent(parent)
            current_columns = catalog.columns(self.conn, [parent['oid']])[parent['oid']]
            after_columns = self.columns(layout.table, layout.schema, layout.name, current_columns, layout.key)
        by_name = dict(((child['schema'], child['name']), child) for child in children)
        listed = set((part.schema, part.name) for part in layout.partitions)
        standalone = catalog.relations(self.conn, [key for key in listed if key not in by_name])
        for part in layout.partitions:
            current = by_name.get((part.schema, part.name))
            if current is None:
                self.add_partition(part, standalone.get((part.schema, part.name)))
            else:
                self.update_partition(part, current)
        if layout.primary_key and (parent is None or parent['primary_key'] != layout.primary_key):
            self.primary_key(parent)
        unlisted = [child for child in children if (child['schema'], child['name']) not in listed]
        for child in unlisted:
            self.prune(child)
        if layout.mode == 'inheritance':
            self.routing(parent)
        elif any(part.server for part in layout.partitions):
            self.mover(parent)
        after = dict(table=layout.label, partitioning=layout.mode, method=layout.method, key=layout.key,
                     columns=after_columns, partitions=dict((part.name, part.view()) for part in layout.partitions))
        for child in unlisted:
            if not layout.prune:
                after['partitions'][child['name']] = before['partitions'][child['name']]
        return dict(before=before, after=after,
                    partitions=dict((part.name, part.view()) for part in layout.partitions),
                    unlisted_partitions=['%s.%s' % (child['schema'], child['name']) for child in unlisted])

    def view(self, parent, children):
        if parent is None:
            return {}
        columns = catalog.columns(self.conn, [parent['oid']])[parent['oid']]
        partitions = {}
        for child in children:
            bound = child['bound'] if child['is_partition'] else ', '.join(child['bound_checks']) or None
            partitions[child['name']] = dict(
                bounds=bound, server=child['server'],
                remote=('%s.%s' % (child['options'].get('schema_name', child['schema']),
                                   child['options'].get('table_name', child['name']))) if child['server'] else None)
        return dict(table='%s.%s' % (parent['schema'], parent['name']),
                    partitioning='declarative' if parent['kind'] == 'p' else 'inheritance',
                    columns=dict((column['name'], dict(type=column['type'], nullable=not column['not_null'],
                                                       default=column['default'])) for column in columns),
                    partitions=partitions)

    def validate_servers(self):
        wanted = set(part.server for part in self.layout.partitions if part.server)
        missing = wanted - catalog.existing_servers(self.conn, wanted)
        if missing:
            users = [part.name for part in self.layout.partitions if part.server in missing]
            raise InvalidInput('partitions: %s: foreign server %s does not exist in database %s; create it first '
                               '(pgdist.cluster.foreign_server)'
                               % (', '.join(users), ', '.join(sorted(missing)), self.conn.info.dbname))
        for part in self.layout.partitions:
            if part.server and part.options:
                versions.require_fdw_options(self.conn, catalog.foreign_server(self.conn, part.server)['fdw'],
                                             'pg_catalog.pg_foreign_table', part.options,
                                             'partitions: %s: options' % part.name)

    def check_parent(self, parent):
        layout = self.layout
        kind = 'p' if layout.mode == 'declarative' else 'r'
        if parent['kind'] != kind:
            raise Refusal('%s exists as a %s table; it cannot become a %s table in place (that means moving every '
                          'row); nothing was changed' % (layout.label, 'partitioned' if parent['kind'] == 'p'
                                                         else 'plain', 'partitioned' if kind == 'p' else 'plain'))
        if kind == 'p':
            if parent['strategy'] != layout.method[0]:
                raise Refusal('partition_by: %s is partitioned by %s, not %s; changing the method means moving '
                              'every row; nothing was changed'
                              % (layout.label, dict(r='range', l='list', h='hash')[parent['strategy']], layout.method))

    def create_parent(self):
        layout = self.layout
        declarative = layout.mode == 'declarative'
        self.plan.add(sqlbuild.create_table(
            layout.table, [column.definition() for column in layout.columns], layout.primary_key,
            method=layout.method if declarative else None, key=layout.key))

    def primary_key(self, parent):
        if parent is not None and parent['primary_key']:
            raise Refusal('primary_key: %s already has the primary key (%s); changing it is not done in place'
                          % (self.layout.label, ', '.join(parent['primary_key'])))
        if parent is not None:
            self.plan.add(sqlbuild.add_primary_key(self.layout.table, self.layout.primary_key))

    # partitions

    def child_constraints(self, part):
        if self.layout.route_via:
            return []
        return [sqlbuild.check_constraint(bound_check_identifier(self.layout, part.bound), self.predicate(part.bound))]

    def predicate(self, bound, record=None):
        refs = [sqlbuild.column_ref(name, record) for name in self.layout.key]
        return sqlbuild.bound_predicate(bound, refs, sibling_bounds(self.layout))

    def create_child(self, part):
        layout = self.layout
        options = part.fdw_options() if part.server else None
        if layout.mode == 'declarative':
            self.plan.add(sqlbuild.create_partition(part.table, layout.table, part.bound, part.server, options))
        else:
            self.plan.add(sqlbuild.create_inheriting_child(part.table, layout.table, self.child_constraints(part),
                                                           part.server, options))

    def add_partition(self, part, existing):
        if existing is None:
            self.create_child(part)
            return
        if self.layout.mode != 'declarative' or existing['kind'] not in ('r', 'f') or \
                existing['server'] != part.server or existing['is_partition']:
            raise Refusal('partitions: %s: %s.%s exists but is not a partition of %s (and is not a %s table that '
                          'could be attached); rename or drop it; nothing was changed'
                          % (part.name, part.schema, part.name, self.layout.label,
                             'foreign' if part.server else 'plain'))
        # A table left by prune_partitions: attach it again; PostgreSQL checks its rows against the bounds.
        self.plan.add(sqlbuild.attach_partition(self.layout.table, part.table, part.bound))
        self.update_options(part, existing)

    def current_bound(self, current):
        if current['is_partition']:
            return parse_bound(current['bound'])
        return current['bound_checks']

    def update_partition(self, part, current):
        layout = self.layout
        where = ('foreign table on %s' % current['server']) if current['server'] else 'local table'
        remote = (current['options'].get('schema_name', current['schema']),
                  current['options'].get('table_name', current['name'])) if current['server'] else None
        wanted_remote = part.remote if part.server else None
        if current['server'] != part.server or remote != wanted_remote:
            self.refuse_if_rows(part.schema, part.name, 're-pointing partition %s from its %s%s to %s'
                                % (part.name, where, ' (%s.%s)' % remote if remote else '',
                                   ('server %s (%s.%s)' % ((part.server,) + part.remote)) if part.server
                                   else 'a local table'))
            if layout.mode == 'declarative':
                self.plan.add(sqlbuild.detach_partition(layout.table, part.table))
            self.plan.add(sqlbuild.drop_relation(part.table, foreign=bool(current['server'])))
            self.create_child(part)
            return
        if layout.mode == 'declarative':
            have = parse_bound(current['bound'])
            if have != part.bound:
                self.refuse_if_rows(part.schema, part.name, 'changing the bounds of partition %s from %s to %s'
                                    % (part.name, current['bound'], part.bound.text()))
                self.plan.add(sqlbuild.detach_partition(layout.table, part.table))
                self.plan.add(sqlbuild.attach_partition(layout.table, part.table, part.bound))
        else:
            wanted = [] if layout.route_via else [bound_check_identifier(layout, part.bound)]
            if current['bound_checks'] != wanted:
                self.refuse_if_rows(part.schema, part.name, 'changing the CHECK bounds of child %s to %s'
                                    % (part.name, part.bound.text()))
                for name in current['bound_checks']:
                    self.plan.add(sqlbuild.drop_constraint(part.table, name))
                for constraint in self.child_constraints(part):
                    self.plan.add(sqlbuild.add_constraint(part.table, constraint))
        self.update_options(part, current)

    def update_options(self, part, current):
        if part.server:
            actions = options_diff(current['options'], part.fdw_options())
            if actions:
                self.plan.add(sqlbuild.alter_foreign_table_options(part.table, actions))

    def prune(self, child):
        layout = self.layout
        label = '%s.%s' % (child['schema'], child['name'])
        if not layout.prune:
            self.plan.warn('partition %s of %s is not listed; it is kept (prune_partitions: true detaches it)'
                           % (label, layout.label))
            return
        table = sqlbuild.ident(child['schema'], child['name'])
        if layout.mode == 'declarative':
            self.plan.add(sqlbuild.detach_partition(layout.table, table))
        else:
            self.plan.add(sqlbuild.no_inherit(table, layout.table))
        if layout.drop_data:
            self.plan.add(sqlbuild.drop_relation(table, foreign=child['kind'] == 'f'))

    def drop_all(self, parent, children):
        layout = self.layout
        if parent is None:
            return
        if not layout.drop_data:
            raise Refusal('state: absent would drop %s with its %d partition(s) (%s) and their rows; set drop_data: '
                          'true to drop them; nothing was changed'
                          % (layout.label, len(children), ', '.join(child['name'] for child in children) or 'none'))
        for child in children:
            if parent['kind'] == 'p':
                self.plan.add(sqlbuild.detach_partition(layout.table, sqlbuild.ident(child['schema'], child['name'])))
            self.plan.add(sqlbuild.drop_relation(sqlbuild.ident(child['schema'], child['name']),
                                                 foreign=child['kind'] == 'f'))
        self.plan.add(sqlbuild.drop_relation(layout.table))
        for function in (self.routing_function_name(), self.mover_function_name()):
            if catalog.function_source(self.conn, layout.schema, function) is not None:
                self.plan.add(sqlbuild.drop_function(sqlbuild.ident(layout.schema, function)))

    # inheritance routing

    def mover_function_name(self):
        return check_identifier(self.layout.name + '_pgdist_move', 'name (function %s_pgdist_move)' % self.layout.name)

    def routing_function_name(self):
        return check_identifier(self.layout.name + '_pgdist_route',
                                'name (routing function %s_pgdist_route)' % self.layout.name)

    def routing_body(self):
        layout = self.layout
        record = 'routed_via' if layout.route_via else 'NEW'
        branches = [(self.predicate(part.bound, record), part.table) for part in layout.partitions]
        # RAISE takes % as its placeholder: names are escaped, the one placeholder shows the key.
        message = 'pgdist: no partition of %s accepts a row with (%s) = %%' % (
            _raise_text(layout.label), _raise_text(', '.join(layout.key)))
        lookup = None
        if layout.route_via:
            route = layout.route_via
            looked_up = route['table'] + (route['references'], route['column'])
            message += _raise_text(' (looked up in %s.%s by %s = %s)' % looked_up)
            lookup = (sqlbuild.ident(*route['table']), route['column'], route['references'], layout.key)
        refs = [sqlbuild.column_ref(name, record) for name in layout.key]
        failure = sql.SQL("{}, ROW({}) USING ERRCODE = 'check_violation'").format(
            sql.Literal(message), sql.SQL(', ').join(refs))
        return sqlbuild.routing_body(branches, failure, lookup).as_string(self.conn)

    def routing(self, parent):
        self.trigger(parent, self.routing_function_name(), ROUTING_TRIGGER, 'BEFORE INSERT', self.routing_body())

    def mover(self, parent):
        """Row movement out of foreign partitions on UPDATE of the key (see sqlbuild.mover_body)."""
        layout = self.layout
        name = self.mover_function_name()
        body = sqlbuild.mover_body(self.conn, layout.table, [column.name for column in layout.columns],
                                   layout.key).as_string(self.conn)
        self.trigger(parent, name, MOVE_TRIGGER, 'BEFORE UPDATE', body)

    def trigger(self, parent, name, trigger, timing, body):
        """A trigger function, replaced only when its source differs, and the trigger calling it."""
        layout = self.layout
        function = sqlbuild.ident(layout.schema, name)
        if catalog.function_source(self.conn, layout.schema, name) != body:
            self.plan.add(sqlbuild.create_trigger_function(function, body))
        current = catalog.trigger_function(self.conn, parent['oid'], trigger) if parent else None
        if current != '%s.%s' % (layout.schema, name):
            if current is not None:
                self.plan.add(sqlbuild.drop_trigger(trigger, layout.table))
            self.plan.add(sqlbuild.create_trigger(trigger, timing, layout.table, function))


# -- shard side --------------------------------------------------------------------------

class ShardPlanner(Planner):
    """The real tables behind foreign partitions: parent's columns plus a bounds CHECK.

    A hash bound needs satisfies_hash_partition(), which reads the partition
    key of a partitioned table: an empty one with the same key columns,
    <remote schema>._pgdist_hash_<table>, gives it the same key types and
    opclasses as the coordinator, so the shard accepts exactly the rows the
    coordinator routes to it.
    """

    def hash_shapes(self):
        layout = self.layout
        if layout.method != 'hash':
            return {}
        name = check_identifier(HASH_SHAPE_PREFIX + layout.name,
                                'name (hash shape table %s%s)' % (HASH_SHAPE_PREFIX, layout.name))
        return dict((part.remote[0], (part.remote[0], name)) for part in layout.partitions)

    def run(self):
        layout = self.layout
        shapes = self.hash_shapes()
        targets = [part.remote for part in layout.partitions]
        existing = catalog.relations(self.conn, targets + list(shapes.values()))
        columns = catalog.columns(self.conn, [row['oid'] for row in existing.values()])
        before = dict(('%s.%s' % key, dict(bounds=row['bound_checks'], columns=dict(
            (column['name'], dict(type=column['type'], nullable=not column['not_null'], default=column['default']))
            for column in columns[row['oid']]))) for key, row in existing.items() if key in targets)
        if not layout.present:
            self.drop_all(existing, targets, shapes)
            return dict(before=before, after={}, partitions={}, unlisted_partitions=[])
        self.ensure_schemas(set(target[0] for target in targets))
        for shape in sorted(set(shapes.values()) - set(existing)):
            key_columns = [layout.column(name).definition() for name in layout.key]
            self.plan.add(sqlbuild.create_table(sqlbuild.ident(*shape), key_columns, method='hash', key=layout.key))
        after = {}
        for part in layout.partitions:
            current = existing.get(part.remote)
            table = sqlbuild.ident(*part.remote)
            shape = shapes.get(part.remote[0])
            shape_text = sqlbuild.ident(*shape).as_string(self.conn) if shape else None
            # Rows routed through another table (route_via) carry no key column: no bounds CHECK.
            checks = [] if layout.route_via else [bound_check_identifier(layout, part.bound, shape_text)]
            refs = [sqlbuild.column_ref(name) for name in layout.key]
            constraints = [sqlbuild.check_constraint(
                check, sqlbuild.bound_predicate(part.bound, refs, sibling_bounds(layout), shape_text)) for check in checks]
            label = '%s.%s' % part.remote
            after[label] = dict(bounds=checks, columns=dict((column.name, column.view()) for column in layout.columns))
            if current is None:
                self.plan.add(sqlbuild.create_table(table, [column.definition() for column in layout.columns],
                                                    layout.primary_key, constraints=constraints))
                continue
            if current['kind'] != 'r':
                raise Refusal('partitions: %s: %s exists and is not a plain table; nothing was changed'
                              % (part.name, label))
            self.columns(table, part.remote[0], part.remote[1], columns[current['oid']])
            if current['bound_checks'] != checks:
                self.refuse_if_rows(part.remote[0], part.remote[1], 'changing the bounds CHECK of %s to %s'
                                    % (label, part.bound.text()))
                for name in current['bound_checks']:
                    self.plan.add(sqlbuild.drop_constraint(table, name))
                for constraint in constraints:
                    self.plan.add(sqlbuild.add_constraint(table, constraint))
            if layout.primary_key and current['primary_key'] != layout.primary_key:
                if current['primary_key']:
                    raise Refusal('primary_key: %s already has the primary key (%s); changing it is not done in '
                                  'place' % (label, ', '.join(current['primary_key'])))
                self.plan.add(sqlbuild.add_primary_key(table, layout.primary_key))
        return dict(before=before, after=after,
                    partitions=dict((part.name, part.view()) for part in layout.partitions),
                    unlisted_partitions=[])

    def drop_all(self, existing, targets, shapes):
        found = [key for key in targets if key in existing]
        if found and not self.layout.drop_data:
            raise Refusal('state: absent would drop the shard tables %s and their rows; set drop_data: true to drop '
                          'them; nothing was changed' % ', '.join('%s.%s' % key for key in found))
        for key in found + [shape for shape in set(shapes.values()) if shape in existing]:
            self.plan.add(sqlbuild.drop_relation(sqlbuild.ident(*key)))


def partitioned_table(request):
    """Reconciler of the partitioned_table module."""
    layout = parse_layout(request.params)
    if layout.present:
        resolve(request.conn, layout)
        check_bounds(layout)
    planner = ShardPlanner if layout.side == 'shard' else CoordinatorPlanner
    return planner(request, layout).run()
