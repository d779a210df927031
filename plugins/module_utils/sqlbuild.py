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

# Privileges on tables and views as PostgreSQL spells them (pgdist.cluster.table_privileges).
TABLE_PRIVILEGES = ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
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


def grant_role(role, member):
    """GRANT role TO member: member gets role's privileges (pg_monitor for a monitoring login)."""
    return sql.SQL('GRANT {} TO {}').format(sql.Identifier(role), sql.Identifier(member))


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
    """One table (with its column list and row filter) or one schema, without its TABLE keyword."""
    if isinstance(item, str):
        return sql.Identifier(item)
    schema, table, where, columns = item
    query = sql.Identifier(schema, table)
    if with_details and columns:
        query += sql.SQL(' ({})').format(sql.SQL(', ').join(sql.Identifier(column) for column in columns))
    if with_details and where:
        query += sql.SQL(' WHERE ({})').format(sql.SQL(where))
    return query


def publication_objects(items, with_details=True):
    """TABLE a, b [, TABLES IN SCHEMA s, t]: one keyword per kind, the form every major parses
    (PostgreSQL 13 and 14 know no TABLE before each name, nor schemas)."""
    groups = []
    for keyword, members in (('TABLE ', [item for item in items if not isinstance(item, str)]),
                             ('TABLES IN SCHEMA ', [item for item in items if isinstance(item, str)])):
        if members:
            groups.append(sql.SQL(keyword) + sql.SQL(', ').join(publication_object(item, with_details)
                                                                for item in members))
    return sql.SQL(', ').join(groups)


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


def replica_identity_full(schema, table):
    return sql.SQL('ALTER TABLE {} REPLICA IDENTITY FULL').format(sql.Identifier(schema, table))


def grant_on_table(privileges, schema, table, role, revoke=False, kind='TABLE'):
    """GRANT|REVOKE privileges ON TABLE|SEQUENCE schema.table TO|FROM role; privileges are keywords from our own
    list (TABLE_PRIVILEGES, or USAGE on a sequence)."""
    return sql.SQL(('REVOKE {} ON ' + kind + ' {} FROM {}' if revoke else 'GRANT {} ON ' + kind + ' {} TO {}')).format(
        sql.SQL(', ').join(sql.SQL(privilege) for privilege in privileges), sql.Identifier(schema, table),
        sql.Identifier(role))


def grant_schema_usage(schema, role):
    return sql.SQL('GRANT USAGE ON SCHEMA {} TO {}').format(sql.Identifier(schema), sql.Identifier(role))


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


# -- tables and columns ----------------------------------------------------------
# Column types arrive here as the canonical text PostgreSQL itself printed
# (format_type of a type resolved by to_regtype, see partitioning/layout.py),
# never as user text: that is the only SQL text not built from Identifier/Literal.
# What only partitioned tables need (bounds, partitions, their triggers) is in
# partitioning/sql.py.

PARTITION_METHODS = {'range': 'RANGE', 'list': 'LIST', 'hash': 'HASH'}


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


def create_table(table, columns, primary_key=None, constraints=(), method=None, key=()):
    """CREATE TABLE table (columns, constraints) [PARTITION BY method (key)].

    columns: [(name, type_sql, nullable, default)]; constraints: composed constraint clauses.
    """
    items = [column_definition(*column) for column in columns]
    if primary_key:
        items.append(sql.SQL('PRIMARY KEY ({})').format(sql.SQL(', ').join(map(sql.Identifier, primary_key))))
    items.extend(constraints)
    query = sql.SQL('CREATE TABLE {} ({})').format(table, sql.SQL(', ').join(items))
    if method:
        query += sql.SQL(' PARTITION BY ' + PARTITION_METHODS[method] + ' ({})').format(
            sql.SQL(', ').join(map(sql.Identifier, key)))
    return query


def check_constraint(name, predicate):
    return sql.SQL('CONSTRAINT {} CHECK ({})').format(sql.Identifier(name), predicate)


def create_schema(schema):
    return sql.SQL('CREATE SCHEMA {}').format(sql.Identifier(schema))


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


def add_constraint(table, constraint, not_valid=False):
    """ALTER TABLE t ADD <constraint> [NOT VALID]: NOT VALID checks new rows only, VALIDATE CONSTRAINT the others
    later without blocking writes."""
    return sql.SQL('ALTER TABLE {} ADD {}' + (' NOT VALID' if not_valid else '')).format(table, constraint)


def validate_constraint(table, name):
    return sql.SQL('ALTER TABLE {} VALIDATE CONSTRAINT {}').format(table, sql.Identifier(name))


def drop_constraint(table, name):
    return sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(table, sql.Identifier(name))


def add_primary_key(table, columns):
    return sql.SQL('ALTER TABLE {} ADD PRIMARY KEY ({})').format(
        table, sql.SQL(', ').join(map(sql.Identifier, columns)))


# -- an application's schema (partitioning/objects.py, partitioning/schema.py) --------------
# CHECK expressions, index predicates and default expressions are the user's SQL text, checked by
# identifiers.check_expression and parsed by the server before they get here; the access method is one of
# argspec.INDEX_METHODS.

def expression(text):
    """A checked SQL expression, in parentheses."""
    return sql.SQL('({})').format(sql.SQL(text))


def expression_check(name, text):
    """CONSTRAINT name CHECK (text), text a checked expression."""
    return check_constraint(name, sql.SQL(text))


def foreign_key_constraint(name, columns, referenced, ref_columns):
    return sql.SQL('CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})').format(
        sql.Identifier(name), sql.SQL(', ').join(map(sql.Identifier, columns)), referenced,
        sql.SQL(', ').join(map(sql.Identifier, ref_columns)))


def create_index(name, table, columns, unique=False, method='btree', where=None, concurrently=False):
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] name ON table USING method (columns) [WHERE (where)]."""
    query = sql.SQL('CREATE ' + ('UNIQUE ' if unique else '') + 'INDEX ' + ('CONCURRENTLY ' if concurrently else '') +
                    '{} ON {} USING {} ({})').format(sql.Identifier(name), table, sql.Identifier(method),
                                                     sql.SQL(', ').join(map(sql.Identifier, columns)))
    if where is not None:
        query += sql.SQL(' WHERE {}').format(expression(where))
    return query


def drop_index(index, concurrently=False):
    return sql.SQL('DROP INDEX ' + ('CONCURRENTLY ' if concurrently else '') + '{}').format(index)


def comment_on_index(index, text):
    return sql.SQL('COMMENT ON INDEX {} IS {}').format(index, sql.Literal(text))


def comment_on_constraint(name, table, text):
    return sql.SQL('COMMENT ON CONSTRAINT {} ON {} IS {}').format(sql.Identifier(name), table, sql.Literal(text))


def set_default_expression(table, column, text):
    return sql.SQL('ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}').format(
        table, sql.Identifier(column), expression(text))


def create_sequence(sequence, type_sql, table, column):
    """A sequence of the column's integer type, owned by the column (dropped with its table)."""
    return sql.SQL('CREATE SEQUENCE {} AS {} OWNED BY {}').format(
        sequence, canonical_type(type_sql), sql.Identifier(*(tuple(table.strings) + (column,))))


def set_default_nextval(table, column, sequence_text):
    """DEFAULT nextval('<sequence>'::regclass); sequence_text is the quoted name as SQL text."""
    return sql.SQL('ALTER TABLE {} ALTER COLUMN {} SET DEFAULT pg_catalog.nextval({}::regclass)').format(
        table, sql.Identifier(column), sql.Literal(sequence_text))


def start_sequence_after(sequence_text, table, column):
    """Start the sequence after the largest value the column holds, so it never hands out an id in use."""
    return sql.SQL('SELECT pg_catalog.setval({}::regclass, COALESCE((SELECT max({}) FROM {}), 0) + 1, false)').format(
        sql.Literal(sequence_text), sql.Identifier(column), table)


# -- savepoints (connection.savepoint) --------------------------------------------

def savepoint(name):
    return sql.SQL('SAVEPOINT {}').format(sql.Identifier(name))


def rollback_to_savepoint(name):
    return sql.SQL('ROLLBACK TO SAVEPOINT {}').format(sql.Identifier(name))


def release_savepoint(name):
    return sql.SQL('RELEASE SAVEPOINT {}').format(sql.Identifier(name))


# -- cluster_info ---------------------------------------------------------------
# Statements of the read-only cluster_info module. Probes run inside a
# savepoint that is always rolled back, so nothing they create survives.

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
