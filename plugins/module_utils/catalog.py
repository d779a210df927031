# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog readers: the one place that knows where PostgreSQL keeps state.

Each reader returns plain dicts (or None when the object does not exist),
so reconcilers compare data, never SQL text. The queries are written here;
where a name or a type is part of one, it is composed with psycopg2.sql like
every other statement (sqlbuild.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.versions import has

try:
    import psycopg2.extras
    from psycopg2 import sql
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


def role_memberships(conn, name):
    """The roles name is a direct member of, sorted."""
    rows = fetch_all(conn, """
        SELECT r.rolname AS name FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles r ON r.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member
         WHERE u.rolname = %s ORDER BY 1""", (name,))
    return [row['name'] for row in rows]


def can_admin_role(conn, name):
    """Whether the current user holds ADMIN OPTION on role name (superusers always do)."""
    return fetch_one(conn, "SELECT pg_catalog.pg_has_role(%s, 'MEMBER WITH ADMIN OPTION') AS ok", (name,))['ok']


def can_read_authid(conn):
    row = fetch_one(conn, "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS ok")
    return row['ok']


def extension(conn, name):
    return fetch_one(conn, """
        SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
          FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = %s""", (name,))


def extension_default_version(conn, name):
    """The version CREATE EXTENSION installs (the control file's default_version), None when unknown here."""
    row = fetch_one(conn, "SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = %s", (name,))
    return row['default_version'] if row else None


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


def fdw_exists(conn, name):
    return fetch_one(conn, "SELECT 1 AS found FROM pg_catalog.pg_foreign_data_wrapper WHERE fdwname = %s",
                     (name,)) is not None


def fdw_validator(conn, fdw):
    """schema and name of a foreign-data wrapper's validator function, or None."""
    return fetch_one(conn, """
        SELECT n.nspname AS schema, p.proname AS name
          FROM pg_catalog.pg_foreign_data_wrapper w
          JOIN pg_catalog.pg_proc p ON p.oid = w.fdwvalidator
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE w.fdwname = %s""", (fdw,))


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


def setting(conn, name):
    """A setting's value, None where the server does not know it (an extension's setting it has not loaded)."""
    return fetch_one(conn, "SELECT pg_catalog.current_setting(%s, true) AS value", (name,))['value']


# -- replication ---------------------------------------------------------------

def relation_kind(conn, schema, name):
    """relkind of schema.name ('r' table, 'p' partitioned, ...) or None when it does not exist."""
    row = fetch_one(conn, """
        SELECT c.relkind::text AS kind FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    return row['kind'] if row else None


def schema_exists(conn, name):
    return fetch_one(conn, "SELECT 1 AS found FROM pg_catalog.pg_namespace WHERE nspname = %s", (name,)) is not None


def publication(conn, name):
    """A publication with its tables (row filter as pg_get_expr prints it, column list) and schemas.

    Row filters, column lists and TABLES IN SCHEMA exist from PostgreSQL 15 on: older servers have
    neither the columns nor pg_publication_namespace, and every table is published whole.
    """
    row = fetch_one(conn, """
        SELECT p.oid, p.pubname AS name, pg_catalog.pg_get_userbyid(p.pubowner) AS owner,
               p.puballtables AS all_tables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate,
               p.pubviaroot AS publish_via_partition_root
          FROM pg_catalog.pg_publication p WHERE p.pubname = %s""", (name,))
    if row is None:
        return None
    details = has(conn, 15)
    row['tables'] = fetch_all(conn, """
        SELECT n.nspname AS schema, c.relname AS name,
               {where} AS "where",
               {columns} AS columns
          FROM pg_catalog.pg_publication_rel pr
          JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE pr.prpubid = %s ORDER BY 1, 2""".format(
        where='pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)' if details else 'NULL::text',
        columns="""(SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs))""" if details else 'NULL::text[]'),
        (row['oid'],))
    row['tables_in_schema'] = [item['name'] for item in fetch_all(conn, """
        SELECT n.nspname AS name FROM pg_catalog.pg_publication_namespace pn
          JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid
         WHERE pn.pnpubid = %s ORDER BY 1""", (row['oid'],))] if details else []
    return row


def subscription_option_columns(conn):
    """binary, streaming (on, off or parallel; substream is a bool in 14 and 15, a "char" from 16 on) and
    disable_on_error. A server older than an option reads as what it does without it: no binary
    transfer (13), no streaming (13), errors retried (13, 14)."""
    if has(conn, 16):
        streaming = "CASE s.substream WHEN 't' THEN 'on' WHEN 'p' THEN 'parallel' ELSE 'off' END"
    elif has(conn, 14):
        streaming = "CASE WHEN s.substream THEN 'on' ELSE 'off' END"
    else:
        streaming = "'off'"
    return '%s AS binary, %s AS streaming, %s AS disable_on_error' % (
        's.subbinary' if has(conn, 14) else 'false', streaming, 's.subdisableonerr' if has(conn, 15) else 'false')


def subscription(conn, name):
    """A subscription of the current database; conninfo holds the password as stored (a secret)."""
    return fetch_one(conn, """
        SELECT s.subname AS name, pg_catalog.pg_get_userbyid(s.subowner) AS owner, s.subenabled AS enabled,
               {options},
               s.subconninfo AS conninfo, s.subslotname::text AS slot_name,
               s.subsynccommit AS synchronous_commit, s.subpublications AS publications
          FROM pg_catalog.pg_subscription s
          JOIN pg_catalog.pg_database d ON d.oid = s.subdbid
         WHERE d.datname = pg_catalog.current_database() AND s.subname = %s""".format(
        options=subscription_option_columns(conn)), (name,))


def replication_slot(conn, name):
    return fetch_one(conn, """
        SELECT slot_name::text AS name, slot_type AS type, active FROM pg_catalog.pg_replication_slots
         WHERE slot_name = %s""", (name,))


# -- partitioned tables ---------------------------------------------------------
# A whole table with all its partitions is read in a fixed number of queries,
# whatever the number of partitions.

def resolve_types(conn, names):
    """{type text: dict(oid, name, category, modin_schema, modin)} from the server's own parser.

    to_regtype() parses the text as a type name (NULL when there is no such type).
    """
    rows = fetch_all(conn, """
        SELECT w.name AS text, t.oid, pg_catalog.format_type(t.oid, NULL) AS name, t.typcategory AS category,
               pn.nspname AS modin_schema, p.proname AS modin
          FROM unnest(%s::text[]) AS w(name)
          LEFT JOIN pg_catalog.pg_type t ON t.oid = pg_catalog.to_regtype(w.name)
          LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.typmodin
          LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace""", (list(names),))
    return dict((row.pop('text'), row) for row in rows)


def type_with_modifier(conn, type_oid, modin_schema, modin, modifiers):
    """format_type() of a type with its modifiers, as the type's own typmodin computes them."""
    query = sql.SQL('SELECT pg_catalog.format_type(%s, {}(%s::cstring[])) AS name').format(
        sql.Identifier(modin_schema, modin))
    return fetch_one(conn, query, (type_oid, [str(m) for m in modifiers]))['name']


def canonical_values(conn, type_sql, values):
    """Each value cast to the type and back to text, as the server prints it.

    type_sql is the server's own format_type() text (see resolve_types), the
    one piece of SQL here not built from Identifier or Literal.
    """
    query = sql.SQL('SELECT v::{}::text AS value FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n').format(
        sql.SQL(type_sql))
    return [row['value'] for row in fetch_all(conn, query, (list(values),))]


def existing_schemas(conn, names):
    rows = fetch_all(conn, "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s::text[])",
                     (list(names),))
    return set(row['nspname'] for row in rows)


def existing_servers(conn, names):
    rows = fetch_all(conn, "SELECT srvname FROM pg_catalog.pg_foreign_server WHERE srvname = ANY(%s::text[])",
                     (list(names),))
    return set(row['srvname'] for row in rows)


_RELATION_COLUMNS = """
        c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relispartition AS is_partition,
        pt.partstrat AS strategy, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound,
        s.srvname AS server, ft.ftoptions AS options,
        (SELECT pg_catalog.array_agg(k.conname ORDER BY k.conname) FROM pg_catalog.pg_constraint k
          WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conname LIKE 'pgdist\\_bounds\\_%%') AS bound_checks,
        (SELECT pg_catalog.array_agg(a.attname ORDER BY array_position(k.conkey, a.attnum))
           FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_attribute a
             ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
          WHERE k.conrelid = c.oid AND k.contype = 'p') AS primary_key
   FROM pg_catalog.pg_class c
   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid
   LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
   LEFT JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver"""


def _relation_rows(rows):
    for row in rows:
        row['options'] = parse_options(row['options'])
        row['bound_checks'] = row['bound_checks'] or []
    return rows


def relations(conn, names):
    """Tables named by (schema, name) pairs that exist, keyed by the pair."""
    rows = fetch_all(conn, 'SELECT' + _RELATION_COLUMNS + """
         JOIN unnest(%s::text[], %s::text[]) AS w(schema, name) ON w.schema = n.nspname AND w.name = c.relname""",
                     ([pair[0] for pair in names], [pair[1] for pair in names]))
    return dict(((row['schema'], row['name']), row) for row in _relation_rows(rows))


def children(conn, parent_oid):
    """Every direct child (partition or inheriting table) of a table, in one query."""
    rows = fetch_all(conn, 'SELECT' + _RELATION_COLUMNS + """
         JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid
        WHERE i.inhparent = %s ORDER BY c.relname""", (parent_oid,))
    return _relation_rows(rows)


def columns(conn, oids):
    """{oid: [dict(name, type, not_null, default, default_sequence)]} in column order, for many tables in one
    query; default_sequence is 'schema.name' of the sequence the default calls (nextval), else None."""
    rows = fetch_all(conn, """
        SELECT a.attrelid AS oid, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull AS not_null, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default,
               (SELECT sn.nspname || '.' || s.relname FROM pg_catalog.pg_depend dep
                  JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
                  JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
                 WHERE dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = d.oid
                   AND dep.refclassid = 'pg_catalog.pg_class'::regclass LIMIT 1) AS default_sequence
          FROM pg_catalog.pg_attribute a
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attrelid, a.attnum""", (list(oids),))
    result = dict((oid, []) for oid in oids)
    for row in rows:
        result[row.pop('oid')].append(row)
    return result


def function_sources(conn, names):
    """{(schema, name): prosrc} of the functions without arguments named by (schema, name) pairs that exist."""
    rows = fetch_all(conn, """
        SELECT n.nspname AS schema, p.proname AS name, p.prosrc
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          JOIN unnest(%s::text[], %s::text[]) AS w(schema, name) ON w.schema = n.nspname AND w.name = p.proname
         WHERE p.pronargs = 0""", ([pair[0] for pair in names], [pair[1] for pair in names]))
    return dict(((row['schema'], row['name']), row['prosrc']) for row in rows)


def triggers(conn, oids):
    """{oid: {trigger name: 'schema.function'}} of the triggers users made on the tables."""
    rows = fetch_all(conn, """
        SELECT t.tgrelid AS oid, t.tgname AS name, n.nspname || '.' || p.proname AS function
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE t.tgrelid = ANY(%s::oid[]) AND NOT t.tgisinternal""", (list(oids),))
    result = dict((oid, {}) for oid in oids)
    for row in rows:
        result[row['oid']][row['name']] = row['function']
    return result


def row_check(conn, query):
    """The one result row of a row check (partitioning.sql.has_rows, rows_outside)."""
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()


def replica_identities(conn, tables):
    """{(schema, name): dict(identity=relreplident, keyed=has a primary key or replica identity index)}
    for the plain tables among tables ((schema, name) pairs)."""
    if not tables:
        return {}
    rows = fetch_all(conn, """
        SELECT n.nspname AS schema, c.relname AS name, c.relreplident::text AS identity,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                        WHERE x.indrelid = c.oid AND (x.indisprimary OR x.indisreplident)) AS keyed
          FROM unnest(%s::text[], %s::text[]) AS w(schema, name)
          JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema
          JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.name AND c.relkind = 'r'""",
                     ([schema for schema, name in tables], [name for schema, name in tables]))
    return dict(((row.pop('schema'), row.pop('name')), row) for row in rows)


def table_privileges(conn, role, tables, privileges):
    """{(schema, name): dict(effective=[privileges role has], direct=[privileges granted to role itself])}
    for the tables among tables ((schema, name) pairs) that exist."""
    rows = fetch_all(conn, """
        SELECT n.nspname AS schema, c.relname AS name,
               ARRAY(SELECT p FROM unnest(%s::text[]) AS p
                      WHERE pg_catalog.has_table_privilege(%s, c.oid, p)) AS effective,
               ARRAY(SELECT a.privilege_type::text FROM pg_catalog.aclexplode(c.relacl) AS a
                      WHERE a.grantee = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = %s)) AS direct
          FROM unnest(%s::text[], %s::text[]) AS w(schema, name)
          JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema
          JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
         WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')""",
                     (list(privileges), role, role, [schema for schema, name in tables], [name for schema, name in tables]))
    return dict(((row.pop('schema'), row.pop('name')), row) for row in rows)


def usage_of_tables(conn, role, tables):
    """What role needs besides table privileges to use tables ((schema, name) pairs):
    {'schemas': {schema: held USAGE}, 'sequences': {(schema, name): dict(held=USAGE, direct=granted to role
    itself)}}, the sequences being those the tables' column defaults call (serial columns, nextval() defaults;
    identity columns need no privilege on theirs)."""
    schemas = sorted(set(schema for schema, name in tables))
    held = fetch_all(conn, """
        SELECT n.nspname AS schema, pg_catalog.has_schema_privilege(%s, n.oid, 'USAGE') AS held
          FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(%s::text[])""", (role, schemas))
    sequences = fetch_all(conn, """
        SELECT DISTINCT sn.nspname AS schema, s.relname AS name,
               pg_catalog.has_sequence_privilege(%s, s.oid, 'USAGE') AS held,
               EXISTS (SELECT 1 FROM pg_catalog.aclexplode(s.relacl) AS a
                        WHERE a.privilege_type = 'USAGE'
                          AND a.grantee = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = %s)) AS direct
          FROM unnest(%s::text[], %s::text[]) AS w(schema, name)
          JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema
          JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
          JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid
          JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
               AND dep.objid = d.oid AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
          JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
          JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
         ORDER BY 1, 2""", (role, role, [schema for schema, name in tables], [name for schema, name in tables]))
    return dict(schemas=dict((row['schema'], row['held']) for row in held),
                sequences=dict(((row['schema'], row['name']), dict(held=row['held'], direct=row['direct']))
                               for row in sequences))


# -- partition moves --------------------------------------------------------------
# pgdist.cluster.partition_move reads the coordinator here, and the source and target shards through the
# connections the coordinator's foreign servers and user mappings describe (the path postgres_fdw takes).

def foreign_partition(conn, schema, name):
    """A relation with what a move needs: kind, its server and options, its parent, bound, owner and comment."""
    row = fetch_one(conn, """
        SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, c.relispartition AS is_partition,
               pn.nspname AS parent_schema, p.relname AS parent_name, p.relkind::text AS parent_kind,
               pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound, s.srvname AS server,
               ft.ftoptions AS options, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
               pg_catalog.obj_description(c.oid, 'pg_class') AS comment
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid
          LEFT JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
          LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
          LEFT JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
         WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    if row:
        row['options'] = parse_options(row['options'])
    return row


def tables_with_prefix(conn, schema, prefix):
    """Names of the plain tables of schema whose name starts with prefix, in name order."""
    rows = fetch_all(conn, """
        SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind = 'r' AND left(c.relname, length(%s)) = %s ORDER BY 1""",
                     (schema, prefix, prefix))
    return [row['name'] for row in rows]


def publication_exists(conn, name):
    return fetch_one(conn, "SELECT 1 AS found FROM pg_catalog.pg_publication WHERE pubname = %s",
                     (name,)) is not None


def current_wal_lsn(conn, flush=False):
    """The current WAL position; flush: and the WAL up to it flushed, so walsenders send it at once rather than
    after the WAL writer's next round (a session with synchronous_commit off wrote it). A transaction commits
    synchronously only when it wrote WAL: a temporary table dropped at its commit, with synchronous_commit on,
    flushes everything before; it changes no data of anyone's. conn is in autocommit."""
    lsn = fetch_one(conn, "SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn")['lsn']
    if flush:
        with conn.cursor() as cursor:
            cursor.execute("BEGIN; SET LOCAL synchronous_commit = on; "
                           "CREATE TEMPORARY TABLE pgdist_wal_flush () ON COMMIT DROP; COMMIT")
    return lsn


def slot_progress(conn, name, lsn=None):
    """A slot's confirmed_flush_lsn and whether it reached lsn (the source's position: default now); None
    without the slot."""
    return fetch_one(conn, """
        SELECT slot_name::text AS name, active, confirmed_flush_lsn::text AS confirmed_flush_lsn,
               confirmed_flush_lsn >= COALESCE(%s::pg_lsn, pg_catalog.pg_current_wal_lsn()) AS reached,
               pg_catalog.pg_wal_lsn_diff(COALESCE(%s::pg_lsn, pg_catalog.pg_current_wal_lsn()),
                                          confirmed_flush_lsn)::bigint AS lag_bytes
          FROM pg_catalog.pg_replication_slots WHERE slot_name = %s""", (lsn, lsn, name))


def prepared_gids(conn, prefix):
    """gids of the prepared transactions of the current database whose gid starts with prefix."""
    rows = fetch_all(conn, """
        SELECT gid FROM pg_catalog.pg_prepared_xacts
         WHERE database = pg_catalog.current_database() AND left(gid, length(%s)) = %s ORDER BY prepared""",
                     (prefix, prefix))
    return [row['gid'] for row in rows]


def subscription_table_state(conn, subscription, schema, table):
    """dict(enabled, state) of a subscription of the current database and its state for schema.table
    (pg_subscription_rel.srsubstate: i, d, f, s, r; None when the table is not (yet) part of it), or None."""
    return fetch_one(conn, """
        SELECT s.subenabled AS enabled, s.subslotname::text AS slot_name,
               (SELECT r.srsubstate::text FROM pg_catalog.pg_subscription_rel r
                  JOIN pg_catalog.pg_class c ON c.oid = r.srrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE r.srsubid = s.oid AND n.nspname = %s AND c.relname = %s) AS state
          FROM pg_catalog.pg_subscription s
         WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
           AND s.subname = %s""", (schema, table, subscription))
