# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read first, then decide: the current state of one table, read in one place before planning.

A Snapshot is plain data keyed by (schema, name), so a test can build one by
hand. The readers fill it through catalog.py with a fixed number of queries
per table. The only question planning asks the server later is about rows
(does a table hold any; which rows fall outside new bounds): LiveRows answers
it, lazily, when a planned change would touch rows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, schema_catalog, sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message, savepoint
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import (
    GUARD_SUFFIX, MOVER_SUFFIX, ROUTING_SUFFIX)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the runner
    pass


class Snapshot(object):
    """What the catalogs hold now around one table.

    relations: (schema, name) -> catalog.relations() row (kind, is_partition,
        strategy, bound, server, options, bound_checks, primary_key) of every
        table the plan may touch that exists;
    children: the (schema, name) of the parent's children, by name;
    columns: (schema, name) -> [dict(name, type, not_null, default, value)],
        value being a constant default as the server prints it in the column's type;
    schemas, servers: those of the wanted ones that exist;
    functions: (schema, name) -> source of the trigger functions the plan manages;
    triggers: (schema, table) -> {trigger name: 'schema.function'};
    database: the current database, for messages;
    remote_tables: (server, schema, name) -> catalog.relations() row of the shard table behind a foreign
        partition, None when it is missing; remote_errors: server -> why it could not be read
        (shards.read_remote_tables, coordinator side);
    key_updates_refused: whether the coordinator extension refuses UPDATEs that assign the partition key
        of foreign partitions (pgdist.refuse_key_updates on);
    indexes, constraints: (schema, table) -> {name: schema_catalog.indexes() / constraints() row} of the
        tables whose columns are read (the secondary indexes, CHECK and foreign key constraints);
        the sequences the columns want are in relations when they exist.
    """

    def __init__(self, relations=None, children=(), columns=None, schemas=(), servers=(), functions=None,
                 triggers=None, database='', remote_tables=None, remote_errors=None, key_updates_refused=False,
                 indexes=None, constraints=None):
        self.relations = dict(relations or {})
        self.children = list(children)
        self.columns = dict(columns or {})
        self.schemas = set(schemas)
        self.servers = set(servers)
        self.functions = dict(functions or {})
        self.triggers = dict(triggers or {})
        self.database = database
        self.remote_tables = dict(remote_tables or {})
        self.remote_errors = dict(remote_errors or {})
        self.key_updates_refused = key_updates_refused
        self.indexes = dict(indexes or {})
        self.constraints = dict(constraints or {})

    def relation(self, key):
        return self.relations.get(key)

    def columns_of(self, key):
        return self.columns.get(key, [])

    def triggers_on(self, key):
        return self.triggers.get(key, {})

    def indexes_on(self, key):
        return self.indexes.get(key, {})

    def constraints_on(self, key):
        return self.constraints.get(key, {})


def remote_of(relation):
    """(schema, table) a foreign table reads on its server, None for a local table."""
    if not relation['server']:
        return None
    options = relation['options']
    return (options.get('schema_name', relation['schema']), options.get('table_name', relation['name']))


def constant_text(expression):
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


def _columns(conn, relations):
    """Columns of the relations, each constant default canonicalised in its own type."""
    if not relations:
        return {}
    by_oid = catalog.columns(conn, [row['oid'] for row in relations.values()])
    result = dict((key, by_oid[row['oid']]) for key, row in relations.items())
    constants = {}
    for column in (column for columns in result.values() for column in columns):
        column['value'] = None
        text = constant_text(column['default'])
        if text is not None:
            constants.setdefault(column['type'], []).append((column, text))
    for type_sql, pairs in constants.items():
        for (column, _text), value in zip(pairs, catalog.canonical_values(conn, type_sql, [p[1] for p in pairs])):
            column['value'] = value
    return result


def _per_table(reader, conn, relations):
    """reader(conn, oids) -> {oid: x} as {(schema, name): x}."""
    if not relations:
        return {}
    by_oid = reader(conn, [row['oid'] for row in relations.values()])
    return dict((key, by_oid[row['oid']]) for key, row in relations.items())


def _triggers(conn, relations):
    return _per_table(catalog.triggers, conn, relations)


def _objects(conn, relations):
    """The indexes and the constraints of the relations, as Snapshot keyword arguments."""
    return dict(indexes=_per_table(schema_catalog.indexes, conn, relations),
                constraints=_per_table(schema_catalog.constraints, conn, relations))


def _sequences(layout):
    return [column.sequence for column in layout.columns if column.sequence]


def read_coordinator(conn, layout):
    """The parent, its children, the listed partitions that are not (yet) its children, and what they use."""
    parent_key = layout.qualified
    parents = catalog.relations(conn, [parent_key])
    parent = parents.get(parent_key)
    children = catalog.children(conn, parent['oid']) if parent else []
    relations = dict(((child['schema'], child['name']), child) for child in children)
    relations.update(catalog.relations(conn, [part.qualified for part in layout.partitions
                                              if part.qualified not in relations] + _sequences(layout)))
    relations.update(parents)
    triggers = _triggers(conn, parents)
    # And the functions the parent's triggers call: one generated for a routing trigger under an older name
    # (route_trigger renamed it) is recognised by its source and dropped.
    called = [tuple(function.split('.', 1)) for function in triggers.get(parent_key, {}).values()]
    functions = sorted(set([(layout.schema, layout.function_name(suffix)) for suffix in (ROUTING_SUFFIX, MOVER_SUFFIX)]
                           + called))
    return Snapshot(
        relations=relations, children=[(child['schema'], child['name']) for child in children],
        columns=_columns(conn, parents), triggers=triggers,
        schemas=catalog.existing_schemas(conn, set([layout.schema] + [part.schema for part in layout.partitions])),
        servers=catalog.existing_servers(conn, set(part.server for part in layout.partitions if part.server)),
        functions=catalog.function_sources(conn, functions), database=conn.info.dbname, **_objects(conn, parents))


def read_shard(conn, layout):
    """The shard tables behind the listed partitions, the hash shape tables and the key guards."""
    targets = [part.remote for part in layout.held_partitions]
    relations = catalog.relations(conn, targets + list(layout.hash_shapes().values()))
    tables = dict((key, row) for key, row in relations.items() if key in targets)
    schemas = set(target[0] for target in targets)
    return Snapshot(
        relations=relations, columns=_columns(conn, tables), triggers=_triggers(conn, tables),
        schemas=catalog.existing_schemas(conn, schemas), database=conn.info.dbname,
        functions=catalog.function_sources(conn, [(schema, layout.function_name(GUARD_SUFFIX))
                                                  for schema in schemas]), **_objects(conn, tables))


def read_plain(conn, layout):
    """One plain table."""
    relations = catalog.relations(conn, [layout.qualified] + _sequences(layout))
    tables = dict((key, row) for key, row in relations.items() if key == layout.qualified)
    return Snapshot(relations=relations, columns=_columns(conn, tables),
                    schemas=catalog.existing_schemas(conn, [layout.schema]), database=conn.info.dbname,
                    **_objects(conn, tables))


class LiveRows(object):
    """Row checks on the server: the one call planning makes after the snapshot, only when needed.

    Each check runs in a savepoint, so a shard that cannot answer (down,
    remote table missing) fails that check only, and the change is refused
    instead of being made blind.
    """

    def __init__(self, conn):
        self.conn = conn

    def _ask(self, schema, name, query, question):
        try:
            with savepoint(self.conn, 'pgdist_row_check'):
                return catalog.row_check(self.conn, query)
        except psycopg2.Error as exc:
            raise Refusal('cannot tell whether %s.%s holds %s (%s); nothing was changed'
                          % (schema, name, question, pg_message(exc)))

    def any(self, schema, name):
        """Whether the table (through its fdw for a foreign table) holds any row."""
        return self._ask(schema, name, sql.has_rows(sqlbuild.ident(schema, name)), 'rows')[0]

    def outside(self, schema, name, query):
        """(count, smallest key, largest key) of the rows query (sql.rows_outside) finds."""
        return tuple(self._ask(schema, name, query, 'rows outside its new bounds'))
