# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL builders: every statement the collection runs is composed here with
psycopg2.sql (Identifier for names, Literal for values). No name or value is
ever pasted into SQL text by string formatting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    sql = None

from ansible_collections.pgdist.cluster.plugins.module_utils.plan import create_options_clause, options_clause

# Role attributes as PostgreSQL spells them, with the pg_authid column each sets.
ROLE_ATTRIBUTES = {
    'SUPERUSER': ('rolsuper', True), 'NOSUPERUSER': ('rolsuper', False),
    'CREATEDB': ('rolcreatedb', True), 'NOCREATEDB': ('rolcreatedb', False),
    'CREATEROLE': ('rolcreaterole', True), 'NOCREATEROLE': ('rolcreaterole', False),
    'INHERIT': ('rolinherit', True), 'NOINHERIT': ('rolinherit', False),
    'LOGIN': ('rolcanlogin', True), 'NOLOGIN': ('rolcanlogin', False),
    'REPLICATION': ('rolreplication', True), 'NOREPLICATION': ('rolreplication', False),
    'BYPASSRLS': ('rolbypassrls', True), 'NOBYPASSRLS': ('rolbypassrls', False),
}

# Role specifications that are keywords, not names, in user mappings.
ROLE_KEYWORDS = ('PUBLIC', 'CURRENT_USER', 'CURRENT_ROLE', 'SESSION_USER', 'USER')


def ident(*parts):
    """A possibly qualified identifier, each part quoted."""
    return sql.Identifier(*parts)


def role_spec(name):
    """A role name, or one of the role keywords written as a keyword."""
    if name.upper() in ROLE_KEYWORDS:
        return sql.SQL(name.upper())
    return sql.Identifier(name)


# -- databases ---------------------------------------------------------------

def create_database(name, owner=None, template=None, encoding=None, lc_collate=None, lc_ctype=None):
    clauses = []
    for keyword, value, as_ident in (('OWNER', owner, True), ('TEMPLATE', template, True),
                                     ('ENCODING', encoding, False), ('LC_COLLATE', lc_collate, False),
                                     ('LC_CTYPE', lc_ctype, False)):
        if value:
            clauses.append(sql.SQL(keyword + ' {}').format(sql.Identifier(value) if as_ident else sql.Literal(value)))
    return sql.SQL('CREATE DATABASE {}{}').format(
        sql.Identifier(name), sql.SQL(' ').join([sql.SQL('')] + clauses))


def alter_owner(kind, name, owner):
    """ALTER <kind> name OWNER TO owner; kind is a fixed keyword from our own code."""
    target = name if isinstance(name, sql.Composable) else sql.Identifier(name)
    return sql.SQL('ALTER ' + kind + ' {} OWNER TO {}').format(target, sql.Identifier(owner))


def drop(kind, name, cascade=False, if_exists=False):
    target = name if isinstance(name, sql.Composable) else sql.Identifier(name)
    return sql.SQL('DROP ' + kind + (' IF EXISTS' if if_exists else '') + ' {}' +
                   (' CASCADE' if cascade else '')).format(target)


# -- roles --------------------------------------------------------------------

def role_options(attributes=(), verifier=None, connection_limit=None):
    parts = [sql.SQL(attribute) for attribute in attributes]
    if connection_limit is not None:
        parts.append(sql.SQL('CONNECTION LIMIT {}').format(sql.Literal(int(connection_limit))))
    if verifier is not None:
        parts.append(sql.SQL('PASSWORD {}').format(sql.Literal(verifier)))
    return sql.SQL(' ').join(parts)


def create_role(name, attributes=(), verifier=None, connection_limit=None):
    options = role_options(attributes, verifier, connection_limit)
    return sql.SQL('CREATE ROLE {} {}').format(sql.Identifier(name), options)


def alter_role(name, attributes=(), verifier=None, connection_limit=None):
    options = role_options(attributes, verifier, connection_limit)
    return sql.SQL('ALTER ROLE {} {}').format(sql.Identifier(name), options)


# -- extensions ---------------------------------------------------------------

def create_extension(name, schema=None, version=None, cascade=False):
    query = sql.SQL('CREATE EXTENSION {}').format(sql.Identifier(name))
    if schema:
        query += sql.SQL(' SCHEMA {}').format(sql.Identifier(schema))
    if version:
        query += sql.SQL(' VERSION {}').format(sql.Literal(version))
    if cascade:
        query += sql.SQL(' CASCADE')
    return query


def alter_extension_version(name, version):
    return sql.SQL('ALTER EXTENSION {} UPDATE TO {}').format(sql.Identifier(name), sql.Literal(version))


def alter_extension_schema(name, schema):
    return sql.SQL('ALTER EXTENSION {} SET SCHEMA {}').format(sql.Identifier(name), sql.Identifier(schema))


# -- foreign servers and user mappings -----------------------------------------

def create_server(name, fdw, options):
    return sql.SQL('CREATE SERVER {} FOREIGN DATA WRAPPER {}{}').format(
        sql.Identifier(name), sql.Identifier(fdw), create_options_clause(options))


def alter_server_options(name, actions):
    return sql.SQL('ALTER SERVER {} {}').format(sql.Identifier(name), options_clause(actions))


def validator_call(schema, name):
    """A call of a foreign-data wrapper's validator on (options text[], catalog regclass) parameters."""
    return sql.SQL('SELECT {}(%s::text[], %s::regclass::oid)').format(sql.Identifier(schema, name))


def create_user_mapping(user, server, options):
    return sql.SQL('CREATE USER MAPPING FOR {} SERVER {}{}').format(
        role_spec(user), sql.Identifier(server), create_options_clause(options))


def alter_user_mapping_options(user, server, actions):
    return sql.SQL('ALTER USER MAPPING FOR {} SERVER {} {}').format(
        role_spec(user), sql.Identifier(server), options_clause(actions))


def drop_user_mapping(user, server):
    return sql.SQL('DROP USER MAPPING FOR {} SERVER {}').format(role_spec(user), sql.Identifier(server))


# -- replication ---------------------------------------------------------------
# A publication object is (schema, table, where, columns) for a table, or a
# plain schema name for TABLES IN SCHEMA. `where` is the one piece of SQL text
# that is not quoted: a row filter is an expression by nature. replication.py
# checks it lexically and has the server parse it before it gets here.

def option_assignments(options):
    """a = true, b = 'x', slot_name = NONE from a dict (None is the keyword NONE)."""
    items = []
    for name, value in sorted(options.items()):
        if value is None:
            rendered = sql.SQL('NONE')
        elif isinstance(value, bool):
            rendered = sql.SQL('true' if value else 'false')
        else:
            rendered = sql.Literal(str(value))
        items.append(sql.SQL('{} = {}').format(sql.Identifier(name), rendered))
    return sql.SQL(', ').join(items)


def with_options(options):
    """ WITH (...) from a dict; empty when there is nothing."""
    if not options:
        return sql.SQL('')
    return sql.SQL(' WITH ({})').format(option_assignments(options))


def publication_object(item, with_details=True):
    if isinstance(item, str):
        return sql.SQL('TABLES IN SCHEMA {}').format(sql.Identifier(item))
    schema, table, where, columns = item
    query = sql.SQL('TABLE {}').format(sql.Identifier(schema, table))
    if with_details and columns:
        query += sql.SQL(' ({})').format(sql.SQL(', ').join(sql.Identifier(column) for column in columns))
    if with_details and where:
        query += sql.SQL(' WHERE ({})').format(sql.SQL(where))
    return query


def publication_objects(items, with_details=True):
    return sql.SQL(', ').join(publication_object(item, with_details) for item in items)


def create_publication(name, all_tables=False, objects=(), options=None):
    query = sql.SQL('CREATE PUBLICATION {}').format(sql.Identifier(name))
    if all_tables:
        query += sql.SQL(' FOR ALL TABLES')
    elif objects:
        query += sql.SQL(' FOR ') + publication_objects(objects)
    return query + with_options(options)


def alter_publication_objects(name, action, objects):
    """ALTER PUBLICATION name ADD|SET|DROP objects; DROP takes the bare names."""
    return sql.SQL('ALTER PUBLICATION {} ' + action + ' {}').format(
        sql.Identifier(name), publication_objects(objects, with_details=action != 'DROP'))


def alter_publication_options(name, options):
    return sql.SQL('ALTER PUBLICATION {} SET ({})').format(sql.Identifier(name), option_assignments(options))


def create_subscription(name, conninfo, publications, options=None):
    return sql.SQL('CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}{}').format(
        sql.Identifier(name), sql.Literal(conninfo),
        sql.SQL(', ').join(sql.Identifier(publication) for publication in publications), with_options(options))


def alter_subscription(name, action, options=None):
    """ALTER SUBSCRIPTION name ENABLE | DISABLE | REFRESH PUBLICATION [WITH (...)]."""
    return sql.SQL('ALTER SUBSCRIPTION {} ' + action + '{}').format(sql.Identifier(name), with_options(options))


def alter_subscription_connection(name, conninfo):
    return sql.SQL('ALTER SUBSCRIPTION {} CONNECTION {}').format(sql.Identifier(name), sql.Literal(conninfo))


def alter_subscription_publications(name, publications, options=None):
    return sql.SQL('ALTER SUBSCRIPTION {} SET PUBLICATION {}{}').format(
        sql.Identifier(name), sql.SQL(', ').join(sql.Identifier(publication) for publication in publications),
        with_options(options))


def alter_subscription_options(name, options):
    """ALTER SUBSCRIPTION name SET (a = ..., slot_name = NONE)."""
    return sql.SQL('ALTER SUBSCRIPTION {} SET ({})').format(sql.Identifier(name), option_assignments(options))


# -- partitioned tables ---------------------------------------------------------
# Column types arrive here as the canonical text PostgreSQL itself printed
# (format_type of a type resolved by to_regtype, see partitioning.resolve_types),
# never as user text: that is the only SQL text not built from Identifier/Literal.

PARTITION_METHODS = {'range': 'RANGE', 'list': 'LIST', 'hash': 'HASH'}
UNBOUNDED_KEYWORDS = ('MINVALUE', 'MAXVALUE')


def canonical_type(type_sql):
    """A column type as printed by the server's format_type()."""
    return sql.SQL(type_sql)


def column_definition(name, type_sql, nullable=True, default=None):
    parts = [sql.Identifier(name), canonical_type(type_sql)]
    if not nullable:
        parts.append(sql.SQL('NOT NULL'))
    if default is not None:
        parts.append(sql.SQL('DEFAULT {}').format(sql.Literal(default)))
    return sql.SQL(' ').join(parts)


def create_table(table, columns, primary_key=None, constraints=(), method=None, key=(), inherits=None):
    """CREATE TABLE table (columns, constraints) [INHERITS (parent)] [PARTITION BY method (key)].

    columns: [(name, type_sql, nullable, default)]; constraints: composed constraint clauses.
    """
    items = [column_definition(*column) for column in columns]
    if primary_key:
        items.append(sql.SQL('PRIMARY KEY ({})').format(sql.SQL(', ').join(map(sql.Identifier, primary_key))))
    items.extend(constraints)
    query = sql.SQL('CREATE TABLE {} ({})').format(table, sql.SQL(', ').join(items))
    if inherits is not None:
        query += sql.SQL(' INHERITS ({})').format(inherits)
    if method:
        query += sql.SQL(' PARTITION BY ' + PARTITION_METHODS[method] + ' ({})').format(
            sql.SQL(', ').join(map(sql.Identifier, key)))
    return query


def check_constraint(name, predicate):
    return sql.SQL('CONSTRAINT {} CHECK ({})').format(sql.Identifier(name), predicate)


def create_schema(schema):
    return sql.SQL('CREATE SCHEMA {}').format(sql.Identifier(schema))


def bound_value(value):
    """One partition bound datum: canonical text as a literal, NULL, MINVALUE or MAXVALUE."""
    if value is None:
        return sql.SQL('NULL')
    if getattr(value, 'keyword', None) in UNBOUNDED_KEYWORDS:
        return sql.SQL(value.keyword)
    return sql.Literal(value)


def bound_clause(bound):
    """FOR VALUES ... / DEFAULT for a partitioning.Bound."""
    if bound.kind == 'default':
        return sql.SQL('DEFAULT')
    if bound.kind == 'list':
        return sql.SQL('FOR VALUES IN ({})').format(sql.SQL(', ').join(map(bound_value, bound.values)))
    if bound.kind == 'range':
        return sql.SQL('FOR VALUES FROM ({}) TO ({})').format(
            sql.SQL(', ').join(map(bound_value, bound.lower)), sql.SQL(', ').join(map(bound_value, bound.upper)))
    return sql.SQL('FOR VALUES WITH (MODULUS {}, REMAINDER {})').format(
        sql.Literal(int(bound.modulus)), sql.Literal(int(bound.remainder)))


def foreign_clause(server, options):
    return sql.SQL(' SERVER {}{}').format(sql.Identifier(server), create_options_clause(options))


def create_partition(table, parent, bound, server=None, options=None):
    """CREATE [FOREIGN] TABLE table PARTITION OF parent <bound> [SERVER s OPTIONS (...)]."""
    if server is None:
        return sql.SQL('CREATE TABLE {} PARTITION OF {} {}').format(table, parent, bound_clause(bound))
    return sql.SQL('CREATE FOREIGN TABLE {} PARTITION OF {} {}{}').format(
        table, parent, bound_clause(bound), foreign_clause(server, options))


def create_inheriting_child(table, parent, constraints, server=None, options=None):
    """CREATE [FOREIGN] TABLE table (constraints) INHERITS (parent) [SERVER s OPTIONS (...)]."""
    query = sql.SQL('CREATE {}TABLE {} ({}) INHERITS ({})').format(
        sql.SQL('FOREIGN ' if server else ''), table, sql.SQL(', ').join(constraints), parent)
    if server:
        query += foreign_clause(server, options)
    return query


def attach_partition(parent, table, bound):
    return sql.SQL('ALTER TABLE {} ATTACH PARTITION {} {}').format(parent, table, bound_clause(bound))


def detach_partition(parent, table):
    return sql.SQL('ALTER TABLE {} DETACH PARTITION {}').format(parent, table)


def no_inherit(table, parent):
    return sql.SQL('ALTER TABLE {} NO INHERIT {}').format(table, parent)


def drop_relation(table, foreign=False):
    return sql.SQL('DROP {}TABLE {}').format(sql.SQL('FOREIGN ' if foreign else ''), table)


def alter_foreign_table_options(table, actions):
    return sql.SQL('ALTER FOREIGN TABLE {} {}').format(table, options_clause(actions))


def add_column(table, column):
    return sql.SQL('ALTER TABLE {} ADD COLUMN {}').format(table, column_definition(*column))


def alter_column(table, name, action, type_sql=None, default=None):
    """ALTER TABLE t ALTER COLUMN c <action>; action is one of our fixed clauses."""
    clauses = {
        'type': sql.SQL('TYPE {}').format(canonical_type(type_sql or '')),
        'set_not_null': sql.SQL('SET NOT NULL'),
        'drop_not_null': sql.SQL('DROP NOT NULL'),
        'set_default': sql.SQL('SET DEFAULT {}').format(sql.Literal(default)),
        'drop_default': sql.SQL('DROP DEFAULT'),
    }
    return sql.SQL('ALTER TABLE {} ALTER COLUMN {} {}').format(table, sql.Identifier(name), clauses[action])


def drop_column(table, name):
    return sql.SQL('ALTER TABLE {} DROP COLUMN {}').format(table, sql.Identifier(name))


def add_constraint(table, constraint):
    return sql.SQL('ALTER TABLE {} ADD {}').format(table, constraint)


def drop_constraint(table, name):
    return sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(table, sql.Identifier(name))


def add_primary_key(table, columns):
    return sql.SQL('ALTER TABLE {} ADD PRIMARY KEY ({})').format(
        table, sql.SQL(', ').join(map(sql.Identifier, columns)))


def _row(items):
    return sql.SQL('ROW({})').format(sql.SQL(', ').join(items))


def _range_side(refs, values, lower):
    """The row comparison of one range bound, cut at its first MINVALUE/MAXVALUE."""
    cut = len(values)
    for index, value in enumerate(values):
        if getattr(value, 'keyword', None) in UNBOUNDED_KEYWORDS:
            cut = index
            break
    if cut == 0:
        # MINVALUE as lower or MAXVALUE as upper: no limit on this side.
        return None
    if cut == len(values):
        operator = '>=' if lower else '<'
    else:
        keyword = values[cut].keyword
        operator = {(True, 'MINVALUE'): '>=', (True, 'MAXVALUE'): '>',
                    (False, 'MAXVALUE'): '<=', (False, 'MINVALUE'): '<'}[(lower, keyword)]
    return sql.SQL('{} ' + operator + ' {}').format(
        _row(refs[:cut]), _row([sql.Literal(value) for value in values[:cut]]))


def bound_predicate(bound, refs, others=(), hash_shape=None):
    """A boolean expression true exactly for the rows a partition with bound accepts.

    refs are the composed references to the key columns (a column, or NEW.column
    in a trigger); others are the bounds of the sibling partitions (for DEFAULT);
    hash_shape is the partitioned table whose key satisfies_hash_partition uses.
    """
    if bound.kind == 'default':
        if not others:
            return sql.SQL('true')
        return sql.SQL('NOT COALESCE({}, false)').format(
            sql.SQL(' OR ').join(sql.SQL('({})').format(bound_predicate(other, refs)) for other in others))
    if bound.kind == 'hash':
        return sql.SQL('satisfies_hash_partition({}::regclass::oid, {}, {}, {})').format(
            sql.Literal(hash_shape), sql.Literal(int(bound.modulus)), sql.Literal(int(bound.remainder)),
            sql.SQL(', ').join(refs))
    if bound.kind == 'list':
        values = [value for value in bound.values if value is not None]
        parts = []
        if values:
            parts.append(sql.SQL('{} IN ({})').format(refs[0], sql.SQL(', ').join(map(sql.Literal, values))))
        if len(values) != len(bound.values):
            parts.append(sql.SQL('{} IS NULL').format(refs[0]))
        return sql.SQL('({})').format(sql.SQL(' OR ').join(parts))
    parts = [sql.SQL('{} IS NOT NULL').format(ref) for ref in refs]
    for values, lower in ((bound.lower, True), (bound.upper, False)):
        side = _range_side(refs, values, lower)
        if side is not None:
            parts.append(side)
    return sql.SQL(' AND ').join(parts)


def column_ref(name, record=None):
    """A key column in an expression: name, or record.name in PL/pgSQL."""
    if record:
        return sql.SQL(record + '.{}').format(sql.Identifier(name))
    return sql.Identifier(name)


def routing_body(branches, failure, lookup=None):
    """The PL/pgSQL body of a routing trigger function.

    branches: [(predicate, child table)]; failure: composed RAISE arguments;
    lookup: (table, column, references, key columns) when rows route through
    another table's row, read into the record variable routed_via.
    """
    lines = [sql.SQL('DECLARE routed_via record;'), sql.SQL('BEGIN')]
    if lookup:
        table, column, references, key = lookup
        lines.append(sql.SQL('  SELECT {} INTO routed_via FROM {} WHERE {} = NEW.{};').format(
            sql.SQL(', ').join(map(sql.Identifier, key)), table, sql.Identifier(references),
            sql.Identifier(column)))
    for index, (predicate, child) in enumerate(branches):
        lines.append(sql.SQL('  {} {} THEN').format(sql.SQL('IF' if index == 0 else 'ELSIF'), predicate))
        lines.append(sql.SQL('    INSERT INTO {} VALUES (NEW.*);').format(child))
    lines.append(sql.SQL('  ELSE' if branches else '  IF true THEN'))
    lines.append(sql.SQL('    RAISE EXCEPTION {};').format(failure))
    lines.append(sql.SQL('  END IF;'))
    lines.append(sql.SQL('  RETURN NULL;'))
    lines.append(sql.SQL('END'))
    return sql.SQL('\n').join(lines)


def create_trigger_function(function, body_text):
    return sql.SQL('CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}').format(
        function, sql.Literal(body_text))


def drop_function(function):
    return sql.SQL('DROP FUNCTION {}()').format(function)


# -- cluster_info ---------------------------------------------------------------
# Statements of the read-only cluster_info module. Probes run inside a
# savepoint that is always rolled back, so nothing they create survives.

def savepoint(name):
    return sql.SQL('SAVEPOINT {}').format(sql.Identifier(name))


def rollback_to_savepoint(name):
    return sql.SQL('ROLLBACK TO SAVEPOINT {}').format(sql.Identifier(name))


def release_savepoint(name):
    return sql.SQL('RELEASE SAVEPOINT {}').format(sql.Identifier(name))


def set_local(setting, value):
    return sql.SQL('SET LOCAL {} = {}').format(sql.Identifier(setting), sql.Literal(str(value)))


def create_probe_table(name, columns, server, remote_schema, remote_table):
    """CREATE FOREIGN TABLE pg_temp.name (col type, ...) on a remote catalog relation."""
    cols = sql.SQL(', ').join(sql.SQL('{} ' + kind).format(sql.Identifier(col)) for col, kind in columns)
    return sql.SQL('CREATE FOREIGN TABLE {} ({}) SERVER {} OPTIONS (schema_name {}, table_name {})').format(
        sql.Identifier('pg_temp', name), cols, sql.Identifier(server),
        sql.Literal(remote_schema), sql.Literal(remote_table))


def probe_setting_query(table):
    return sql.SQL('SELECT setting FROM {} WHERE name = %s').format(sql.Identifier('pg_temp', table))


def probe_reltuples_query(class_table, namespace_table):
    return sql.SQL('SELECT n.nspname::text, c.relname::text, c.reltuples::float8 FROM {} c JOIN {} n '
                   'ON n.oid = c.relnamespace WHERE c.relname = ANY (%s::name[])').format(
        sql.Identifier('pg_temp', class_table), sql.Identifier('pg_temp', namespace_table))


def count_rows(schema, name):
    return sql.SQL('SELECT count(*) FROM ONLY {}').format(sql.Identifier(schema, name))


def drop_trigger(name, table):
    return sql.SQL('DROP TRIGGER {} ON {}').format(sql.Identifier(name), table)


def mover_body(conn, parent, columns, key):
    """PL/pgSQL of the BEFORE UPDATE trigger that moves rows out of foreign partitions.

    PostgreSQL does not move a row whose partition key changes out of a foreign
    partition (postgres_fdw would update it in place, on the wrong shard). For a
    foreign partition whose row changes its key, this deletes the old row there
    (matching every column) and inserts the new row through the parent, which
    routes it; local partitions keep PostgreSQL's own row movement. The DELETE
    is a format() template: the % of quoted column names are doubled.
    """
    matches = sql.SQL(' AND ').join(
        sql.SQL('{} IS NOT DISTINCT FROM ${}').format(sql.Identifier(name), sql.SQL(str(index + 1)))
        for index, name in enumerate(columns))
    template = 'DELETE FROM %I.%I WHERE ' + matches.as_string(conn).replace('%', '%%')
    lines = [
        sql.SQL('BEGIN'),
        sql.SQL('  IF ROW({}) IS NOT DISTINCT FROM ROW({})').format(
            sql.SQL(', ').join(column_ref(name, 'NEW') for name in key),
            sql.SQL(', ').join(column_ref(name, 'OLD') for name in key)),
        sql.SQL("     OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID) <> 'f' THEN"),
        sql.SQL('    RETURN NEW;'),
        sql.SQL('  END IF;'),
        sql.SQL('  EXECUTE pg_catalog.format({}, TG_TABLE_SCHEMA, TG_TABLE_NAME) USING {};').format(
            sql.Literal(template), sql.SQL(', ').join(column_ref(name, 'OLD') for name in columns)),
        sql.SQL('  INSERT INTO {} VALUES (NEW.*);').format(parent),
        sql.SQL('  RETURN NULL;'),
        sql.SQL('END'),
    ]
    return sql.SQL('\n').join(lines)


def create_trigger(name, timing, table, function):
    """CREATE TRIGGER name <timing> ON table FOR EACH ROW ...; timing is one of our fixed phrases."""
    return sql.SQL('CREATE TRIGGER {} ' + timing + ' ON {} FOR EACH ROW EXECUTE FUNCTION {}()').format(
        sql.Identifier(name), table, function)
