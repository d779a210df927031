# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology rules in one place: pure Python, no psycopg2, no AnsibleModule.

Who is who (coordinator, shards, replicas), how peers reach each other,
where every partition lives, who publishes what to whom, and what each host
must hold. The filter plugins (plugins/filter/topology.py) are thin adapters
over these functions and plugins/module_utils/node_plan.py builds the per-host
slices of ``pgdist_plan`` from them. Nothing here talks to a server: the
current state comes in as data read by pgdist.cluster.cluster_info.

Names are schema-qualified everywhere: ``schema.name``, split at the first
dot (identifiers.split_qualified), ``public`` when no schema is given. The
placement read from the coordinator is keyed the same way, so two tables of
the same name in two schemas never share a pin.

Bad input raises identifiers.InvalidInput with a message naming the table or
host and the field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.argspec import (
    PLACEMENT_OPTIONS, check_layout, check_table_entry)

# Keys of a pgdist_tables entry that only drive placement; the module never sees them.
TOPOLOGY_KEYS = tuple(sorted(PLACEMENT_OPTIONS))
# Table keys that only make sense on the coordinator's parent.
COORDINATOR_ONLY_KEYS = ('prune_partitions', 'key_update', 'route_trigger')
REFERENCE_KEYS = ('name', 'columns', 'primary_key', 'state')
SUBSCRIPTION_KEYS = ('name', 'publisher', 'publication', 'tables', 'synchronous')
NOT_SLOT_CHARACTERS = re.compile(r'[^a-z0-9_]')
DEFAULT_PORT = 5432


# -- names ------------------------------------------------------------------------------

def qualified_name(name, field='name', default_schema='public'):
    """'schema.name' for 'name' or 'schema.name' (checked identifiers)."""
    return '%s.%s' % split_qualified(name, field, default_schema)


def _slug(name):
    return NOT_SLOT_CHARACTERS.sub('_', str(name).lower())


def replication_name(prefix, host):
    """A publication, subscription or slot name for an inventory host: lower case, [a-z0-9_] only."""
    name = prefix + _slug(host)
    if len(name) > 63:
        raise InvalidInput('replication name %r is longer than 63 characters; use a shorter inventory name for %s'
                           % (name, host))
    return name


# -- peers and TLS ----------------------------------------------------------------------

def peer(host, facts):
    """{host, address, port, server}: how the other nodes reach host."""
    return dict(host=host, address=str(facts.get('address') or host), port=int(facts.get('port') or DEFAULT_PORT),
                server=str(facts.get('foreign_server_name') or host))


def flag(value, name):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise InvalidInput('%s must be a boolean, got %r' % (name, value))


def peer_ssl_options(ssl, ca_file=''):
    """libpq sslmode (and sslrootcert) of the connections between the nodes.

    Off: {} (libpq's prefer). On without a CA: require (the peers' generated
    certificates are self-signed: encrypted, peer not authenticated) with
    channel_binding=require: SCRAM bound to the TLS channel, so a machine in
    the middle cannot complete authentication, and a server that does not
    ask for SCRAM is refused. With a CA: verify-full against it.
    """
    if not flag(ssl, 'pgdist_ssl'):
        return {}
    if ca_file:
        ca_file = str(ca_file)
        if not ca_file.startswith('/'):
            raise InvalidInput('pgdist_ssl_ca_file must be an absolute path on the hosts, got %r' % ca_file)
        return {'sslmode': 'verify-full', 'sslrootcert': ca_file}
    return {'sslmode': 'require', 'channel_binding': 'require'}


def require_ssl(rules, ssl):
    """rules with every host rule turned into hostssl when ssl is on."""
    if not isinstance(rules, list):
        raise InvalidInput('pg_hba rules must be a list, got %s' % type(rules).__name__)
    if not flag(ssl, 'pgdist_ssl'):
        return rules
    return [dict(rule, type='hostssl') if isinstance(rule, dict) and rule.get('type', 'host') == 'host' else rule
            for rule in rules]


# -- placement ---------------------------------------------------------------------------

def _table_label(table, index):
    name = table.get('name') if isinstance(table, dict) else None
    return 'pgdist_tables[%d] (%s)' % (index, name) if name else 'pgdist_tables[%d]' % index


def _hash_partitions(table, label, shards, pinned, servers):
    count = table['partition_count']
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidInput('%s: partition_count must be a positive integer, got %r' % (label, count))
    if table.get('partitions'):
        raise InvalidInput('%s: give either partition_count or partitions, not both' % label)
    method = (table.get('partition_by') or {}).get('method')
    if method != 'hash':
        raise InvalidInput('%s: partition_count needs partition_by.method hash, got %r' % (label, method))
    spread = sorted(table.get('shards') or shards)
    for shard in spread:
        if shard not in shards:
            raise InvalidInput('%s: shards lists %r, which is not in the shards group (%s)'
                               % (label, shard, ', '.join(sorted(shards)) or 'empty'))
    if not spread:
        raise InvalidInput('%s: a hash table with partition_count needs at least one shard in the shards group'
                           % label)
    by_server = dict((servers.get(shard, shard), shard) for shard in shards)
    schema, base = split_qualified(table['name'], label + ': name')
    partitions = []
    for index in range(count):
        name = '%s_p%d' % (base, index)
        shard = spread[index % len(spread)]
        current = pinned.get('%s.%s' % (schema, name))
        if current is not None:
            if current not in by_server:
                raise InvalidInput(
                    '%s: partition %s.%s lives on foreign server %r, which is no shard of the shards group any '
                    'more; removing a shard would hide its rows. Put the shard back in the inventory, or move the '
                    'partition first.' % (label, schema, name, current))
            shard = by_server[current]
        partition = dict(name=name, modulus=count, remainder=index, shard=shard)
        if table.get('partition_options'):
            partition['options'] = dict(table['partition_options'])
        partitions.append(partition)
    return partitions


def place_partitions(tables, shards, pinned=None, servers=None):
    """Every table of pgdist_tables with its partitions resolved.

    A partition with ``shard`` (an inventory host of the shards group) gets
    ``server``, that shard's foreign server name. ``partition_count: N`` on a
    hash table makes ``<table>_p0`` .. ``<table>_p<N-1>`` in the table's
    schema; partition ``i`` goes to ``sorted(shards)[i % len(shards)]``
    unless ``pinned`` (``schema.partition`` -> foreign server, as read from
    the coordinator) already places it: an existing partition never moves
    when shards are added.
    """
    if not isinstance(tables, list):
        raise InvalidInput('pgdist_tables must be a list of tables, got %s' % type(tables).__name__)
    shards = list(shards or [])
    pinned = dict(pinned or {})
    servers = dict(servers or {})
    placed = []
    seen = set()
    for index, table in enumerate(tables):
        label = _table_label(table, index)
        if not isinstance(table, dict) or not table.get('name'):
            raise InvalidInput('%s: every table needs a name' % label)
        check_table_entry(table, label)
        name = qualified_name(table['name'], label + ': name')
        if name in seen:
            raise InvalidInput('%s: the table is listed twice' % label)
        seen.add(name)
        result = dict((key, value) for key, value in table.items() if key not in TOPOLOGY_KEYS)
        if table.get('partition_count') is not None:
            partitions = _hash_partitions(table, label, shards, pinned, servers)
        else:
            partitions = [dict(partition) for partition in table.get('partitions') or []]
        for position, partition in enumerate(partitions):
            if not isinstance(partition, dict) or not partition.get('name'):
                raise InvalidInput('%s: partitions[%d] needs a name' % (label, position))
            shard = partition.get('shard')
            if shard is None:
                continue
            if shard not in shards:
                raise InvalidInput('%s: partition %s is placed on shard %r, which is not in the shards group (%s)'
                                   % (label, partition['name'], shard, ', '.join(sorted(shards)) or 'empty'))
            if partition.get('server') not in (None, servers.get(shard, shard)):
                raise InvalidInput('%s: partition %s sets both shard and a different server; give one of them'
                                   % (label, partition['name']))
            partition['server'] = servers.get(shard, shard)
        result['partitions'] = partitions
        check_layout(coordinator_tables([result])[0], label)
        if any(partition.get('shard') for partition in partitions):
            check_layout(_shard_spec(result, [_shard_partition(p) for p in partitions]), label + ' (on its shards)')
        placed.append(result)
    return placed


def pins_from_tables(tables):
    """``schema.partition`` -> foreign server of every foreign partition in cluster_info's ``tables``."""
    pins = {}
    for table in (tables or {}).values():
        for part in table.get('partitions') or []:
            if part.get('kind') == 'foreign' and part.get('server'):
                pins['%s.%s' % (part['schema'], part['name'])] = part['server']
    return pins


# -- partitioned_table arguments per side --------------------------------------------------

def coordinator_tables(placed):
    """partitioned_table arguments of the coordinator's parents (partitions keep server and options).

    A primary key stays only when every partition is local: PostgreSQL cannot
    build a unique index over foreign partitions, so the shards enforce it.
    """
    out = []
    for table in placed:
        spec = dict(table, partitions=[dict((k, v) for k, v in p.items() if k != 'shard') for p in table['partitions']])
        if any(p.get('server') for p in spec['partitions']):
            spec.pop('primary_key', None)
        out.append(spec)
    return out


def _shard_partition(partition):
    return dict((k, v) for k, v in partition.items() if k not in ('shard', 'server', 'options'))


def _shard_spec(table, partitions):
    spec = dict((key, value) for key, value in table.items() if key not in COORDINATOR_ONLY_KEYS)
    spec.update(side='shard', partitions=partitions)
    return spec


def shard_tables(placed, host):
    """partitioned_table arguments (side: shard) of the real tables behind host's partitions."""
    out = []
    for table in placed:
        mine = [_shard_partition(p) for p in table['partitions'] if p.get('shard') == host]
        if any(p.get('default') for p in mine):
            # a default partition's CHECK excludes every sibling's bounds, wherever they are
            mine += [dict(_shard_partition(p), elsewhere=True) for p in table['partitions'] if p.get('shard') != host]
        if mine:
            out.append(_shard_spec(table, mine))
    return out


def remote_table(schema, name, options=None):
    """(schema, table) a postgres_fdw foreign table schema.name reads: its schema_name and table_name
    options, else its own schema and name (postgres_fdw's defaults)."""
    options = options or {}
    return options.get('schema_name') or schema, options.get('table_name') or name


def published_tables(specs):
    """Qualified names of the tables behind shard-side arguments: remote_schema.remote_table of each
    partition, defaulting to the parent's schema and the partition name (as partitioned_table does)."""
    out = []
    for table in specs:
        parent_schema = split_qualified(table['name'], 'name')[0]
        for partition in table.get('partitions') or []:
            schema, name = split_qualified(partition['name'], 'partitions', parent_schema)
            remote = dict(schema_name=partition.get('remote_schema'), table_name=partition.get('remote_table'))
            out.append('%s.%s' % remote_table(parent_schema, name, remote))
    return out


def referenced_tables(specs):
    """Qualified names of the tables the foreign keys of partitioned_table arguments reference."""
    out = set()
    for table in specs:
        schema = split_qualified(table['name'], 'name')[0]
        for key in table.get('foreign_keys') or []:
            out.add(qualified_name(key['references']['table'], 'foreign_keys', schema))
    return sorted(out)


def check_foreign_keys(placed, reference_names):
    """A foreign key of a table with partitions on shards is enforced on each shard, against the shard's own
    copy of what it references: only a reference table (pgdist_reference_tables) has one everywhere."""
    for index, table in enumerate(placed):
        if not any(partition.get('shard') for partition in table['partitions']):
            continue
        for name in referenced_tables([table]):
            if name not in reference_names:
                raise InvalidInput('%s: foreign_keys: %s is not in pgdist_reference_tables (%s); a foreign key of a '
                                   'table with partitions on shards is checked on each shard against its own copy '
                                   'of a reference table, and a shard holds no other'
                                   % (_table_label(table, index), name, ', '.join(reference_names) or 'none'))


def reference_table_spec(table, index, label=None):
    """partitioned_table arguments of one plain table for an entry of pgdist_reference_tables (or the tables of
    a pgdist_subscriptions entry, label naming it).

    side: shard with one default partition named like the table gives exactly
    one plain table of that name, on the coordinator and every copy alike.
    """
    label = label or 'pgdist_reference_tables[%d]' % index
    if not isinstance(table, dict) or not table.get('name') or not table.get('columns'):
        raise InvalidInput('%s: every table needs a name and columns, got %r' % (label, table))
    unknown = sorted(set(table) - set(REFERENCE_KEYS))
    if unknown:
        raise InvalidInput('%s (%s): unknown key(s) %s; known: %s'
                           % (label, table['name'], ', '.join(unknown), ', '.join(REFERENCE_KEYS)))
    qualified_name(table['name'], label + ': name')
    key = (table.get('primary_key') or [table['columns'][0]['name']])[0]
    spec = dict(name=table['name'], columns=table['columns'], side='shard',
                partition_by=dict(method='list', key=[key]), partitions=[dict(name=table['name'], default=True)])
    for option in ('primary_key', 'state'):
        if table.get(option):
            spec[option] = table[option]
    return spec


# -- replication -------------------------------------------------------------------------------

def replication_links(groups, facts, reference_tables):
    """Every subscription of the topology: {kind, publisher, subscriber, publication, subscription,
    application_name, synchronous}.

    kind shard: each replica copies the shard its ``replica_of`` names
    (publication pgdist_shard_<shard>, subscription pgdist_replica_<replica>).
    kind reference: with reference tables the coordinator publishes
    pgdist_reference and every shard and replica subscribes as
    pgdist_reference_<host>. kind table: the entries of pgdist_subscriptions (table_links). The
    application name is the subscription name.
    """
    shards, replicas = groups['shards'], groups['replicas']
    links = []
    for replica in sorted(replicas):
        source = facts[replica].get('replica_of')
        if not source and facts[replica].get('subscriptions'):
            continue  # a replica of the tables its pgdist_subscriptions name only
        if not source:
            raise InvalidInput('%s is in the %s group but has no pgdist_replica_of (the shard it copies)'
                               % (replica, groups['names']['replicas']))
        if source not in shards:
            raise InvalidInput('%s: pgdist_replica_of is %r, which is not in the %s group (%s)'
                               % (replica, source, groups['names']['shards'], ', '.join(sorted(shards)) or 'empty'))
        subscription = replication_name('pgdist_replica_', replica)
        links.append(dict(kind='shard', publisher=source, subscriber=replica,
                          publication=replication_name('pgdist_shard_', source), subscription=subscription,
                          application_name=subscription,
                          synchronous=flag(facts[replica].get('replication_synchronous') or False,
                                           '%s: pgdist_replication_synchronous' % replica)))
    if reference_tables:
        if not groups['coordinators']:
            raise InvalidInput('pgdist_reference_tables needs a host in the %s group' % groups['names']['coordinator'])
        for host in sorted(shards) + sorted(replicas):
            subscription = replication_name('pgdist_reference_', host)
            links.append(dict(kind='reference', publisher=groups['coordinators'][0], subscriber=host,
                              publication='pgdist_reference', subscription=subscription,
                              application_name=subscription, synchronous=False))
    links += table_links(groups, facts)
    return links


def table_links(groups, facts):
    """The subscriptions of pgdist_subscriptions (kind table): on a subscriber, each entry copies plain tables
    of another host of the plan by logical replication, under the names given (the subscription, its slot and
    application_name, and the publication on the publisher), synchronously when asked. The tables
    ({name, columns, primary_key} as in pgdist_reference_tables) are created on both hosts."""
    hosts = sorted(set(groups['coordinators'] + groups['shards'] + groups['replicas']))
    links, publications = [], {}
    for host in hosts:
        entries = facts[host].get('subscriptions') or []
        if not isinstance(entries, list):
            raise InvalidInput('%s: pgdist_subscriptions must be a list, got %s' % (host, type(entries).__name__))
        for index, entry in enumerate(entries):
            links.append(_table_link(host, index, entry, hosts))
    seen = set()
    for link in links:
        label = '%s: pgdist_subscriptions (%s)' % (link['subscriber'], link['subscription'])
        if (link['subscriber'], link['subscription']) in seen:
            raise InvalidInput('%s: the subscription is listed twice' % label)
        seen.add((link['subscriber'], link['subscription']))
        tables = sorted(qualified_name(spec['name']) for spec in link['tables'])
        other = publications.setdefault((link['publisher'], link['publication']), tables)
        if other != tables:
            raise InvalidInput('%s: publication %s on %s is given with tables %s here and %s elsewhere; every '
                               'subscriber of one publication lists the same tables'
                               % (label, link['publication'], link['publisher'], ', '.join(tables), ', '.join(other)))
    return links


def _table_link(host, index, entry, hosts):
    label = '%s: pgdist_subscriptions[%d]' % (host, index)
    if not isinstance(entry, dict):
        raise InvalidInput('%s must be a dict with keys %s' % (label, ', '.join(SUBSCRIPTION_KEYS)))
    unknown = sorted(set(entry) - set(SUBSCRIPTION_KEYS))
    if unknown:
        raise InvalidInput('%s: unknown key(s) %s; known: %s' % (label, ', '.join(unknown), ', '.join(SUBSCRIPTION_KEYS)))
    for key in ('name', 'publisher', 'publication'):
        if not entry.get(key) or not isinstance(entry[key], str):
            raise InvalidInput('%s: %s is required (a name)' % (label, key))
    name, publisher = entry['name'], entry['publisher']
    if replication_name('', name) != name:
        raise InvalidInput('%s: name %r is also the slot name: lower case letters, digits and _ only' % (label, name))
    if publisher not in hosts or publisher == host:
        raise InvalidInput('%s (%s): publisher %r is not another host of the plan (%s)'
                           % (label, name, publisher, ', '.join(h for h in hosts if h != host)))
    check_identifier(entry['publication'], label + ': publication')
    tables = entry.get('tables')
    if not isinstance(tables, list) or not tables:
        raise InvalidInput('%s (%s): tables must list the tables to copy ({name, columns, primary_key})' % (label, name))
    specs = [reference_table_spec(table, position, '%s (%s): tables[%d]' % (label, name, position))
             for position, table in enumerate(tables)]
    return dict(kind='table', publisher=publisher, subscriber=host, publication=entry['publication'], subscription=name,
                application_name=name, tables=specs,
                synchronous=flag(entry.get('synchronous', False), '%s (%s): synchronous' % (label, name)))


def synchronous_standby_names(names, count=1):
    """ANY <count> ("a", "b"), or '' for no names."""
    names = sorted(set(names or []))
    if not names:
        return ''
    return 'ANY %d (%s)' % (int(count), ', '.join('"%s"' % name.replace('"', '""') for name in names))


# -- pg_hba rules the topology needs -------------------------------------------------------------

def fdw_hba_rules(coordinators, database, user):
    """A shard admits the fdw user to the database from each coordinator's address only (and on the
    local socket with its password: the tables role creates the shard tables as that user)."""
    rules = [dict(type='local', database=database, user=user, method='scram-sha-256',
                  comment='the shard tables are created as the fdw user')]
    for coordinator in coordinators:
        rules.append(dict(type='host', database=database, user=user, address=coordinator['address'],
                          method='scram-sha-256', comment='postgres_fdw from coordinator %s' % coordinator['host']))
    return rules


def replication_hba_rules(links, host, facts, database, user):
    """A publisher admits the replication user to the database from each subscriber's address
    (pgdist_replication_source_address, else pgdist_address): a database entry, since logical
    replication does not use the replication keyword."""
    rules, seen = [], set()
    for link in links:
        if link['publisher'] != host:
            continue
        subscriber = facts[link['subscriber']]
        address = str(subscriber.get('replication_source_address') or subscriber.get('address') or link['subscriber'])
        if address in seen:
            continue
        seen.add(address)
        rules.append(dict(type='host', database=database, user=user, address=address, method='scram-sha-256',
                          comment='logical replication to %s' % link['subscriber']))
    return rules
