# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collector behind pgdist.cluster.cluster_info: a read-only picture of one node.

Nothing here queues a statement on the plan, so the module never reports a
change. Secrets never leave this file: user mapping passwords and conninfo
passwords are removed from the result (not masked), and every secret seen is
also registered as a no_log value so Ansible would hide it anywhere.

Reachability probe (how the coordinator itself sees each shard)
---------------------------------------------------------------
dblink is not guaranteed to be installed, and connecting with libpq from the
managed host would test another path (and need the password). So each
postgres_fdw server is probed through postgres_fdw, with the coordinator's
own user mapping, inside a savepoint that is always rolled back:

    SAVEPOINT; SET LOCAL statement_timeout/lock_timeout;
    ALTER SERVER s OPTIONS (ADD|SET connect_timeout '<probe_timeout>')   -- when we may
    CREATE FOREIGN TABLE pg_temp.probe (...) SERVER s
        OPTIONS (schema_name 'pg_catalog', table_name 'pg_settings');
    SELECT setting FROM pg_temp.probe WHERE name = 'server_version';     -- connects
    SELECT ... again, timed                                               -- round trip
    ROLLBACK TO SAVEPOINT

The rollback removes the temporary table and the connect_timeout override
(no invalidation is ever committed, other sessions see nothing). A refused
or timed out connection becomes reachable=false with the reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, cluster_catalog, sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import savepoint, scrub
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput, split_qualified
from ansible_collections.pgdist.cluster.plugins.module_utils.node_plan import MANAGED_SETTINGS, OBSERVED_SETTINGS
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import remote_table
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import SECRET_OPTIONS

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - reported by the runner
    pass

# The settings the roles manage (node_plan.MANAGED_SETTINGS, the one list) and a few that size the node.
DEFAULT_SETTINGS = MANAGED_SETTINGS + OBSERVED_SETTINGS

SAVEPOINT = 'pgdist_cluster_info'
PROBE_SETTINGS = 'pgdist_probe_settings'
PROBE_CLASS = 'pgdist_probe_class'
PROBE_NAMESPACE = 'pgdist_probe_namespace'


class Collector(object):
    def __init__(self, request):
        self.request = request
        self.conn = request.conn
        self.params = request.params
        self.secrets = set()

    # -- helpers -----------------------------------------------------------------

    def secret(self, value):
        if value:
            self.secrets.add(value)
            self.request.secret(value)

    def message(self, exc):
        text = getattr(exc, 'pgerror', None) or str(exc)
        return scrub(' '.join(text.strip().split()), self.secrets)

    def execute(self, query):
        with self.conn.cursor() as cursor:
            cursor.execute(query)

    def guarded(self, work):
        """Run work() in a savepoint that is always rolled back; return (value, error)."""
        try:
            with savepoint(self.conn, SAVEPOINT, keep=False):
                return work(), None
        except psycopg2.Error as exc:
            return None, self.message(exc)

    # -- sections ----------------------------------------------------------------

    def foreign_servers(self):
        servers = {}
        for row in cluster_catalog.all_foreign_servers(self.conn):
            for name in SECRET_OPTIONS:
                self.secret(row['options'].get(name))
            options = dict((k, v) for k, v in row['options'].items() if k not in SECRET_OPTIONS)
            servers[row['name']] = dict(fdw=row['fdw'], owner=row['owner'], options=options,
                                        version=row['version'], can_alter=row['can_alter'])
        return servers

    def user_mappings(self):
        mappings = []
        for row in cluster_catalog.all_user_mappings(self.conn):
            for name in SECRET_OPTIONS:
                self.secret(row['options'].get(name))
            mappings.append(dict(
                server=row['server'], user=row['user'],
                options=dict((k, v) for k, v in row['options'].items() if k not in SECRET_OPTIONS),
                has_password='password' in row['options']))
        return mappings

    def probe(self, name, server, remote_relations):
        """Reachability, connect time and round trip of one postgres_fdw server (see module doc)."""
        timeout = self.params['probe_timeout']
        result = dict(reachable=None, connect_ms=None, rtt_ms=None, remote_version=None, error=None)
        estimates = {}

        def work():
            self.execute(sqlbuild.set_local('statement_timeout', '%ds' % (timeout * 2)))
            self.execute(sqlbuild.set_local('lock_timeout', '%ds' % timeout))
            if server['can_alter']:
                action = 'SET' if 'connect_timeout' in server['options'] else 'ADD'
                self.execute(sqlbuild.alter_server_options(name, [(action, 'connect_timeout', str(timeout))]))
            self.execute(sqlbuild.create_probe_table(
                PROBE_SETTINGS, [('name', 'text'), ('setting', 'text')], name, 'pg_catalog', 'pg_settings'))
            query = sqlbuild.probe_setting_query(PROBE_SETTINGS)
            started = time.time()
            result['remote_version'] = cluster_catalog.probe_remote_setting(self.conn, query, 'server_version')
            result['connect_ms'] = round((time.time() - started) * 1000.0, 3)
            rounds = []
            for dummy in range(3):
                started = time.time()
                cluster_catalog.probe_remote_setting(self.conn, query, 'server_version_num')
                rounds.append(time.time() - started)
            result['rtt_ms'] = round(min(rounds) * 1000.0, 3)
            result['reachable'] = True
            if remote_relations:
                self.execute(sqlbuild.create_probe_table(
                    PROBE_CLASS, [('oid', 'oid'), ('relname', 'name'), ('relnamespace', 'oid'), ('reltuples', 'real')],
                    name, 'pg_catalog', 'pg_class'))
                self.execute(sqlbuild.create_probe_table(
                    PROBE_NAMESPACE, [('oid', 'oid'), ('nspname', 'name')], name, 'pg_catalog', 'pg_namespace'))
                estimates.update(cluster_catalog.probe_remote_reltuples(
                    self.conn, sqlbuild.probe_reltuples_query(PROBE_CLASS, PROBE_NAMESPACE),
                    [relname for schema, relname in remote_relations]))

        dummy, error = self.guarded(work)
        if error:
            result['error'] = error
            if result['reachable'] is None:
                result['reachable'] = False
        return result, estimates

    def tables(self, reachability, remote_estimates):
        wanted = None
        if self.params.get('tables'):
            wanted = set(split_qualified(name, 'tables') for name in self.params['tables'])
        roots = [row for row in cluster_catalog.partition_roots(self.conn)
                 if wanted is None or (row['schema'], row['name']) in wanted]
        if wanted:
            missing = wanted - set((row['schema'], row['name']) for row in roots)
            if missing:
                raise InvalidInput('tables: %s %s not a partitioned table or inheritance parent here' % (
                    ', '.join(sorted('%s.%s' % pair for pair in missing)), 'is' if len(missing) == 1 else 'are'))
        children = cluster_catalog.partition_descendants(self.conn, [row['oid'] for row in roots])
        mode = self.params['row_counts']
        tables = {}
        by_oid = {}
        for row in roots:
            entry = dict(schema=row['schema'], name=row['name'], method=row['method'],
                         partition_key=row['partition_key'], triggers=row['triggers'], partitions=[])
            if row['method'] == 'inheritance':
                entry['parent_rows'] = self.count('local', row, reachability, remote_estimates, mode)
            tables['%s.%s' % (row['schema'], row['name'])] = entry
            by_oid[row['oid']] = entry
        for row in children:
            kind = {'r': 'local', 'f': 'foreign', 'p': 'partitioned'}[row['relkind']]
            part = dict(name=row['name'], schema=row['schema'], level=row['level'],
                        parent='%s.%s' % (row['parent_schema'], row['parent_name']), kind=kind,
                        bound=row['bound'], checks=row['checks'], server=row['server'])
            if kind == 'foreign':
                options = row['foreign_options'] or {}
                part['remote_table'] = None
                if row['fdw'] == 'postgres_fdw':
                    part['remote_table'] = '%s.%s' % remote_table(row['schema'], row['name'], options)
                part['foreign_options'] = dict((k, v) for k, v in options.items() if k not in SECRET_OPTIONS)
            if kind != 'partitioned':
                part['rows'], part['rows_error'] = self.count(kind, row, reachability, remote_estimates,
                                                              mode)
            by_oid[row['root']]['partitions'].append(part)
        for entry in tables.values():
            entry['partition_count'] = len([p for p in entry['partitions'] if p['kind'] != 'partitioned'])
            if mode != 'none':
                entry['rows_by_location'] = self.rows_by_location(entry)
                counted = [p['rows'] for p in entry['partitions'] if p.get('rows') is not None]
                entry['rows'] = sum(counted) if counted else None
        return tables

    @staticmethod
    def rows_by_location(entry):
        """rows per shard (server name) and 'local', for the status report."""
        totals = {}
        for part in entry['partitions']:
            if part['kind'] == 'partitioned':
                continue
            key = part['server'] or 'local'
            if part.get('rows') is not None:
                totals[key] = (totals.get(key) or 0) + part['rows']
            else:
                totals.setdefault(key, None)
        if entry.get('parent_rows') and entry['parent_rows'][0]:
            totals['local'] = (totals.get('local') or 0) + entry['parent_rows'][0]
        return totals

    def count(self, kind, row, reachability, remote_estimates, mode):
        """(rows, error) for one leaf under the requested mode."""
        if mode == 'none':
            return None, None
        if kind == 'foreign':
            probe = reachability.get(row['server'])
            if probe is not None and probe['reachable'] is False:
                return None, 'server %s is unreachable' % row['server']
        if mode == 'estimated':
            if kind == 'foreign' and row['fdw'] == 'postgres_fdw' and row['server'] in remote_estimates:
                key = remote_table(row['schema'], row['name'], row['foreign_options'])
                tuples = remote_estimates[row['server']].get(key)
            else:
                tuples = row['reltuples']
            if tuples is None or tuples < 0:
                return None, 'no statistics yet (never analyzed)'
            return int(tuples), None
        query = sqlbuild.count_rows(row['schema'], row['name'])
        value, error = self.guarded(lambda: cluster_catalog.count_rows(self.conn, query))
        return value, error

    def subscriptions(self):
        readable = cluster_catalog.can_read_subscription_conninfo(self.conn)
        subscriptions = {}
        for row in cluster_catalog.all_subscriptions(self.conn, readable):
            name = row.pop('name')
            row['conninfo'] = strip_conninfo_secrets(row['conninfo'], self.secret) if readable else None
            subscriptions[name] = row
        return subscriptions

    def settings(self):
        names = self.params.get('settings') or DEFAULT_SETTINGS
        return dict((row.pop('name'), row) for row in cluster_catalog.settings(self.conn, names))

    def file_settings(self):
        """Every configuration file entry in reading order, or None when we may not read them."""
        if not cluster_catalog.can_read_file_settings(self.conn):
            return None
        return cluster_catalog.file_settings(self.conn)

    def transactions(self):
        """Prepared transactions of this node; with the coordinator extension, its counters, the in-doubt
        transactions on every node and the lock waits across nodes (an unreachable shard gives an error)."""
        info = dict(prepared_transactions=cluster_catalog.prepared_transactions(self.conn), pgdist=None)
        if catalog.extension(self.conn, 'pgdist') is None:
            return info
        stats, stats_error = self.guarded(lambda: cluster_catalog.pgdist_stats(self.conn))
        in_doubt, in_doubt_error = self.guarded(lambda: cluster_catalog.pgdist_in_doubt(self.conn))
        waits, waits_error = self.guarded(lambda: cluster_catalog.pgdist_lock_waits(self.conn, self.params['lock_wait_min']))
        info['pgdist'] = dict(stats=stats, in_doubt=in_doubt, lock_waits=waits,
                              errors=[error for error in (stats_error, in_doubt_error, waits_error) if error])
        return info

    # -- all ---------------------------------------------------------------------

    def collect(self):
        gather = set(self.params['gather'])
        info = dict(instance=cluster_catalog.instance_summary(self.conn), row_counts=self.params['row_counts'])
        servers = self.foreign_servers()
        mappings = self.user_mappings()
        reachability, remote_estimates = {}, {}
        if 'foreign_servers' in gather or 'tables' in gather:
            relations = {}
            if 'tables' in gather and self.params['row_counts'] == 'estimated':
                relations = self.remote_relations()
            for name, server in servers.items():
                if not self.params['probe']:
                    continue
                if server['fdw'] != 'postgres_fdw':
                    server['reachable'] = None
                    server['probe_error'] = 'only postgres_fdw servers are probed'
                    continue
                probe, estimates = self.probe(name, server, relations.get(name))
                reachability[name] = probe
                remote_estimates[name] = estimates
        for name, server in servers.items():
            probe = reachability.get(name, {})
            server.update(reachable=probe.get('reachable'), connect_ms=probe.get('connect_ms'),
                          rtt_ms=probe.get('rtt_ms'), remote_version=probe.get('remote_version'),
                          probe_error=probe.get('error', server.get('probe_error')))
            server.pop('can_alter', None)
        if 'foreign_servers' in gather:
            info['foreign_servers'] = servers
            info['user_mappings'] = mappings
            info['unreachable_servers'] = sorted(n for n, s in servers.items() if s['reachable'] is False)
        if 'tables' in gather:
            info['tables'] = self.tables(reachability, remote_estimates)
        if 'replication' in gather:
            info['publications'] = dict((row.pop('name'), row) for row in cluster_catalog.all_publications(self.conn))
            info['subscriptions'] = self.subscriptions()
            info['replication_slots'] = dict((row.pop('name'), row) for row in cluster_catalog.replication_slots(self.conn))
            info['replication_senders'] = cluster_catalog.replication_senders(self.conn)
        if 'transactions' in gather:
            info.update(self.transactions())
        if 'archiver' in gather:
            info['archiver'] = cluster_catalog.archiver(self.conn)
        if self.params.get('relations'):
            names = [split_qualified(name, 'relations') for name in self.params['relations']]
            found = catalog.relations(self.conn, names)
            info['relations'] = dict(('%s.%s' % pair, pair in found) for pair in names)
        if 'settings' in gather:
            info['settings'] = self.settings()
            info['pending_restart'] = sorted(n for n, s in info['settings'].items() if s['pending_restart'])
            info['file_settings'] = self.file_settings()
            info['hba_file'] = cluster_catalog.hba_file(self.conn)
        return info

    def remote_relations(self):
        """server -> [(schema, name)] of the postgres_fdw foreign tables below partitioned parents."""
        roots = cluster_catalog.partition_roots(self.conn)
        relations = {}
        for row in cluster_catalog.partition_descendants(self.conn, [r['oid'] for r in roots]):
            if row['relkind'] == 'f' and row['fdw'] == 'postgres_fdw':
                relations.setdefault(row['server'], []).append(
                    remote_table(row['schema'], row['name'], row['foreign_options']))
        return relations


def strip_conninfo_secrets(conninfo, register=None):
    """conninfo with password (and sslpassword) removed; None when it cannot be parsed."""
    if conninfo is None:
        return None
    try:
        parts = psycopg2.extensions.parse_dsn(conninfo)
    except psycopg2.Error:
        return None
    for key in SECRET_OPTIONS:
        value = parts.pop(key, None)
        if register:
            register(value)
    return psycopg2.extensions.make_dsn(**parts) if parts else ''


def cluster_info(request):
    """Reconcile function for run_module: reads only, returns the picture as extra result keys."""
    return Collector(request).collect()
