# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topology filters: where each partition of ``pgdist_tables`` lives.

The roles keep no placement logic in Jinja; they call these filters:

``place_partitions(tables, shards, pinned=None, servers=None)``
    Returns ``tables`` with every partition resolved. A partition with a
    ``shard`` (an inventory hostname of the shards group) gets ``server``,
    the foreign server name of that shard. A hash table with
    ``partition_count: N`` gets partitions ``<table>_p0`` .. ``<table>_p<N-1>``
    (``modulus: N``, ``remainder: i``); partition ``i`` goes to
    ``sorted(shards)[i % len(shards)]`` unless ``pinned`` (partition name ->
    foreign server name, as read from the coordinator's catalog) already
    places it: an existing partition never moves when shards are added.

``coordinator_tables(placed)``
    The ``pgdist.cluster.partitioned_table`` arguments of every table for the
    coordinator (``shard`` removed, ``server`` kept). A ``primary_key`` stays
    only when every partition is local: PostgreSQL cannot build a unique
    index over foreign partitions, so the shards enforce it instead.

``shard_tables(placed, host)``
    The ``side: shard`` arguments for ``host``: each table that has
    partitions there, with only those partitions; tables without any are left
    out.

``peers(hosts, hostvars, default_port=5432)``
    ``[{host, address, port, server}]`` for inventory hosts, from their
    ``pgdist_address`` (else ``ansible_host``, else the name), ``pgdist_port``
    and ``pgdist_foreign_server_name`` (else the name).

``fdw_hba_rules(coordinators, database, user)``
    The pg_hba rules a shard needs: ``user`` may reach ``database`` over TCP
    from each coordinator's address only (scram-sha-256), and on the local
    socket with its password (the shard role creates the shard tables as it,
    so it owns them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# Keys of a pgdist_tables entry that only drive placement; the module never sees them.
TOPOLOGY_KEYS = ('partition_count', 'shards')
# Partition keys that place it; the module sees `server` instead.
PLACEMENT_KEYS = ('shard',)
# Table keys that only make sense on the coordinator's parent.
COORDINATOR_ONLY_KEYS = ('prune_partitions',)


def _table_label(table, index):
    name = table.get('name') if isinstance(table, dict) else None
    return 'pgdist_tables[%d] (%s)' % (index, name) if name else 'pgdist_tables[%d]' % index


def _hash_partitions(table, label, shards, pinned, servers):
    count = table['partition_count']
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AnsibleFilterError('%s: partition_count must be a positive integer, got %r' % (label, count))
    if table.get('partitions'):
        raise AnsibleFilterError('%s: give either partition_count or partitions, not both' % label)
    method = (table.get('partition_by') or {}).get('method')
    if method != 'hash':
        raise AnsibleFilterError('%s: partition_count needs partition_by.method hash, got %r' % (label, method))
    spread = sorted(table.get('shards') or shards)
    for shard in spread:
        if shard not in shards:
            raise AnsibleFilterError('%s: shards lists %r, which is not in the shards group (%s)'
                                     % (label, shard, ', '.join(sorted(shards)) or 'empty'))
    if not spread:
        raise AnsibleFilterError('%s: a hash table with partition_count needs at least one shard in the shards group'
                                 % label)
    by_server = dict((servers.get(shard, shard), shard) for shard in shards)
    base = table['name'].split('.')[-1]
    partitions = []
    for index in range(count):
        name = '%s_p%d' % (base, index)
        shard = spread[index % len(spread)]
        if name in pinned:
            if pinned[name] not in by_server:
                raise AnsibleFilterError(
                    '%s: partition %s lives on foreign server %r, which is no shard of the shards group any more; '
                    'removing a shard would hide its rows. Put the shard back in the inventory, or move the '
                    'partition first.' % (label, name, pinned[name]))
            shard = by_server[pinned[name]]
        partition = dict(name=name, modulus=count, remainder=index, shard=shard)
        if table.get('partition_options'):
            partition['options'] = dict(table['partition_options'])
        partitions.append(partition)
    return partitions


def place_partitions(tables, shards, pinned=None, servers=None):
    """Resolve every partition of every table: see the module docstring."""
    if not isinstance(tables, list):
        raise AnsibleFilterError('pgdist_tables must be a list of tables, got %s' % type(tables).__name__)
    shards = list(shards or [])
    pinned = dict(pinned or {})
    servers = dict(servers or {})
    placed = []
    seen = set()
    for index, table in enumerate(tables):
        label = _table_label(table, index)
        if not isinstance(table, dict) or not table.get('name'):
            raise AnsibleFilterError('%s: every table needs a name' % label)
        if table['name'] in seen:
            raise AnsibleFilterError('%s: the table is listed twice' % label)
        seen.add(table['name'])
        result = dict((key, value) for key, value in table.items() if key not in TOPOLOGY_KEYS + ('partition_options',))
        if table.get('partition_count') is not None:
            partitions = _hash_partitions(table, label, shards, pinned, servers)
        else:
            partitions = [dict(partition) for partition in table.get('partitions') or []]
        for position, partition in enumerate(partitions):
            if not isinstance(partition, dict) or not partition.get('name'):
                raise AnsibleFilterError('%s: partitions[%d] needs a name' % (label, position))
            shard = partition.get('shard')
            if shard is None:
                continue
            if shard not in shards:
                raise AnsibleFilterError('%s: partition %s is placed on shard %r, which is not in the shards group (%s)'
                                         % (label, partition['name'], shard, ', '.join(sorted(shards)) or 'empty'))
            if partition.get('server') not in (None, servers.get(shard, shard)):
                raise AnsibleFilterError('%s: partition %s sets both shard and a different server; give one of them'
                                         % (label, partition['name']))
            partition['server'] = servers.get(shard, shard)
        result['partitions'] = partitions
        placed.append(result)
    return placed


def _module_partition(partition, keep_server):
    drop = PLACEMENT_KEYS + (() if keep_server else ('server', 'options'))
    return dict((key, value) for key, value in partition.items() if key not in drop)


def coordinator_tables(placed):
    """partitioned_table arguments for the coordinator."""
    out = []
    for table in placed:
        spec = dict(table, partitions=[_module_partition(p, True) for p in table['partitions']])
        if any(p.get('server') for p in spec['partitions']):
            spec.pop('primary_key', None)
        out.append(spec)
    return out


def shard_tables(placed, host):
    """partitioned_table arguments (side: shard) for one shard host."""
    out = []
    for table in placed:
        mine = [_module_partition(p, False) for p in table['partitions'] if p.get('shard') == host]
        if mine:
            spec = dict((key, value) for key, value in table.items() if key not in COORDINATOR_ONLY_KEYS)
            spec.update(side='shard', partitions=mine)
            out.append(spec)
    return out


def peers(hosts, hostvars, default_port=5432):
    """Address, port and foreign server name of each host in hosts."""
    out = []
    for host in sorted(hosts or []):
        hv = hostvars[host]
        out.append(dict(
            host=host,
            address=str(hv.get('pgdist_address') or hv.get('ansible_host') or host),
            port=int(hv.get('pgdist_port') or default_port),
            server=str(hv.get('pgdist_foreign_server_name') or host),
        ))
    return out


def fdw_hba_rules(coordinators, database, user):
    """pg_hba rules for the fdw login user on a shard."""
    rules = [dict(type='local', database=database, user=user, method='scram-sha-256',
                  comment='the shard role creates the shard tables as the fdw user')]
    for peer in coordinators:
        rules.append(dict(type='host', database=database, user=user, address=peer['address'], method='scram-sha-256',
                          comment='postgres_fdw from coordinator %s' % peer['host']))
    return rules


class FilterModule(object):
    def filters(self):
        return {
            'place_partitions': place_partitions,
            'coordinator_tables': coordinator_tables,
            'shard_tables': shard_tables,
            'peers': peers,
            'fdw_hba_rules': fdw_hba_rules,
        }
