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


def create_user_mapping(user, server, options):
    return sql.SQL('CREATE USER MAPPING FOR {} SERVER {}{}').format(
        role_spec(user), sql.Identifier(server), create_options_clause(options))


def alter_user_mapping_options(user, server, actions):
    return sql.SQL('ALTER USER MAPPING FOR {} SERVER {} {}').format(
        role_spec(user), sql.Identifier(server), options_clause(actions))


def drop_user_mapping(user, server):
    return sql.SQL('DROP USER MAPPING FOR {} SERVER {}').format(role_spec(user), sql.Identifier(server))


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
