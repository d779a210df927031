# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wanted layout of one partitioned_table call: parse_layout() and resolve().

parse_layout() checks the structure of the parameters in pure Python and
raises InvalidInput naming the field; resolve() then asks the server to parse
the column types and to canonicalise every bound value and default, so what
reaches the SQL and what is compared with the catalog is the server's own
spelling.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import (
    MAXVALUE, MINVALUE, Bound, Unbounded)
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.objects import (
    check_sequence_types, column_defaults, parse_objects, resolve_expressions)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import option_text

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the runner
    pass

# A type name: words (optionally schema-qualified), modifiers of digits, array brackets.
# Anything else (quotes, semicolons, parentheses with expressions) is refused before the
# server's own parser (to_regtype) sees it.
TYPE_NAME = re.compile(
    r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?( [A-Za-z_][A-Za-z0-9_]*)*'
    r'(\s*\((?P<mods>\s*\d+\s*(,\s*\d+\s*)*)\))?( [A-Za-z_][A-Za-z0-9_]*)*(\s*\[\s*\d*\s*\])*$')

KEY_UPDATE_CHOICES = ('refuse', 'move')

# Names of what the module creates around a table: <table><suffix> trigger functions in the
# table's schema (the key guard's in each shard schema) and the triggers calling them.
ROUTING_SUFFIX, ROUTING_TRIGGER = '_pgdist_route', 'pgdist_route'
MOVER_SUFFIX, MOVER_TRIGGER = '_pgdist_move', 'pgdist_move'
GUARD_SUFFIX, GUARD_PREFIX = '_pgdist_key_guard', 'pgdist_key_'
HASH_SHAPE_PREFIX = '_pgdist_hash_'


class Column(object):
    def __init__(self, name, type_text, nullable, default):
        self.name = name
        self.type_text = type_text
        self.type_sql = None  # canonical, set by resolve()
        self.nullable = nullable
        self.default = default
        self.default_value = None  # the default as the server prints it in the column type, set by resolve()
        self.default_expression = None  # SQL computed on the coordinator (objects.column_defaults)
        self.expression_sql = None  # ... as the server prints it, set by resolve()
        self.sequence = None  # (schema, name) of the coordinator's sequence numbering the column

    def definition(self):
        return (self.name, self.type_sql, self.nullable, self.default)

    def shard_view(self):
        """On a shard: no computed default (the coordinator computes it)."""
        return dict(type=self.type_sql or self.type_text, nullable=self.nullable, default=self.default)

    def view(self):
        view = self.shard_view()
        if self.default_expression is not None:
            view['default_expression'] = self.expression_sql
        if self.sequence:
            view['sequence'] = '%s.%s' % self.sequence
        return view


class _Relation(object):
    """A table of the layout, by schema and name."""

    @property
    def qualified(self):
        return (self.schema, self.name)

    @property
    def table(self):
        return sqlbuild.ident(self.schema, self.name)


class Partition(_Relation):
    def __init__(self, name, schema, bound, server=None, remote=None, options=None, elsewhere=False):
        self.name = name
        self.schema = schema
        self.bound = bound
        self.server = server
        self.remote = remote
        self.options = options or {}
        self.elsewhere = elsewhere  # side: shard: another shard's, listed for its bounds only

    def fdw_options(self):
        """The foreign table's whole wanted option set."""
        wanted = dict(schema_name=self.remote[0], table_name=self.remote[1])
        wanted.update((key, option_text(value)) for key, value in self.options.items())
        return wanted

    def view(self):
        return dict(bounds=self.bound.text(), server=self.server,
                    remote='%s.%s' % self.remote if self.server else None)


class Layout(_Relation):
    """The checked parameters of one partitioned_table call."""

    def __init__(self, params):
        self.params = params
        self.schema, self.name = split_qualified(params['name'], 'name')
        self.side = params.get('side') or 'coordinator'
        self.mode = params.get('partitioning') or 'declarative'
        # Rows of an inheritance layout are routed on INSERT only (the shard side is the same for both modes).
        self.routed_on_insert = self.mode == 'inheritance'
        self.present = params.get('state', 'present') == 'present'
        self.prune = params.get('prune_partitions')
        self.drop_data = params.get('drop_data')
        self.key_update = params.get('key_update') or 'refuse'
        self.analyze = bool(params.get('analyze'))
        self.columns = []
        self.partitions = []
        self.primary_key = []
        self.method = None
        self.key = []
        self.route_via = None
        # The routing trigger of an inheritance parent and its function (in the parent's schema): ours by
        # default, or the names the user's own setup gave them (route_trigger).
        self.routing_trigger = ROUTING_TRIGGER
        self.routing_function = self.name + ROUTING_SUFFIX
        self.key_types = []
        self.indexes = []
        self.checks = []
        self.foreign_keys = []

    @property
    def label(self):
        return '%s.%s' % (self.schema, self.name)

    @property
    def held_partitions(self):
        """The partitions whose tables this call manages (side: shard lists others for their bounds only)."""
        return [part for part in self.partitions if not part.elsewhere]

    def column(self, name):
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def function_name(self, suffix):
        """<table><suffix>: a trigger function of this table (checked as a name when it is created); the
        routing function's name is route_trigger.function when given."""
        return self.routing_function if suffix == ROUTING_SUFFIX else self.name + suffix

    def hash_shapes(self):
        """{shard schema: (schema, _pgdist_hash_<table>)}: the empty partitioned tables whose key the
        shard's hash CHECK gives to satisfies_hash_partition() (see shard.py)."""
        if self.method != 'hash':
            return {}
        name = check_identifier(HASH_SHAPE_PREFIX + self.name, 'name (hash shape table %s%s)'
                                % (HASH_SHAPE_PREFIX, self.name))
        return dict((part.remote[0], (part.remote[0], name)) for part in self.partitions)


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


def _given_bound_kind(spec):
    name = spec['name']
    given = [kind for kind, fields in (('list', ('values',)), ('range', ('from', 'to')),
                                       ('hash', ('modulus', 'remainder')))
             if any(spec.get(field) is not None for field in fields)]
    if spec.get('default'):
        given.append('default')
    if len(given) != 1:
        raise InvalidInput('partitions: %s: give exactly one kind of bounds (values; from/to; modulus/remainder; '
                           'default: true), found %s' % (name, ', '.join(given) or 'none'))
    return given[0]


def _partition_bound(layout, spec):
    """The Bound a partition spec asks for; refuses mixed or foreign bound kinds."""
    name = spec['name']
    kind = _given_bound_kind(spec)
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


def _parse_columns(layout, specs):
    seen = set()
    for spec in specs or []:
        name = check_identifier(spec.get('name'), 'columns')
        if name in seen:
            raise InvalidInput('columns: column %s is listed twice' % name)
        seen.add(name)
        type_text = (spec.get('type') or '').strip()
        if not TYPE_NAME.match(type_text):
            raise InvalidInput('columns: %s: type %r is not a type name (letters, digits, _, spaces, '
                               'modifiers like (10,2) and [] only)' % (name, spec.get('type')))
        nullable = spec.get('nullable')
        column = Column(name, type_text, True if nullable is None else nullable, spec.get('default'))
        column_defaults(layout, column, spec)
        layout.columns.append(column)
    if not layout.columns:
        raise InvalidInput('columns: a %s table needs at least one column'
                           % ('plain' if layout.side == 'plain' else 'partitioned'))


def _parse_key(layout, by):
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


def _parse_route(layout, route):
    if not route:
        return
    if not layout.routed_on_insert:
        raise InvalidInput('route_via: only with partitioning: inheritance')
    table = split_qualified(route['table'], 'route_via.table', layout.schema)
    layout.route_via = dict(table=table, column=check_identifier(route['column'], 'route_via.column'),
                            references=check_identifier(route['references'], 'route_via.references'))
    if not layout.column(layout.route_via['column']):
        raise InvalidInput('route_via.column: %s is not a column of %s' % (route['column'], layout.label))


def _parse_route_trigger(layout, spec):
    if not spec:
        return
    if not layout.routed_on_insert or layout.side != 'coordinator':
        raise InvalidInput('route_trigger: names the routing trigger of partitioning: inheritance on the coordinator '
                           'side; leave it out here')
    if spec.get('name'):
        layout.routing_trigger = check_identifier(spec['name'], 'route_trigger.name')
    if spec.get('function'):
        layout.routing_function = check_identifier(spec['function'], 'route_trigger.function')


def _parse_primary_key(layout, columns):
    layout.primary_key = [check_identifier(column, 'primary_key') for column in columns or []]
    for column in layout.primary_key:
        if not layout.column(column):
            raise InvalidInput('primary_key: %s is not in columns' % column)
        layout.column(column).nullable = False  # as PostgreSQL makes it
    if not layout.primary_key or layout.side == 'plain':
        return
    missing = [column for column in layout.key if column not in layout.primary_key]
    if missing:
        raise InvalidInput('primary_key: must include the partition key column(s) %s; PostgreSQL enforces '
                           'uniqueness per partition only' % ', '.join(missing))
    if layout.mode == 'inheritance':
        raise InvalidInput('primary_key: with partitioning: inheritance a key on the parent would not cover '
                           'its children; declare it with partitioning: declarative')


def _remote(layout, spec, name):
    """(schema, table) of a partition's table on its shard: the parent's schema and the partition's name by default."""
    return (check_identifier(spec.get('remote_schema') or layout.schema, 'partitions: %s: remote_schema' % name),
            check_identifier(spec.get('remote_table') or name, 'partitions: %s: remote_table' % name))


def _parse_partition(layout, spec, schema, name):
    bound = _partition_bound(layout, spec)
    server = spec.get('server')
    if server is not None:
        check_identifier(server, 'partitions: %s: server' % name)
    remote = _remote(layout, spec, name)
    for option in spec.get('options') or {}:
        check_identifier(option, 'partitions: %s: options' % name)
        if option in ('schema_name', 'table_name'):
            raise InvalidInput('partitions: %s: options: set %s with remote_%s' % (name, option, option[:-5]))
    if spec.get('options') and server is None and layout.side == 'coordinator':
        raise InvalidInput('partitions: %s: options are foreign table options and need a server' % name)
    if spec.get('elsewhere') and layout.side != 'shard':
        raise InvalidInput('partitions: %s: elsewhere names a partition another shard holds; it is for side: shard'
                           % name)
    return Partition(name, schema, bound, server, remote, spec.get('options'), bool(spec.get('elsewhere')))


def _parse_partitions(layout, specs):
    for spec in specs or []:
        schema, name = split_qualified(spec.get('name'), 'partitions', layout.schema)
        if any(other.qualified == (schema, name) for other in layout.partitions):
            raise InvalidInput('partitions: %s is listed twice' % name)
        layout.partitions.append(_parse_partition(layout, spec, schema, name))
    if layout.side == 'coordinator' and layout.mode == 'declarative' and layout.primary_key:
        foreign = [part.name for part in layout.partitions if part.server]
        if foreign:
            raise InvalidInput('primary_key: PostgreSQL cannot create a unique index on a partitioned table with '
                               'foreign partitions (%s); enforce uniqueness on the shards instead (the shard side '
                               'takes primary_key)' % ', '.join(foreign))
    defaults = [part.name for part in layout.partitions if part.bound.is_default]
    if len(defaults) > 1:
        raise InvalidInput('partitions: only one default partition is possible, got %s' % ', '.join(defaults))


def _parse_shard_targets(layout, params):
    """With state: absent a shard needs only the tables to drop: names, remote names, the hash shape."""
    layout.method = (params.get('partition_by') or {}).get('method')
    for spec in params.get('partitions') or []:
        if spec.get('elsewhere'):
            continue
        schema, name = split_qualified(spec.get('name'), 'partitions', layout.schema)
        layout.partitions.append(Partition(name, schema, None, remote=_remote(layout, spec, name)))


def _check_plain(params):
    """side: plain is one table: the options that describe partitions have no meaning there."""
    given = [field for field in ('partition_by', 'partitions', 'route_via', 'route_trigger') if params.get(field)]
    given += [field for field, default in (('partitioning', 'declarative'), ('prune_partitions', False),
                                           ('key_update', 'refuse')) if params.get(field) not in (None, default)]
    if given:
        raise InvalidInput('%s: side: plain manages one table without partitions; leave %s out'
                           % (given[0], ', '.join(given)))


def parse_layout(params):
    """Check the structure of the parameters; no database access."""
    layout = Layout(params)
    if layout.key_update not in KEY_UPDATE_CHOICES:
        raise InvalidInput('key_update: must be one of %s, got %r' % (', '.join(KEY_UPDATE_CHOICES), layout.key_update))
    if layout.key_update == 'move' and layout.routed_on_insert:
        raise InvalidInput('key_update: move needs partitioning: declarative; with partitioning: inheritance rows '
                           'are routed on INSERT only')
    if layout.side == 'shard':
        # The shard side is the same for both modes: plain tables with CHECK constraints.
        layout.mode = 'declarative'
    if layout.side == 'plain':
        _check_plain(params)
    if not layout.present:
        if layout.side == 'shard':
            _parse_shard_targets(layout, params)
        return layout
    _parse_columns(layout, params.get('columns'))
    if layout.side != 'plain':
        if not params.get('partition_by'):
            raise InvalidInput('partition_by: required with side: %s and state: present (side: plain is a table '
                               'without partitions)' % layout.side)
        _parse_key(layout, params['partition_by'])
        _parse_route(layout, params.get('route_via'))
        _parse_route_trigger(layout, params.get('route_trigger'))
        for column in layout.key:
            check_identifier(column, 'partition_by.key')
            if not layout.route_via and not layout.column(column):
                raise InvalidInput('partition_by.key: %s is not in columns' % column)
    _parse_primary_key(layout, params.get('primary_key'))
    _parse_partitions(layout, params.get('partitions'))
    parse_objects(layout, params)
    return layout


# -- server-side resolution -----------------------------------------------------------

def _resolve_types(conn, layout):
    """Each column's canonical type; returns {column: type category}."""
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
                raise InvalidInput('columns: %s: %s' % (column.name, pg_message(exc)))
        else:
            column.type_sql = found['name']
        categories[column.name] = found['category']
    return categories


def _resolve_defaults(conn, layout):
    for column in layout.columns:
        if column.default is None:
            continue
        try:
            column.default_value = catalog.canonical_values(conn, column.type_sql, [option_text(column.default)])[0]
        except psycopg2.Error as exc:
            raise InvalidInput('columns: %s: default %r is not a value of type %s: %s'
                               % (column.name, column.default, column.type_sql, pg_message(exc)))


def _resolve_bounds(conn, layout, categories):
    layout.key_types = [(layout.column(name).type_sql, categories[name]) for name in layout.key]
    for position, (type_sql, category) in enumerate(layout.key_types):
        slots = [slot for part in layout.partitions for slot in part.bound.value_slots(position)]
        if not slots:
            continue
        try:
            values = catalog.canonical_values(conn, type_sql, [items[index] for items, index in slots])
        except psycopg2.Error as exc:
            raise InvalidInput('partitions: a bound value does not fit key column %s (%s): %s'
                               % (layout.key[position], type_sql, pg_message(exc)))
        for (items, index), value in zip(slots, values):
            items[index] = value


def resolve(conn, layout):
    """Canonical column types, defaults and bound values, parsed by the server itself."""
    categories = _resolve_types(conn, layout)
    check_sequence_types(layout)
    _resolve_defaults(conn, layout)
    resolve_expressions(conn, layout)
    if layout.side != 'plain' and not layout.route_via:
        _resolve_bounds(conn, layout, categories)
