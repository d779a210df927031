# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Highly available shards: the rules of the HA layout, pure Python like topology.py.

A shard of the shards group with hosts in the standbys group (``pgdist_standby_of: <shard>``) is an HA
group: the shard host and its standbys are its members, one primary and streaming standbys, managed by
Patroni with an etcd cluster (the etcd group, by default the coordinator and the shard hosts). The shard's
name (its inventory host) stays what placement, foreign servers and publications use; whichever member is
primary now takes the writes. Patroni owns postgresql.conf and pg_hba.conf of every member: the plan's
settings and hba rules reach PostgreSQL through Patroni's configuration (patroni_config), never through the
files of the server role.

Bad input raises identifiers.InvalidInput naming the host and the variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

# Settings Patroni takes from its dynamic configuration in etcd only (the same on every member; it passes them
# on the postmaster's command line), so they go into bootstrap.dcs and are changed through Patroni's REST API.
DCS_SETTINGS = ('max_connections', 'max_locks_per_transaction', 'max_worker_processes', 'max_prepared_transactions',
                'wal_level', 'track_commit_timestamp', 'max_wal_senders', 'max_replication_slots', 'wal_keep_size',
                'wal_log_hints')
# Patroni sets these itself from postgresql.listen / its own logic; the plan's values go there instead.
PATRONI_OWNED = ('listen_addresses', 'port', 'synchronous_standby_names', 'hot_standby')
NAMESPACE = '/pgdist/'
DEFAULT_API_PORT = 8008
DEFAULT_ETCD_CLIENT_PORT = 2379
DEFAULT_ETCD_PEER_PORT = 2380
# A dead member costs a new foreign server connection at most this long before libpq tries the next host: every
# new coordinator session while a member is lost, and the retries after a failover (part of its 30 s budget).
MEMBER_CONNECT_TIMEOUT = '3'


def port_of(facts, key, default, host):
    value = facts.get(key)
    value = default if value in (None, '') else value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput('%s: pgdist_%s must be a port number, got %r' % (host, key, value))


def ha_groups(shards, standbys, facts, names):
    """{shard: [shard, standby, ...]} of every shard with standbys (members in that order)."""
    groups = {}
    for standby in sorted(standbys):
        source = facts[standby].get('standby_of')
        if not source:
            raise InvalidInput('%s is in the %s group but has no pgdist_standby_of (the shard it is a standby of)'
                               % (standby, names['standbys']))
        if source not in shards:
            raise InvalidInput('%s: pgdist_standby_of is %r, which is not in the %s group (%s)'
                               % (standby, source, names['shards'], ', '.join(sorted(shards)) or 'empty'))
        if standby in shards:
            raise InvalidInput('%s is in both the %s and the %s groups; a standby belongs to its shard, list it only '
                               'in %s' % (standby, names['shards'], names['standbys'], names['standbys']))
        groups.setdefault(source, [source]).append(standby)
    return groups


def etcd_members(etcd_hosts, default_hosts, facts, peers, names):
    """[{name, address, client_port, peer_port}] of the etcd cluster: the etcd group, else default_hosts."""
    hosts = list(etcd_hosts or default_hosts)
    unknown = [host for host in hosts if host not in peers]
    if unknown:
        raise InvalidInput('%s: etcd members must be hosts of the %s, %s or %s groups (the plan needs their '
                           'addresses)' % (', '.join(unknown), names['coordinator'], names['shards'], names['standbys']))
    if len(hosts) % 2 == 0:
        raise InvalidInput('the etcd cluster needs an odd number of members (a majority must survive a lost host), '
                           'got %d: %s; list the members in the %s group' % (len(hosts), ', '.join(hosts), names['etcd']))
    return [dict(name=host, address=peers[host]['address'],
                 client_port=port_of(facts[host], 'etcd_client_port', DEFAULT_ETCD_CLIENT_PORT, host),
                 peer_port=port_of(facts[host], 'etcd_peer_port', DEFAULT_ETCD_PEER_PORT, host))
            for host in hosts]


def etcd_config(member, members, token):
    """etcd's settings of one member (ETCD_* variables of /etc/default/etcd, etcd's own names)."""
    def url(address, port):
        return 'http://%s:%d' % (address, port)
    # etcdctl on the host reaches it on the loopback too.
    listen = [member['address']] + ([] if member['address'] in ('127.0.0.1', 'localhost') else ['127.0.0.1'])
    return dict(
        ETCD_NAME=member['name'],
        ETCD_DATA_DIR='/var/lib/etcd/pgdist',
        ETCD_LISTEN_PEER_URLS=url(member['address'], member['peer_port']),
        ETCD_LISTEN_CLIENT_URLS=','.join(url(address, member['client_port']) for address in listen),
        ETCD_INITIAL_ADVERTISE_PEER_URLS=url(member['address'], member['peer_port']),
        ETCD_ADVERTISE_CLIENT_URLS=url(member['address'], member['client_port']),
        ETCD_INITIAL_CLUSTER=','.join('%s=%s' % (m['name'], url(m['address'], m['peer_port'])) for m in members),
        ETCD_INITIAL_CLUSTER_STATE='new',
        ETCD_INITIAL_CLUSTER_TOKEN=token,
    )


def member_endpoints(peers):
    """libpq's multi-host options for the members of one shard: every member, the writable one chosen."""
    return dict(host=','.join(p['address'] for p in peers), port=','.join(str(p['port']) for p in peers),
                target_session_attrs='read-write', connect_timeout=MEMBER_CONNECT_TIMEOUT)


def ha_hba_rules(members, user):
    """Every member admits Patroni's replication login from every member: streaming replication (standbys
    and their base backup) and pg_rewind of a former primary (it reads the database postgres); and on its own
    socket, where a standby's Patroni reads its timeline before it takes part in a failover."""
    rules = [dict(type='local', database='replication', user=user, method='scram-sha-256',
                  comment="Patroni's replication connection to its own member (timeline and WAL position)")]
    for member in members:
        rules.append(dict(type='host', database='replication', user=user, address=member['address'],
                          method='scram-sha-256', comment='streaming replication to %s (Patroni)' % member['host']))
        rules.append(dict(type='host', database='postgres', user=user, address=member['address'],
                          method='scram-sha-256', comment='pg_rewind from %s (Patroni)' % member['host']))
    return rules


def ha_settings(facts):
    """What streaming standbys and pg_rewind need on every member (replication raises wal_level to logical)."""
    return dict(wal_level='replica', hot_standby=True, wal_log_hints=True,
                max_wal_senders=int(facts['max_wal_senders']), max_replication_slots=int(facts['max_replication_slots']))


def writable_member(members, read):
    """The member that takes the shard's writes now: the one the plan read out of recovery, else the first
    (which bootstraps the group: the HA role starts it first)."""
    for member in members:
        info = read(member)['info'] or {}
        if (info.get('instance') or {}).get('in_recovery') is False:
            return member
    return members[0]


def dynamic_config(settings, variables, synchronous):
    """Patroni's dynamic configuration (bootstrap.dcs, then PATCH /config): timing, synchronous mode and the
    settings every member must share."""
    timing = dict((key, int(variables['ha_' + key])) for key in ('ttl', 'loop_wait', 'retry_timeout'))
    if timing['loop_wait'] + 2 * timing['retry_timeout'] > timing['ttl']:
        raise InvalidInput('pgdist_ha_ttl (%(ttl)d) must be at least pgdist_ha_loop_wait + 2 * pgdist_ha_retry_timeout '
                           '(%(loop_wait)d + 2 * %(retry_timeout)d), as Patroni requires' % timing)
    parameters = dict((name, value) for name, value in settings.items() if name in DCS_SETTINGS)
    return dict(timing, maximum_lag_on_failover=int(variables['ha_maximum_lag_on_failover']),
                synchronous_mode=synchronous, synchronous_mode_strict=False,
                postgresql=dict(use_pg_rewind=True, use_slots=True, parameters=parameters))


def patroni_config(scope, name, address, cluster, settings, hba_lines, etcd_hosts, api_port, dynamic,
                   replication_user, bin_dir=None):
    """Patroni's configuration of one member, without the replication password (the HA role adds it).

    cluster: the slice's cluster (version, port, socket_dir, config_dir, data_dir, name). The local
    parameters are the plan's settings less those Patroni takes from etcd (dynamic) or sets itself.
    """
    listen = '%s:%d' % (settings.get('listen_addresses') or address, cluster['port'])
    parameters = dict((key, value) for key, value in settings.items()
                      if key not in DCS_SETTINGS and key not in PATRONI_OWNED)
    parameters['unix_socket_directories'] = cluster['socket_dir']
    parameters.setdefault('cluster_name', '%s/%s' % (cluster['version'], cluster['name']))
    login = dict(username=replication_user)
    return dict(
        scope=scope, namespace=NAMESPACE, name=name,
        restapi=dict(listen='%s:%d' % (address, api_port), connect_address='%s:%d' % (address, api_port)),
        etcd3=dict(hosts=etcd_hosts),
        bootstrap=dict(dcs=dynamic, initdb=[dict(encoding='UTF8'), dict(locale='C.UTF-8'), 'data-checksums']),
        postgresql=dict(
            listen=listen, connect_address='%s:%d' % (address, cluster['port']),
            data_dir=cluster['data_dir'], config_dir=cluster['config_dir'],
            bin_dir=bin_dir or '/usr/lib/postgresql/%s/bin' % cluster['version'],
            # Debian's place for it: /var/lib/postgresql/<version>-<cluster>.pgpass, one per cluster.
            pgpass='%s/%s-%s.pgpass' % (cluster['data_dir'].rsplit('/', 2)[0], cluster['version'], cluster['name']),
            use_unix_socket=True, use_unix_socket_repl=True,
            authentication=dict(superuser=dict(username=cluster['postgres_user']), replication=dict(login),
                                rewind=dict(login)),
            parameters=parameters, pg_hba=list(hba_lines)),
        tags=dict(nofailover=False, noloadbalance=False, clonefrom=False, nosync=False),
    )
