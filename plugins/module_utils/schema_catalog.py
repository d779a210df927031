# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog readers of a table's schema objects: its secondary indexes and its CHECK and foreign key
constraints, many tables in one query each, and the server's own spelling of SQL expressions.

Beside catalog.py (which reads the tables themselves) for size only: the same rules, plain dicts out, every
name composed with psycopg2.sql. What partitioned_table manages carries the comment MANAGED, so an index or a
constraint taken out of its list is dropped while the ones made by hand stay.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.catalog import fetch_all
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message, savepoint
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    pass

MANAGED = 'managed by pgdist.cluster.partitioned_table'
READ_ONLY_TRANSACTION = '25006'


def _by_oid(oids, rows):
    result = dict((oid, {}) for oid in oids)
    for row in rows:
        oid = row.pop('oid')
        row['managed'] = row.pop('comment') == MANAGED
        result[oid][row['name']] = row
    return result


def indexes(conn, oids):
    """{table oid: {index name: dict(name, columns, unique, method, predicate, valid, managed)}}: the indexes
    that back no constraint of the table (its primary key has its own option); an expression column is None."""
    if not oids:
        return {}
    rows = fetch_all(conn, """
        SELECT i.indrelid AS oid, c.relname AS name, i.indisunique AS unique, am.amname AS method,
               i.indisvalid AS valid, pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
               ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      ORDER BY k.n) AS columns,
               pg_catalog.obj_description(c.oid, 'pg_class') AS comment
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
          JOIN pg_catalog.pg_am am ON am.oid = c.relam
         WHERE i.indrelid = ANY(%s::oid[])
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                            WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)""", (list(oids),))
    return _by_oid(oids, rows)


def constraints(conn, oids):
    """{table oid: {name: dict(name, type ('c' or 'f'), validated, expression, columns, table, references,
    managed)}} of the CHECK and foreign key constraints of the tables (not the bounds CHECKs: bounds.py)."""
    if not oids:
        return {}
    rows = fetch_all(conn, """
        SELECT k.conrelid AS oid, k.conname AS name, k.contype AS type, k.convalidated AS validated,
               pg_catalog.pg_get_expr(k.conbin, k.conrelid) AS expression,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, n)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                      ORDER BY u.n) AS columns,
               rn.nspname || '.' || r.relname AS table,
               ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, n)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
                      ORDER BY u.n) AS references,
               pg_catalog.obj_description(k.oid, 'pg_constraint') AS comment
          FROM pg_catalog.pg_constraint k
          LEFT JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
          LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
         WHERE k.conrelid = ANY(%s::oid[]) AND k.contype IN ('c', 'f')
           AND k.conname NOT LIKE 'pgdist\\_bounds\\_%%'""", (list(oids),))
    return _by_oid(oids, rows)


def _probe_statement(table, kind, name, text, index_columns):
    if kind == 'check':
        return sqlbuild.add_constraint(table, sqlbuild.expression_check(name, text))
    if kind == 'predicate':
        return sqlbuild.create_index(name, table, index_columns, where=text)
    return sqlbuild.set_default_expression(table, name, text)


def canonical_expressions(conn, columns, expressions):
    """{(kind, name): the expression as the server prints it back} for [(kind, name, text, field, columns)],
    kind being check (a CHECK named name), predicate (of index name, on its columns) or default (of column
    name), on a temporary table with columns [(name, type_sql)] that is rolled back at once. None in a
    read-only transaction (nothing can be created). A refused expression fails naming its field and the
    server's reason."""
    table = sql.Identifier('pg_temp', 'pgdist_probe_' + uuid.uuid4().hex[:16])
    field = None
    try:
        with savepoint(conn, 'pgdist_expressions', keep=False), conn.cursor() as cursor:
            cursor.execute(sqlbuild.create_table(table, [(name, type_sql, True, None) for name, type_sql in columns]))
            for kind, name, text, field, index_columns in expressions:
                cursor.execute(_probe_statement(table, kind, name, text, index_columns))
            field = None
            rows = fetch_all(conn, sql.SQL("""
                SELECT 'check' AS kind, conname::text AS name, pg_catalog.pg_get_expr(conbin, conrelid) AS text
                  FROM pg_catalog.pg_constraint WHERE conrelid = {table}::regclass AND contype = 'c'
                UNION ALL
                SELECT 'predicate', c.relname::text, pg_catalog.pg_get_expr(i.indpred, i.indrelid)
                  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
                 WHERE i.indrelid = {table}::regclass
                UNION ALL
                SELECT 'default', a.attname::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid)
                  FROM pg_catalog.pg_attrdef d
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                 WHERE d.adrelid = {table}::regclass""").format(table=sql.Literal(table.as_string(conn))))
    except psycopg2.Error as exc:
        if exc.pgcode == READ_ONLY_TRANSACTION and field is None:
            return None
        raise InvalidInput('%s: PostgreSQL refused it: %s' % (field or 'expressions', pg_message(exc)))
    return dict(((row['kind'], row['name']), row['text']) for row in rows)
