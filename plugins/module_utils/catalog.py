# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog readers: the one place that knows where PostgreSQL keeps state.

Each reader returns plain dicts (or None when the object does not exist),
so reconcilers compare data, never SQL text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import psycopg2.extras
except ImportError:  # pragma: no cover - reported by the runner
    pass


def fetch_all(conn, query, params=None):
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute(query, params)
        return [dict(row) for row in cursor.fetchall()]


def fetch_one(conn, query, params=None):
    rows = fetch_all(conn, query, params)
    return rows[0] if rows else None


def parse_options(option_array):
    """text[] of 'name=value' (srvoptions, umoptions, ftoptions) to a dict."""
    return dict(item.split('=', 1) for item in (option_array or []))


def server_version(conn):
    return conn.server_version


def database(conn, name):
    return fetch_one(conn, """
        SELECT d.datname AS name, pg_catalog.pg_get_userbyid(d.datdba) AS owner,
               pg_catalog.pg_encoding_to_char(d.encoding) AS encoding,
               d.datcollate AS lc_collate, d.datctype AS lc_ctype
          FROM pg_catalog.pg_database d WHERE d.datname = %s""", (name,))


def role_exists(conn, name):
    return fetch_one(conn, "SELECT 1 AS found FROM pg_catalog.pg_roles WHERE rolname = %s", (name,)) is not None


def role(conn, name):
    """A role with its attributes; password is the stored verifier (None if unreadable)."""
    query = """
        SELECT rolname AS name, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolreplication, rolbypassrls, rolconnlimit AS connection_limit, {password} AS password
          FROM pg_catalog.{table} WHERE rolname = %s"""
    if can_read_authid(conn):
        return fetch_one(conn, query.format(password='rolpassword', table='pg_authid'), (name,))
    return fetch_one(conn, query.format(password='NULL::text', table='pg_roles'), (name,))


def can_read_authid(conn):
    row = fetch_one(conn, "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS ok")
    return row['ok']


def extension(conn, name):
    return fetch_one(conn, """
        SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
          FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = %s""", (name,))


def extension_available(conn, name):
    """Versions of an extension the server can install ([] when unknown)."""
    rows = fetch_all(conn, "SELECT version FROM pg_catalog.pg_available_extension_versions WHERE name = %s", (name,))
    return [row['version'] for row in rows]


def foreign_server(conn, name):
    row = fetch_one(conn, """
        SELECT s.srvname AS name, w.fdwname AS fdw, pg_catalog.pg_get_userbyid(s.srvowner) AS owner,
               s.srvoptions AS options
          FROM pg_catalog.pg_foreign_server s
          JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
         WHERE s.srvname = %s""", (name,))
    if row:
        row['options'] = parse_options(row['options'])
    return row


def foreign_tables_of_server(conn, server):
    """Qualified names of the foreign tables that use server."""
    rows = fetch_all(conn, """
        SELECT n.nspname || '.' || c.relname AS name
          FROM pg_catalog.pg_foreign_table ft
          JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
          JOIN pg_catalog.pg_class c ON c.oid = ft.ftrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE s.srvname = %s ORDER BY 1""", (server,))
    return [row['name'] for row in rows]


def user_mapping(conn, server, user):
    """A user mapping; user is a role name or 'public'. Options include secrets."""
    row = fetch_one(conn, """
        SELECT m.srvname AS server, m.usename AS user, m.umoptions AS options
          FROM pg_catalog.pg_user_mappings m
         WHERE m.srvname = %s AND m.usename = %s""", (server, user))
    if row:
        row['options'] = parse_options(row['options'])
    return row


def current_user(conn):
    return fetch_one(conn, "SELECT current_user AS name")['name']
