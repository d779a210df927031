# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog readers of pgdist.cluster.cluster_info: read-only views of a whole node.

The readers of single objects that the reconcilers compare are in catalog.py;
these read everything of a kind at once, for the report. Secrets are filtered
by the caller (module_utils/cluster_info.py) before anything is shown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.catalog import (
    fetch_all, fetch_one, parse_options, subscription_option_columns)
from ansible_collections.pgdist.cluster.plugins.module_utils.versions import has


_USER_SCHEMAS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"""


def instance_summary(conn):
    return fetch_one(conn, """
        SELECT pg_catalog.current_setting('server_version') AS version,
               pg_catalog.current_setting('server_version_num')::int AS version_num,
               pg_catalog.pg_is_in_recovery() AS in_recovery,
               pg_catalog.current_database() AS database, current_user AS user,
               pg_catalog.pg_postmaster_start_time()::text AS started_at""")


def all_foreign_servers(conn):
    rows = fetch_all(conn, """
        SELECT s.srvname AS name, w.fdwname AS fdw, pg_catalog.pg_get_userbyid(s.srvowner) AS owner,
               s.srvoptions AS options, s.srvversion AS version,
               (s.srvowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
                OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)) AS can_alter
          FROM pg_catalog.pg_foreign_server s
          JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
         ORDER BY s.srvname""")
    for row in rows:
        row['options'] = parse_options(row['options'])
    return rows


def all_user_mappings(conn):
    """Every user mapping visible to us; options hold secrets (the caller removes them)."""
    rows = fetch_all(conn, """
        SELECT m.srvname AS server, m.usename AS user, m.umoptions AS options
          FROM pg_catalog.pg_user_mappings m ORDER BY m.srvname, m.usename""")
    for row in rows:
        row['options'] = parse_options(row['options'])
    return rows


def partition_roots(conn):
    """Declarative partitioned tables and inheritance parents that are not themselves children."""
    return fetch_all(conn, """
        SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name,
               CASE c.relkind WHEN 'p' THEN 'declarative' ELSE 'inheritance' END AS method,
               CASE c.relkind WHEN 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
               c.reltuples::float8 AS reltuples,
               ARRAY(SELECT t.tgname::text FROM pg_catalog.pg_trigger t
                      WHERE t.tgrelid = c.oid AND NOT t.tgisinternal ORDER BY t.tgname) AS triggers
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition AND """ + _USER_SCHEMAS + """
           AND (c.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
         ORDER BY n.nspname, c.relname""")


def partition_descendants(conn, root_oids):
    """Every partition or inheritance child below root_oids, in tree order.

    bound is pg_get_expr(relpartbound) for declarative partitions; checks are
    the child's own CHECK constraints, which is how inheritance children state
    what they hold.
    """
    if not root_oids:
        return []
    rows = fetch_all(conn, """
        WITH RECURSIVE tree AS (
            SELECT i.inhrelid AS relid, i.inhparent AS parent, i.inhparent AS root, 1 AS level,
                   ARRAY[i.inhrelid::regclass::text] AS path
              FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY (%s::oid[])
            UNION ALL
            SELECT i.inhrelid, i.inhparent, t.root, t.level + 1, t.path || i.inhrelid::regclass::text
              FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid)
        SELECT t.root::bigint AS root, t.level, pn.nspname AS parent_schema, p.relname AS parent_name,
               n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
               pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound,
               ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k
                      WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conislocal ORDER BY k.conname) AS checks,
               s.srvname AS server, w.fdwname AS fdw, ft.ftoptions AS foreign_options,
               c.reltuples::float8 AS reltuples
          FROM tree t
          JOIN pg_catalog.pg_class c ON c.oid = t.relid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_catalog.pg_class p ON p.oid = t.parent
          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
          LEFT JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
          LEFT JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
         WHERE c.relkind IN ('r', 'p', 'f')
         ORDER BY t.root, t.path""", ([int(oid) for oid in root_oids],))
    for row in rows:
        row['foreign_options'] = parse_options(row['foreign_options']) if row['server'] else None
    return rows


def count_rows(conn, query):
    """Run a SELECT count(*) built by sqlbuild.count_rows."""
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]


def probe_remote_setting(conn, query, name):
    """A remote setting, read through a probe foreign table on pg_settings (sqlbuild.probe_setting_query)."""
    with conn.cursor() as cursor:
        cursor.execute(query, (name,))
        row = cursor.fetchone()
        return row[0] if row else None


def probe_remote_reltuples(conn, query, relnames):
    """(schema, name) -> reltuples on a remote server, through probe foreign tables on its
    pg_class and pg_namespace (sqlbuild.probe_reltuples_query; join and filter run remotely)."""
    if not relnames:
        return {}
    with conn.cursor() as cursor:
        cursor.execute(query, (sorted(set(relnames)),))
        return dict(((schema, name), tuples) for schema, name, tuples in cursor.fetchall())


def all_publications(conn):
    return fetch_all(conn, """
        SELECT p.pubname AS name, pg_catalog.pg_get_userbyid(p.pubowner) AS owner,
               p.puballtables AS all_tables, p.pubinsert AS insert, p.pubupdate AS update,
               p.pubdelete AS delete, p.pubtruncate AS truncate, p.pubviaroot AS via_root,
               ARRAY(SELECT pt.schemaname || '.' || pt.tablename FROM pg_catalog.pg_publication_tables pt
                      WHERE pt.pubname = p.pubname ORDER BY 1) AS tables
          FROM pg_catalog.pg_publication p ORDER BY p.pubname""")


def can_read_subscription_conninfo(conn):
    row = fetch_one(conn, """SELECT pg_catalog.has_column_privilege('pg_catalog.pg_subscription', 'subconninfo',
                                                                     'SELECT') AS ok""")
    return row['ok']


def all_subscriptions(conn, with_conninfo):
    """Subscriptions of the current database; conninfo holds secrets (the caller removes them)."""
    return fetch_all(conn, """
        SELECT s.subname AS name, pg_catalog.pg_get_userbyid(s.subowner) AS owner, s.subenabled AS enabled,
               {conninfo} AS conninfo, s.subslotname AS slot_name, s.subpublications AS publications,
               {options},
               w.pid AS worker_pid, w.received_lsn::text AS received_lsn, w.latest_end_lsn::text AS latest_end_lsn,
               w.last_msg_receipt_time::text AS last_msg_receipt_time, w.latest_end_time::text AS latest_end_time,
               EXTRACT(EPOCH FROM (pg_catalog.now() - w.latest_end_time))::float8 AS seconds_since_last_report,
               (SELECT pg_catalog.json_object_agg(x.state, x.n) FROM (
                    SELECT CASE r.srsubstate WHEN 'i' THEN 'initialize' WHEN 'd' THEN 'data_copy'
                                             WHEN 'f' THEN 'finished_copy' WHEN 's' THEN 'synchronized'
                                             WHEN 'r' THEN 'ready' ELSE r.srsubstate::text END AS state,
                           count(*) AS n
                      FROM pg_catalog.pg_subscription_rel r WHERE r.srsubid = s.oid GROUP BY 1) x) AS table_states
          FROM pg_catalog.pg_subscription s
          LEFT JOIN pg_catalog.pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL{leader}
         WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
         ORDER BY s.subname""".format(conninfo='s.subconninfo' if with_conninfo else 'NULL::text',
                                      options=subscription_option_columns(conn),
                                      # 16 added parallel apply workers: relid NULL too, leader_pid set
                                      leader=' AND w.leader_pid IS NULL' if has(conn, 16) else ''))


def replication_slots(conn):
    """Slots with the WAL each one holds back (bytes from its restart_lsn to the current WAL position)."""
    return fetch_all(conn, """
        SELECT s.slot_name AS name, s.slot_type AS type, s.plugin, s.database, s.active, s.active_pid,
               s.temporary, s.restart_lsn::text AS restart_lsn, s.confirmed_flush_lsn::text AS confirmed_flush_lsn,
               s.wal_status,
               pg_catalog.pg_wal_lsn_diff(
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
                        ELSE pg_catalog.pg_current_wal_lsn() END, s.restart_lsn)::bigint AS retained_wal_bytes,
               pg_catalog.pg_wal_lsn_diff(
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
                        ELSE pg_catalog.pg_current_wal_lsn() END, s.confirmed_flush_lsn)::bigint AS lag_bytes
          FROM pg_catalog.pg_replication_slots s ORDER BY s.slot_name""")


def replication_senders(conn):
    """pg_stat_replication: the walsenders serving subscribers or standbys, with their lag."""
    return fetch_all(conn, """
        SELECT r.application_name, r.client_addr::text AS client_addr, r.state, r.sync_state,
               r.sent_lsn::text AS sent_lsn, r.replay_lsn::text AS replay_lsn,
               pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::bigint AS lag_bytes,
               EXTRACT(EPOCH FROM r.write_lag)::float8 AS write_lag_s,
               EXTRACT(EPOCH FROM r.flush_lag)::float8 AS flush_lag_s,
               EXTRACT(EPOCH FROM r.replay_lag)::float8 AS replay_lag_s
          FROM pg_catalog.pg_stat_replication r ORDER BY r.application_name, r.pid""")


def settings(conn, names):
    """pg_settings rows for names (unknown names are left out); sourcefile and sourceline are NULL unless
    we are superuser or pg_read_all_settings."""
    return fetch_all(conn, """
        SELECT name, setting, unit, source, sourcefile, sourceline, context, pending_restart,
               pg_catalog.current_setting(name) AS value
          FROM pg_catalog.pg_settings WHERE name = ANY (%s::text[]) ORDER BY name""", (list(names),))


def can_read_file_settings(conn):
    row = fetch_one(conn, "SELECT pg_catalog.has_function_privilege('pg_catalog.pg_show_all_file_settings()', "
                          "'EXECUTE') AS ok")
    return row['ok']


def file_settings(conn):
    """Every entry of the configuration files in the order PostgreSQL reads them (pg_file_settings;
    applied is true for the entry that wins)."""
    return fetch_all(conn, """
        SELECT seqno, sourcefile, sourceline, name, setting, applied, error
          FROM pg_catalog.pg_file_settings ORDER BY seqno""")


def hba_file(conn):
    """pg_hba.conf's path and first line (tools that write the whole file mark it there); the line is None
    unless we may read server files (superuser or pg_read_server_files)."""
    return fetch_one(conn, """
        SELECT pg_catalog.current_setting('hba_file') AS path,
               CASE WHEN pg_catalog.has_function_privilege('pg_catalog.pg_read_file(text, bigint, bigint)', 'EXECUTE')
                    THEN split_part(pg_catalog.pg_read_file(pg_catalog.current_setting('hba_file'), 0, 512), E'\n', 1)
               END AS first_line""")


def archiver(conn):
    """WAL archiving: archive_mode and pg_stat_archiver (counts, last archived and last failed WAL file, seconds since)."""
    return fetch_one(conn, """
        SELECT pg_catalog.current_setting('archive_mode') AS archive_mode, archived_count, last_archived_wal,
               last_archived_time::text AS last_archived_time,
               round(extract(epoch FROM now() - last_archived_time)::numeric, 1)::float8 AS last_archived_age_seconds,
               failed_count, last_failed_wal, last_failed_time::text AS last_failed_time,
               coalesce(last_failed_time > last_archived_time OR (last_failed_time IS NOT NULL
                                                                 AND last_archived_time IS NULL), false) AS failing
          FROM pg_catalog.pg_stat_archiver""")


# -- distributed transactions (the coordinator extension, pgdist) -----------------------------------------

def prepared_transactions(conn):
    """This node's prepared transactions (every database), oldest first, with their age."""
    return fetch_all(conn, """
        SELECT gid, database, owner, prepared::text AS prepared,
               round(extract(epoch FROM now() - prepared)::numeric, 1)::float8 AS age_seconds
          FROM pg_catalog.pg_prepared_xacts ORDER BY prepared, gid""")


def pgdist_stats(conn):
    return fetch_one(conn, "SELECT * FROM pgdist.stats()")


def pgdist_in_doubt(conn):
    """The coordinator's prepared transactions on every node, with the outcome recovery gives them."""
    return fetch_all(conn, """
        SELECT server, gid, prepared::text AS prepared,
               round(extract(epoch FROM now() - prepared)::numeric, 1)::float8 AS age_seconds, owner,
               coordinator_outcome
          FROM pgdist.prepared_transactions() ORDER BY prepared, gid""")


def pgdist_lock_waits(conn, seconds):
    """Coordinator backends waiting at least seconds for a lock, here or on a shard, with who holds it."""
    return fetch_all(conn, """
        SELECT waiting_pid, blocked_by, location, round(waited_seconds::numeric, 1)::float8 AS waited_seconds
          FROM pgdist.lock_waits(make_interval(secs => %s)) ORDER BY waited_seconds DESC""", (seconds,))
