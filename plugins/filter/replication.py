# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the replication role: who publishes what to whom.

``replication_links(groups, hostvars, coordinator_group, shards_group, replicas_group, reference_tables)``
    One link per subscription: ``{kind, publisher, subscriber, publication,
    subscription, application_name, synchronous}``.
    ``kind: shard``: every host of the replicas group names its shard with
    ``pgdist_replica_of``; publication ``pgdist_shard_<shard>`` on the shard,
    subscription ``pgdist_replica_<replica>`` on the replica, synchronous when
    the replica's ``pgdist_replication_synchronous`` is true.
    ``kind: reference``: when ``reference_tables`` is not empty, the
    coordinator publishes ``pgdist_reference`` and every shard and replica
    subscribes as ``pgdist_reference_<host>``. Names are lower-cased with
    every character outside ``[a-z0-9_]`` replaced by ``_`` (slot names allow
    nothing else); the application name is the subscription name.

``replication_hba_rules(links, host, hostvars, database, user)``
    The pg_hba rules a publisher needs: ``user`` reaches ``database``
    (a database entry: logical replication does not use the ``replication``
    keyword) from each of its subscribers' addresses, scram-sha-256. The
    address is the subscriber's ``pgdist_replication_source_address``, else
    ``pgdist_address``, else ``ansible_host``, else its name.

``synchronous_standby_names(names, count=1)``
    ``ANY <count> ("a", "b")``, or an empty string for no names.

``published_tables(tables, schema='public')``
    The schema-qualified tables behind ``partitioned_table`` arguments of the
    shard side (the ``shard_tables`` filter): ``remote_schema.remote_table`` of
    every partition, defaulting to the parent's schema and the partition name.

``reference_table_spec(table)``
    ``partitioned_table`` arguments (``side: shard``) for one entry of
    ``pgdist_reference_tables``: one default partition named like the table,
    so the module creates exactly one plain table with that name (on the
    coordinator and on every subscriber alike).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

NOT_SLOT_CHARACTERS = re.compile(r'[^a-z0-9_]')


def _slug(name):
    return NOT_SLOT_CHARACTERS.sub('_', str(name).lower())


def _name(prefix, host):
    name = prefix + _slug(host)
    if len(name) > 63:
        raise AnsibleFilterError('replication name %r is longer than 63 characters; use a shorter inventory name '
                                 'for %s' % (name, host))
    return name


def replication_links(groups, hostvars, coordinator_group='coordinator', shards_group='shards',
                      replicas_group='replicas', reference_tables=None):
    """Every subscription of the topology: see the module docstring."""
    shards = list(groups.get(shards_group) or [])
    replicas = list(groups.get(replicas_group) or [])
    links = []
    for replica in sorted(replicas):
        hv = hostvars[replica]
        source = hv.get('pgdist_replica_of')
        if not source:
            raise AnsibleFilterError('%s is in the %s group but has no pgdist_replica_of (the shard it copies)'
                                     % (replica, replicas_group))
        if source not in shards:
            raise AnsibleFilterError('%s: pgdist_replica_of is %r, which is not in the %s group (%s)'
                                     % (replica, source, shards_group, ', '.join(sorted(shards)) or 'empty'))
        subscription = _name('pgdist_replica_', replica)
        links.append(dict(kind='shard', publisher=source, subscriber=replica, publication=_name('pgdist_shard_', source),
                          subscription=subscription, application_name=subscription,
                          synchronous=bool(hv.get('pgdist_replication_synchronous', False))))
    if reference_tables:
        coordinators = list(groups.get(coordinator_group) or [])
        if not coordinators:
            raise AnsibleFilterError('pgdist_reference_tables needs a host in the %s group' % coordinator_group)
        for host in sorted(shards) + sorted(replicas):
            subscription = _name('pgdist_reference_', host)
            links.append(dict(kind='reference', publisher=coordinators[0], subscriber=host,
                              publication='pgdist_reference', subscription=subscription,
                              application_name=subscription, synchronous=False))
    return links


def _address(hv, host):
    return str(hv.get('pgdist_replication_source_address') or hv.get('pgdist_address') or hv.get('ansible_host')
               or host)


def replication_hba_rules(links, host, hostvars, database, user):
    """pg_hba rules of a publisher for its subscribers."""
    rules = []
    seen = set()
    for link in links:
        if link['publisher'] != host:
            continue
        address = _address(hostvars[link['subscriber']], link['subscriber'])
        if address in seen:
            continue
        seen.add(address)
        rules.append(dict(type='host', database=database, user=user, address=address, method='scram-sha-256',
                          comment='logical replication to %s' % link['subscriber']))
    return rules


def synchronous_standby_names(names, count=1):
    names = sorted(set(names or []))
    if not names:
        return ''
    return 'ANY %d (%s)' % (int(count), ', '.join('"%s"' % name.replace('"', '""') for name in names))


def published_tables(tables, schema='public'):
    out = []
    for table in tables or []:
        parent = str(table['name'])
        parent_schema = parent.split('.', 1)[0] if '.' in parent else schema
        for partition in table.get('partitions') or []:
            name = str(partition['name'])
            part_schema, part_name = name.split('.', 1) if '.' in name else (parent_schema, name)
            out.append('%s.%s' % (partition.get('remote_schema') or part_schema, partition.get('remote_table') or part_name))
    return out


def reference_table_spec(table):
    """partitioned_table arguments (side: shard) that make one plain table of a reference table."""
    if not isinstance(table, dict) or not table.get('name') or not table.get('columns'):
        raise AnsibleFilterError('pgdist_reference_tables: every table needs a name and columns, got %r' % (table,))
    unknown = sorted(set(table) - set(('name', 'columns', 'primary_key', 'state')))
    if unknown:
        raise AnsibleFilterError('pgdist_reference_tables: %s: unknown key(s) %s; known: name, columns, primary_key'
                                 % (table['name'], ', '.join(unknown)))
    key = (table.get('primary_key') or [table['columns'][0]['name']])[0]
    spec = dict(name=table['name'], columns=table['columns'], partition_by=dict(method='list', key=[key]),
                partitions=[dict(name=table['name'], default=True)])
    for option in ('primary_key', 'state'):
        if table.get(option):
            spec[option] = table[option]
    return spec


class FilterModule(object):
    def filters(self):
        return {
            'replication_links': replication_links,
            'replication_hba_rules': replication_hba_rules,
            'synchronous_standby_names': synchronous_standby_names,
            'published_tables': published_tables,
            'reference_table_spec': reference_table_spec,
        }
