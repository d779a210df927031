# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgdist_plan: what every host must hold, computed once per run from the topology rules.

Pure Python like topology.py. build_plan() takes the inventory (each host's
variables as the plan role collected them, the cluster-wide variables) and
what cluster_info read before anything changed, and returns one dict:

    database, fdw_user, replication_user, coordinator, shards, replicas
    placement     {schema.partition: shard host} of every foreign partition
    placement_read  the host the current placement was read from, or None
    links         every subscription (topology.replication_links)
    moves         the partition moves of a rebalance (variables rebalance and drain; rebalance.py), else []
    refusals      why those moves cannot run yet
    skipped       hosts whose cluster does not run in check mode (nothing to connect to)
    hosts         {host: slice}

A host's slice is everything the roles need for it; each role reads only its
own keys (the server role: cluster, tls, settings, hba; the coordinator role:
database, foreign_servers, user_mappings; ...). See DESIGN.md for the list.

Settings come from contributions in a fixed order, later ones win: the
server's own, then the coordinator's, the shards', HA members' (ha.py),
replication's, and the user's pgdist_postgresql_settings last. A new role or feature that needs a
setting on some hosts adds a function to CONTRIBUTIONS and its names to
MANAGED_SETTINGS; nothing else changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import (
    app_users, backup, ha, monitoring, rebalance, transactions)
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import (
    check_foreign_keys, coordinator_tables, fdw_hba_rules, flag, peer, peer_ssl_options, pins_from_tables,
    place_partitions, published_tables, qualified_name, reference_table_spec, referenced_tables,
    replication_hba_rules, replication_links, require_ssl, shard_tables)

# Every setting a role may write (the conf.d include of the server role, the synchronous include of the
# replication role). cluster_info reports these by default, with OBSERVED_SETTINGS for context.
MANAGED_SETTINGS = (
    'listen_addresses', 'port', 'password_encryption', 'ssl', 'ssl_cert_file', 'ssl_key_file',
    'ssl_min_protocol_version', 'enable_partition_pruning', 'enable_partitionwise_aggregate',
    'enable_partitionwise_join', 'wal_level', 'max_wal_senders', 'max_replication_slots', 'max_slot_wal_keep_size',
    'synchronous_standby_names', 'hot_standby', 'wal_log_hints',
) + transactions.MANAGED_SETTINGS + backup.MANAGED_SETTINGS
OBSERVED_SETTINGS = (
    'max_connections', 'shared_buffers', 'max_worker_processes', 'max_logical_replication_workers',
    'max_sync_workers_per_subscription', 'wal_keep_size', 'work_mem', 'maintenance_work_mem',
    'effective_cache_size', 'enable_async_append', 'max_parallel_workers_per_gather', 'statement_timeout',
    'deadlock_timeout',
)
# The files the roles write in the cluster's configuration directory. Debian's postgresql.conf reads conf.d
# in name order at its end; postgresql.auto.conf (ALTER SYSTEM) is read after everything and wins.
CONF_DIR = 'conf.d'
SETTINGS_FILE = '50-pgdist.conf'
SYNCHRONOUS_FILE = '60-pgdist-synchronous.conf'
AUTO_CONF = 'postgresql.auto.conf'
# The first line of every pg_hba.conf the server role writes whole (roles/server/templates/pg_hba.conf.j2).
HBA_HEADER = '# Managed by Ansible (pgdist.cluster.server)'


class Inventory(object):
    """The inputs of one plan: groups, each host's facts, the cluster-wide variables, what was read."""

    def __init__(self, groups, facts, variables, reads):
        self.names = dict(coordinator=variables['coordinator_group'], shards=variables['shards_group'],
                          replicas=variables['replicas_group'], standbys=variables.get('standbys_group') or 'standbys',
                          etcd=variables.get('etcd_group') or 'etcd')
        self.coordinators = list(groups.get(self.names['coordinator']) or [])
        self.shards = sorted(groups.get(self.names['shards']) or [])
        self.replicas = sorted(groups.get(self.names['replicas']) or [])
        self.standbys = sorted(groups.get(self.names['standbys']) or [])
        self.hosts = sorted(set(self.coordinators + self.shards + self.replicas + self.standbys))
        missing = [host for host in self.hosts if not isinstance(facts.get(host), dict)]
        if missing:
            raise InvalidInput('%s: no pgdist_plan_host; run pgdist.cluster.plan on every host of the %s, %s, %s and '
                               '%s groups' % (', '.join(missing), self.names['coordinator'], self.names['shards'],
                                              self.names['replicas'], self.names['standbys']))
        self.facts = facts
        self.variables = variables
        self.reads = reads
        self.database = variables['database']
        self.peers = dict((host, peer(host, facts[host])) for host in self.hosts)
        self.moves = []
        # HA groups (ha.py): {shard: [shard, standbys...]}, and the etcd cluster their Patroni uses.
        self.ha_groups = ha.ha_groups(self.shards, self.standbys, facts, self.names)
        self.member_of = dict((member, shard) for shard, members in self.ha_groups.items() for member in members)
        self.etcd = ha.etcd_members(groups.get(self.names['etcd']), self.coordinators + self.shards, facts, self.peers,
                                    self.names) if self.ha_groups else []

    def shard_of(self, host):
        """The shard host holds for placement and replication: its own name, or the shard a standby serves."""
        return self.member_of.get(host, host)

    def endpoints(self, host):
        """libpq options reaching host's shard: its address and port, or every member of its HA group."""
        members = self.ha_groups.get(host)
        if members:
            return ha.member_endpoints([self.peers[member] for member in members])
        return dict(host=self.peers[host]['address'], port=self.peers[host]['port'])

    def read(self, host):
        """{running, error, info} of host's read before the run (info is cluster_info's result)."""
        return self.reads.get(host) or dict(running=False, error='not read', info=None)

    def kinds(self, host):
        """The groups host is in; a standby is a member of its shard, so it is a shard too."""
        shards = self.shards + self.standbys
        return [kind for kind, members in (('coordinator', self.coordinators), ('shard', shards),
                                           ('replica', self.replicas), ('standby', self.standbys)) if host in members]


# -- settings contributions -------------------------------------------------------------------

def _server_settings(inventory, host, node):
    facts, tls = inventory.facts[host], node['tls']
    settings = dict(listen_addresses=facts['listen_addresses'], port=node['port'],
                    password_encryption=facts['password_encryption'], ssl=tls['enabled'],
                    enable_partition_pruning=flag(facts['partition_pruning'], 'pgdist_partition_pruning'))
    if tls['enabled']:
        settings.update(ssl_cert_file=tls['cert_file'], ssl_key_file=tls['key_file'], ssl_min_protocol_version='TLSv1.2')
    return settings


def _transaction_settings(inventory, host, node):
    """The coordinator extension and what the shards need for it (transactions.py)."""
    return transactions.node_settings(inventory.variables, host, node['roles'], int(node['cluster']['version']),
                                      inventory.database)


def _coordinator_settings(inventory, host, node):
    return dict(inventory.facts[host]['coordinator_settings'] or {}) if 'coordinator' in node['roles'] else {}


def _shard_settings(inventory, host, node):
    return dict(inventory.facts[host]['shard_settings'] or {}) if 'shard' in node['roles'] else {}


def _ha_settings(inventory, host, node):
    """Members of an HA group: streaming standbys and pg_rewind (ha.py)."""
    return ha.ha_settings(inventory.facts[host]) if host in inventory.member_of else {}


def _replication_settings(inventory, host, node):
    """Publishers (and hosts with pgdist_replication_enabled): logical WAL, 3 senders and slots per
    subscriber + 2, and a cap on the WAL a dead subscriber's slot may hold."""
    facts = inventory.facts[host]
    published = [link for link in inventory.links if link['publisher'] == inventory.shard_of(host)]
    if not published and not flag(facts['replication_enabled'], 'pgdist_replication_enabled'):
        return {}
    needed = len(published) * 3 + 2 if published else 0
    settings = dict(wal_level='logical', max_wal_senders=max(int(facts['max_wal_senders']), needed),
                    max_replication_slots=max(int(facts['max_replication_slots']), needed))
    if published:
        settings['max_slot_wal_keep_size'] = str(facts['max_slot_wal_keep_size'])
    return settings


def _backup_settings(inventory, host, node):
    """WAL archiving through pgBackRest on nodes with backups (backup.py)."""
    return backup.node_settings(node['backup'])


def _user_settings(inventory, host, node):
    settings = inventory.facts[host]['postgresql_settings'] or {}
    if not isinstance(settings, dict):
        raise InvalidInput('%s: pgdist_postgresql_settings must be a dict of name: value' % host)
    return dict(settings)


# (source, contribution): later ones win. Only the user's may set names outside MANAGED_SETTINGS.
CONTRIBUTIONS = (
    ('server', _server_settings),
    ('distributed transactions', _transaction_settings),
    ('coordinator', _coordinator_settings),
    ('shard', _shard_settings),
    ('ha', _ha_settings),
    ('replication', _replication_settings),
    ('backup', _backup_settings),
    ('pgdist_postgresql_settings', _user_settings),
)


def _settings(inventory, host, node):
    settings, sources = {}, {}
    for source, contribution in CONTRIBUTIONS:
        for name, value in contribution(inventory, host, node).items():
            settings[name] = value
            sources[name] = source
    if 'pgdist.database' in settings:
        # The libraries another source preloads (the cluster's own postgresql.conf, or the user's value) stay,
        # after pgdist: our include is read later and would otherwise drop them.
        elsewhere = _set_elsewhere(inventory.read(host)['info'] or {}, 'shared_preload_libraries',
                                   node['cluster']['config_dir'])
        if sources['shared_preload_libraries'] == 'distributed transactions' and elsewhere is not None:
            settings['shared_preload_libraries'] = elsewhere
        settings['shared_preload_libraries'] = transactions.preload_first(settings['shared_preload_libraries'])
    return settings, sources


def our_files(config_dir):
    """The settings files the roles write: the server role's include, then the replication role's."""
    return tuple('%s/%s/%s' % (config_dir, CONF_DIR, base) for base in (SETTINGS_FILE, SYNCHRONOUS_FILE))


def _set_elsewhere(info, name, config_dir):
    """The value of name in the last configuration file entry that is not one of ours, or None."""
    ours = our_files(config_dir)
    rows = [row for row in info.get('file_settings') or [] if row['name'] == name and row['sourcefile'] not in ours
            and not row.get('error')]
    return max(rows, key=lambda row: row['seqno'])['setting'] if rows else None


def overriding_sources(settings, file_settings, config_dir):
    """The configuration entries that win over ours, from pg_file_settings (cluster_info file_settings).

    [{name, wanted, value, file, line, message}] for each setting another
    file sets later in PostgreSQL's reading order. While our file is not
    loaded yet (first run) that order is predicted: conf.d files named after
    ours, and postgresql.auto.conf, are read after it.
    """
    mine = our_files(config_dir)
    ours = mine[0]
    rows = [row for row in file_settings or [] if not row.get('error')]
    loaded = [row['seqno'] for row in rows if row['sourcefile'] == ours]
    position = dict((row['name'], row['seqno']) for row in rows if row['sourcefile'] == ours)

    def read_later(row):
        if loaded:
            return row['seqno'] > position.get(row['name'], max(loaded))
        directory, base = row['sourcefile'].rsplit('/', 1)
        return base == AUTO_CONF or (directory == '%s/%s' % (config_dir, CONF_DIR) and base > SETTINGS_FILE)
    report = []
    for name in sorted(settings):
        later = [row for row in rows if row['name'] == name and row['sourcefile'] not in mine and read_later(row)]
        if later:
            last = max(later, key=lambda row: row['seqno'])
            report.append(dict(name=name, wanted=settings[name], value=last['setting'], file=last['sourcefile'],
                               line=last['sourceline'], message=_override_message(name, settings[name], last)))
    return report


def _override_message(name, wanted, row):
    remedy = ' (ALTER SYSTEM RESET %s)' % name if row['sourcefile'].endswith('/' + AUTO_CONF) else ''
    return '%s: %s:%s sets %s, which wins over %s = %s in %s; remove it there%s' % (
        name, row['sourcefile'], row['sourceline'], row['setting'], name, _shown(wanted), SETTINGS_FILE, remedy)


def _shown(value):
    """A setting's value as postgresql.conf spells it (booleans on/off)."""
    if isinstance(value, bool):
        return 'on' if value else 'off'
    return str(value)


# -- one host ---------------------------------------------------------------------------------

def _loaded(info, name):
    """The value of a setting in the running cluster the plan read, or None."""
    return ((info.get('settings') or {}).get(name) or {}).get('setting')


def _tls(host, facts, config_dir, info):
    enabled = flag(facts['ssl'], 'pgdist_ssl')
    cert, key, ca = (str(facts.get(name) or '') for name in ('ssl_cert_file', 'ssl_key_file', 'ssl_ca_file'))
    if enabled and bool(cert) != bool(key):
        raise InvalidInput('%s: pgdist_ssl_cert_file and pgdist_ssl_key_file go together: give both, or neither for a '
                           'generated self-signed certificate' % host)
    if enabled and ca and not cert:
        raise InvalidInput('%s: pgdist_ssl_ca_file needs pgdist_ssl_cert_file and pgdist_ssl_key_file (certificates '
                           'signed by that CA): peers would refuse a generated self-signed one' % host)
    given = [dict(name='pgdist_ssl_%s_file' % kind, path=path) for kind, path in (('cert', cert), ('key', key), ('ca', ca))
             if path]
    cert_file = cert or config_dir + '/pgdist-server.crt'
    # A running cluster serving TLS with the generated certificate has it: nothing to generate.
    serving = _loaded(info, 'ssl') == 'on' and _loaded(info, 'ssl_cert_file') == cert_file
    return dict(enabled=enabled, generate=enabled and not cert and not serving, given=given if enabled else [],
                cert_file=cert_file, key_file=key or config_dir + '/pgdist-server.key', ca_file=ca,
                peer_options=peer_ssl_options(enabled, ca))


def _read_this_cluster(info, version):
    """The plan read this host's cluster: the one on its port runs the wanted major version (not an old one
    during a major upgrade)."""
    num = ((info or {}).get('instance') or {}).get('version_num')
    return bool(num) and str(int(num) // 10000) == version


def _cluster(inventory, host, check_mode):
    facts, read = inventory.facts[host], inventory.read(host)
    version, name = str(facts['postgresql_version']), str(facts['cluster_name'])
    return dict(version=version, name=name, port=int(facts['port']), socket_dir=facts['unix_socket_directory'],
                postgres_user=facts['postgres_user'], config_dir='/etc/postgresql/%s/%s' % (version, name),
                data_dir='/var/lib/postgresql/%s/%s' % (version, name), running=bool(read['running']),
                read=_read_this_cluster(read['info'], version), read_error=read['error'],
                connect=bool(read['running']) or not check_mode)


def _replication_part(inventory, host, node, placed, reference_names):
    """Publications, grants, subscriptions and synchronous standbys of host."""
    variables, facts, shard = inventory.variables, inventory.facts[host], inventory.shard_of(host)
    published = [link for link in inventory.links if link['publisher'] == shard]
    subscribed = [link for link in inventory.links if link['subscriber'] == shard]
    publications = []
    for kind, name in sorted(set((link['kind'], link['publication']) for link in published)):
        if kind == 'shard':
            tables = published_tables(shard_tables(placed, shard))
        elif kind == 'reference':
            tables = reference_names
        else:
            tables = sorted(set(qualified_name(spec['name']) for spec in _copied_tables(published, name)))
        publications.append(dict(name=name, tables=tables))
    grants = []
    if publications:
        grants.append(dict(role=variables['replication_user'],
                           tables=sorted(set(table for pub in publications for table in pub['tables']))))
    if 'shard' in node['roles'] and any(link['kind'] == 'reference' for link in subscribed):
        grants.append(dict(role=variables['fdw_user'], tables=reference_names))
    subscriptions = []
    for link in subscribed:
        connection = dict(inventory.endpoints(link['publisher']), dbname=inventory.database,
                          user=variables['replication_user'], application_name=link['application_name'])
        connection.update(node['tls']['peer_options'])
        subscriptions.append(dict(name=link['subscription'], publication=link['publication'],
                                  publisher=link['publisher'], connection=connection,
                                  options=dict(synchronous_commit='on') if link['synchronous'] else {}))
    synchronous = None
    standbys = [link['application_name'] for link in published if link['synchronous']]
    if standbys and shard in inventory.ha_groups:
        raise InvalidInput('%s: pgdist_replication_synchronous on a replica of %s, an HA shard: Patroni owns '
                           'synchronous_standby_names there (pgdist_ha_synchronous keeps a standby synchronous)'
                           % (', '.join(link['subscriber'] for link in published if link['synchronous']), shard))
    user_set = 'synchronous_standby_names' in (facts['postgresql_settings'] or {})
    synchronous_file = our_files(node['cluster']['config_dir'])[1]
    loaded = [row for row in (inventory.read(host)['info'] or {}).get('file_settings') or []
              if row['sourcefile'] == synchronous_file]
    if not user_set and (standbys or loaded):
        synchronous = dict(standbys=standbys, count=int(variables['replication_synchronous_count']),
                           file=synchronous_file)
    return dict(replication_login=bool(publications), publications=publications, grants=grants,
                subscriptions=subscriptions, synchronous=synchronous)


def _tables(inventory, host, node, placed, reference_specs):
    """partitioned_table arguments of every table host holds, in the order they are applied: the reference
    tables first (marked reference), whose copies the foreign keys of the others reference."""
    tables = []
    if any(link['kind'] == 'reference' and inventory.shard_of(host) in (link['publisher'], link['subscriber'])
           for link in inventory.links):
        tables += [dict(spec, reference=True) for spec in reference_specs]
    if 'coordinator' in node['roles']:
        # ANALYZE after bulk loads: autovacuum never analyzes foreign partitions.
        analyze = flag(inventory.variables['analyze_tables'], 'pgdist_analyze_tables')
        tables += [dict(spec, analyze=True) if analyze else spec for spec in coordinator_tables(placed)]
    if 'shard' in node['roles']:
        tables += [dict(spec, as_fdw_user=True) for spec in shard_tables(placed, inventory.shard_of(host))]
    if 'replica' in node['roles'] and inventory.facts[host]['replica_of']:
        tables += shard_tables(placed, inventory.facts[host]['replica_of'])
    # The tables of pgdist_subscriptions, on their publisher and on their subscriber, each once.
    ends = [link for link in inventory.links if inventory.shard_of(host) in (link['publisher'], link['subscriber'])]
    named = set(qualified_name(spec['name']) for spec in tables)
    for spec in _copied_tables(ends):
        if qualified_name(spec['name']) not in named:
            named.add(qualified_name(spec['name']))
            tables.append(spec)
    return tables


def _copied_tables(links, publication=None):
    """The table specs of the kind table links (of one publication), in order."""
    return [spec for link in links if link['kind'] == 'table' and publication in (None, link['publication'])
            for spec in link['tables']]


def host_plan(inventory, host, placed, reference_specs, check_mode):
    facts, variables = inventory.facts[host], inventory.variables
    cluster = _cluster(inventory, host, check_mode)
    roles = inventory.kinds(host)
    info = inventory.read(host)['info'] or {}
    node = dict(roles=roles, address=inventory.peers[host]['address'], port=cluster['port'], cluster=cluster,
                connection=dict(login_unix_socket=cluster['socket_dir'], login_port=cluster['port'],
                                login_user=cluster['postgres_user']),
                tls=_tls(host, facts, cluster['config_dir'], info),
                backup=backup.node_backup(host, facts, roles, inventory.peers[host]['server']),
                monitoring=monitoring.node_monitoring(host, facts, roles, inventory.peers[host]['address'],
                                                      variables.get('monitoring_user')))
    node['settings'], node['settings_sources'] = _settings(inventory, host, node)
    node['settings_overridden'] = overriding_sources(node['settings'], info.get('file_settings'), cluster['config_dir'])
    generated = []
    if 'shard' in roles:
        generated += fdw_hba_rules([inventory.peers[c] for c in inventory.coordinators], inventory.database,
                                   variables['fdw_user'])
    generated += replication_hba_rules(inventory.links, inventory.shard_of(host), inventory.facts, inventory.database,
                                       variables['replication_user'])
    members = inventory.ha_groups.get(inventory.shard_of(host))
    if members:
        generated += ha.ha_hba_rules([inventory.peers[member] for member in members], variables['ha_replication_user'])
    generated += rebalance.move_hba_rules(inventory.moves, host, inventory.database, variables['replication_user'])
    is_coordinator = 'coordinator' in roles
    apps = inventory.apps if is_coordinator else dict(logins=[], grants=[], hba_rules=[])
    generated += apps['hba_rules']
    generated += monitoring.hba_rules(node['monitoring'], inventory.database)
    node['hba_rules'] = [dict(type='local', database='all', user=cluster['postgres_user'], method='peer',
                              comment='administration by the postgres system user')] + \
        require_ssl(generated, node['tls']['enabled'])
    node['user_hba_rules'] = facts['hba_rules'] or []
    # The whole file is ours when the inventory says so, or when the server role wrote it whole before.
    first_line = (info.get('hba_file') or {}).get('first_line') or ''
    node['hba_whole_file'] = flag(facts['hba_whole_file'], 'pgdist_hba_whole_file') or first_line.startswith(HBA_HEADER)
    node['database'] = dict(name=inventory.database, owner=variables['fdw_user'] if 'shard' in roles else None)
    node['fdw_login'] = 'shard' in roles
    shards = [inventory.peers[shard] for shard in inventory.shards]
    # The coordinator extension: the server role builds it (PGXS) before the settings that preload it, the
    # coordinator role creates it in the database.
    node['coordinator_extension'] = is_coordinator and transactions.extension_settings(variables) is not None
    node['foreign_servers'] = [dict(name=shard['server'], options=_server_options(inventory, shard, node))
                               for shard in shards] if is_coordinator else []
    # Application users are mapped to the fdw user like pgdist_fdw_mapped_users (app_users.py says why).
    node['user_mappings'] = [dict(server=shard['server'], user=user) for shard in shards
                             for user in list(variables['fdw_mapped_users']) + [login['name'] for login in apps['logins']]
                             ] if is_coordinator else []
    node['app_users'], node['app_grants'] = apps['logins'], apps['grants']
    node['tables'] = _tables(inventory, host, node, placed, reference_specs)
    # The fdw user creates the shard tables, so it needs REFERENCES on the reference tables their keys use.
    node['references'] = referenced_tables([t for t in node['tables'] if t.get('as_fdw_user')])
    node['existing_partitions'] = _existing_partitions(inventory, inventory.shard_of(host)) if 'shard' in roles else []
    reference_names = [qualified_name(spec['name']) for spec in reference_specs]
    node.update(_replication_part(inventory, host, node, placed, reference_names))
    node.update(_ha_part(inventory, host, node))
    return node


def _ha_part(inventory, host, node):
    """files_owner (server, or patroni on HA members), writable (this host takes its shard's writes now: the
    shard, tables and replication roles run on it), ha (Patroni's configuration) and etcd (this host's etcd
    member settings, or None)."""
    variables = inventory.variables
    members = inventory.ha_groups.get(inventory.shard_of(host))
    etcd = [member for member in inventory.etcd if member['name'] == host]
    part = dict(files_owner='server', writable=True, ha=None,
                etcd=ha.etcd_config(etcd[0], inventory.etcd, 'pgdist-%s' % inventory.database) if etcd else None)
    if not members:
        return part
    shard = members[0]
    synchronous = flag(inventory.facts[shard].get('ha_synchronous', True), '%s: pgdist_ha_synchronous' % shard)
    dynamic = ha.dynamic_config(node['settings'], variables, synchronous)
    api_port = ha.port_of(inventory.facts[host], 'patroni_api_port', ha.DEFAULT_API_PORT, host)
    etcd_hosts = ['%s:%d' % (member['address'], member['client_port']) for member in inventory.etcd]
    scope = 'pgdist-%s' % shard
    config = ha.patroni_config(scope, host, node['address'], node['cluster'], node['settings'], [], etcd_hosts,
                               api_port, dynamic, variables['ha_replication_user'])
    writer = ha.writable_member(members, inventory.read)
    part.update(files_owner='patroni', writable=host == writer, ha=dict(
        shard=shard, members=members, first=host == shard, writer=writer, synchronous=synchronous, scope=scope,
        api='http://%s:%d' % (node['address'], api_port), config=config, dynamic=dynamic,
        config_file='/etc/patroni/%s-%s.yml' % (node['cluster']['version'], node['cluster']['name']),
        service='patroni@%s-%s' % (node['cluster']['version'], node['cluster']['name'])))
    return part


def _existing_partitions(inventory, host):
    """[{partition, table}] of the coordinator's foreign partitions on host's server, as the plan read them:
    the shard role refuses to create these tables empty (a wiped or new shard is restored, not refilled)."""
    server = inventory.peers[host]['server']
    return [dict(partition='%s.%s' % (part['schema'], part['name']), table=part['remote_table'])
            for table in sorted((inventory.coordinator_tables or {}).items()) for part in table[1].get('partitions') or []
            if part.get('kind') == 'foreign' and part.get('server') == server and part.get('remote_table')]


def _server_options(inventory, shard, node):
    options = dict(inventory.endpoints(shard['host']), dbname=inventory.database)
    options['port'] = str(options['port'])
    options.update(node['tls']['peer_options'])
    options.update(transactions.foreign_server_options(inventory.variables, int(node['cluster']['version'])))
    options.update(inventory.variables['foreign_server_options'] or {})
    return options


# -- the whole plan ------------------------------------------------------------------------------

def build_plan(groups, facts, variables, reads, check_mode=False):
    """pgdist_plan (see the module docstring)."""
    inventory = Inventory(groups, facts, variables, reads)
    placement_host = inventory.coordinators[0] if inventory.coordinators else None
    coordinator_read = inventory.read(placement_host) if placement_host else dict(info=None)
    current = coordinator_read['info'] or {}
    pins = pins_from_tables(current.get('tables'))
    inventory.coordinator_tables = current.get('tables')
    servers = dict((host, inventory.peers[host]['server']) for host in inventory.shards)
    placed = place_partitions(variables['tables'] or [], inventory.shards, pinned=pins, servers=servers)
    reference_specs = [reference_table_spec(table, index) for index, table in enumerate(variables['reference_tables'] or [])]
    check_foreign_keys(placed, [qualified_name(spec['name']) for spec in reference_specs])
    groups_view = dict(names=inventory.names, coordinators=inventory.coordinators, shards=inventory.shards,
                       replicas=inventory.replicas)
    inventory.links = replication_links(groups_view, facts, reference_specs)
    inventory.apps = app_users.app_users(variables, placed, reference_specs)
    refusals = []
    if flag(variables.get('rebalance') or False, 'pgdist_rebalance'):
        inventory.moves, refusals = rebalance.planned_moves(variables['tables'] or [], placed, inventory.shards,
                                                            variables.get('drain'), inventory.peers, facts,
                                                            inventory.read)
    hosts = dict((host, host_plan(inventory, host, placed, reference_specs, check_mode)) for host in inventory.hosts)
    monitoring.check_listen_addresses(dict((host, node['monitoring']) for host, node in hosts.items()))
    placement = {}
    for table in placed:
        schema = qualified_name(table['name']).split('.', 1)[0]
        for partition in table['partitions']:
            if partition.get('shard'):
                placement[qualified_name(partition['name'], default_schema=schema)] = partition['shard']
    return dict(database=inventory.database, fdw_user=variables['fdw_user'],
                replication_user=variables['replication_user'], coordinator=placement_host,
                shards=inventory.shards, replicas=inventory.replicas, standbys=inventory.standbys,
                ha_groups=inventory.ha_groups, etcd=[member['name'] for member in inventory.etcd], placement=placement,
                placement_read=placement_host if coordinator_read.get('info') is not None else None,
                links=inventory.links, moves=inventory.moves, refusals=refusals,
                skipped=sorted(h for h in inventory.hosts if not hosts[h]['cluster']['connect']),
                hosts=hosts)


def read_state(host, socket, result, is_coordinator):
    """{running, error, info} of one host from the plan role's socket stat and cluster_info result.

    A host the run did not reach has neither. A cluster whose socket is
    missing, or that refuses connections (left behind by a killed postmaster),
    does not run (not created yet, or stopped). A running cluster
    that could not be read is running with the error; on the coordinator that
    is fatal, since the placement of existing partitions would be unknown,
    unless psycopg2 is missing (an existing cluster being adopted: it holds
    no partitions of ours yet, and the server role installs psycopg2).
    """
    if not socket or 'stat' not in socket:
        return dict(running=False, error='not reached in this run', info=None)
    if not socket['stat'].get('exists'):
        return dict(running=False, error=None, info=None)
    if result and 'instance' in result:
        return dict(running=True, error=None, info=result)
    error = str((result or {}).get('msg') or 'not read')
    if 'Connection refused' in error:
        # A socket left behind by a postmaster that did not shut down (killed, host frozen): nothing runs.
        return dict(running=False, error=None, info=None)
    if is_coordinator and 'psycopg2' not in error:
        raise InvalidInput('%s: cannot read the current placement from the coordinator, so existing partitions '
                           'could move: %s' % (host, error))
    return dict(running=True, error=error, info=None)
