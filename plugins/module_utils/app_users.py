# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application users: who logs in to the coordinator, from where, and what each may do (pure Python).

An entry of ``pgdist_app_users`` becomes, on the coordinator only:

- a login role (its password set by the coordinator role, never part of the plan);
- a user mapping on every shard's foreign server to the fdw user, like the
  roles of ``pgdist_fdw_mapped_users``: the shards know one login, and their
  pg_hba and grants stay as they are. The coordinator checks the application's
  privileges on its tables before postgres_fdw runs anything on a shard, and
  the application cannot create foreign tables (no USAGE on the servers), so
  it reaches the shards only through the tables it was granted;
- grants (``table_privileges`` arguments) on the tables it lists (default:
  every distributed and reference table), their partitions and inheritance
  children included (the seeds' routing trigger inserts into the children as
  the session's user), with ``with_usage`` for schemas and the sequences of
  column defaults; revocations of what its ``privileges`` no longer give, and
  of everything on the other managed tables, so the grants follow the
  inventory;
- a ``hostssl`` pg_hba rule (``host`` with ``pgdist_ssl`` off) per network,
  ``scram-sha-256``, for the distributed database.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.sqlbuild import TABLE_PRIVILEGES

APP_USER_KEYS = ('name', 'password', 'privileges', 'tables', 'networks', 'connection_limit')
PRIVILEGES = {'read_only': ('SELECT',), 'read_write': ('SELECT', 'INSERT', 'UPDATE', 'DELETE')}
DEFAULT_PRIVILEGES = 'read_only'
HBA_WORD = re.compile(r'^[^\s#",]+$')


def _qualified(name, field, default_schema='public'):
    return '%s.%s' % split_qualified(name, field, default_schema)


def managed_tables(placed, reference_specs):
    """{schema.table: [schema.table and its partitions or children]} of every distributed and reference table,
    and {schema.table: schema.table of its route_via lookup} (its routing trigger reads that table)."""
    tables, lookups = {}, {}
    for table in placed:
        name = _qualified(table['name'], 'name')
        schema = name.split('.', 1)[0]
        tables[name] = [name] + [_qualified(part['name'], 'partitions', schema) for part in table['partitions']]
        if (table.get('route_via') or {}).get('table'):
            lookups[name] = _qualified(table['route_via']['table'], 'route_via', schema)
    for spec in reference_specs:
        name = _qualified(spec['name'], 'name')
        tables[name] = [name]
    return tables, lookups


def _network(value, field):
    text = str(value)
    try:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    except ValueError:
        if not HBA_WORD.match(text):
            raise InvalidInput('%s: %r is neither an address, a CIDR nor a host name' % (field, text))
        return text


def _networks(values, field):
    if not isinstance(values, list):
        raise InvalidInput('%s must be a list of addresses or CIDRs, got %r' % (field, values))
    return [_network(value, '%s[%d]' % (field, index)) for index, value in enumerate(values)]


def _users(users, reserved):
    if not isinstance(users, list):
        raise InvalidInput('pgdist_app_users must be a list of users, got %s' % type(users).__name__)
    seen = set()
    for index, user in enumerate(users):
        label = 'pgdist_app_users[%d]' % index
        if not isinstance(user, dict) or not user.get('name'):
            raise InvalidInput('%s: every user needs a name and a password' % label)
        label = '%s (%s)' % (label, user['name'])
        unknown = sorted(set(user) - set(APP_USER_KEYS))
        if unknown:
            raise InvalidInput('%s: unknown key(s) %s; known: %s' % (label, ', '.join(unknown), ', '.join(APP_USER_KEYS)))
        name = check_identifier(user['name'], label + ': name')
        if name in seen:
            raise InvalidInput('%s: the user is listed twice' % label)
        seen.add(name)
        if name in reserved:
            raise InvalidInput('%s: %s is the collection\'s own %s; give the application a role of its own'
                               % (label, name, reserved[name]))
        # Only whether it is there: the value stays out of the plan (the coordinator role sets it).
        if user.get('password') in (None, ''):
            raise InvalidInput('%s: password is required (keep it in ansible-vault)' % label)
        privileges = user.get('privileges', DEFAULT_PRIVILEGES)
        if privileges not in PRIVILEGES:
            raise InvalidInput('%s: privileges %r is not one of %s' % (label, privileges, ', '.join(sorted(PRIVILEGES))))
        limit = user.get('connection_limit')
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < -1):
            raise InvalidInput('%s: connection_limit must be an integer, -1 for no limit, got %r' % (label, limit))
        yield label, name, privileges, user


def _grants(name, privileges, wanted, tables, lookups):
    """table_privileges arguments (role, privileges, tables, state, with_usage) of one user, in order."""
    granted = [relation for table in wanted for relation in tables[table]]
    privileges = list(PRIVILEGES[privileges])
    # A writer's inserts run the routing trigger, which reads the route_via table.
    reads = sorted(set(lookups[table] for table in wanted if table in lookups) - set(wanted)) \
        if 'INSERT' in privileges else []
    others = [relation for table in sorted(tables) if table not in wanted and table not in reads
              for relation in tables[table]]
    # Revoked: what the user's privileges no longer give. SELECT on a lookup table stays with it.
    withheld = [privilege for privilege in TABLE_PRIVILEGES if privilege not in privileges]
    grants = [(privileges, granted, 'present'), (['SELECT'], reads, 'present'), (withheld, granted, 'absent'),
              (list(TABLE_PRIVILEGES), others, 'absent')]
    return [dict(role=name, privileges=privileges, tables=relations, state=state, with_usage=True)
            for privileges, relations, state in grants if relations]


def app_users(variables, placed, reference_specs):
    """{logins, grants, hba_rules} of the coordinator for pgdist_app_users and pgdist_app_networks.

    logins: [{name, connection_limit}] (no password); grants: table_privileges arguments; hba_rules: pg_hba
    rules (type host: the caller makes them hostssl with TLS), one per network with the users of that network.
    """
    users = variables.get('app_users') or []
    default_networks = _networks(variables.get('app_networks') or [], 'pgdist_app_networks')
    reserved = dict((variables[key], what) for key, what in (
        ('fdw_user', 'fdw user (pgdist_fdw_user)'), ('replication_user', 'replication user (pgdist_replication_user)'),
        ('ha_replication_user', "Patroni's login (pgdist_ha_replication_user)")) if variables.get(key))
    reserved.setdefault('postgres', 'superuser')
    tables, lookups = managed_tables(placed, reference_specs)
    logins, grants, networks = [], [], {}
    for label, name, privileges, user in _users(users, reserved):
        wanted = []
        listed = user.get('tables')
        if listed is not None and not isinstance(listed, list):
            raise InvalidInput('%s: tables must be a list of table names, got %r' % (label, listed))
        for index, table in enumerate(sorted(tables) if listed is None else listed):
            qualified = _qualified(table, '%s: tables[%d]' % (label, index))
            if qualified not in tables:
                raise InvalidInput('%s: tables[%d]: %s is neither in pgdist_tables nor in pgdist_reference_tables '
                                   '(known: %s)' % (label, index, qualified, ', '.join(sorted(tables)) or 'none'))
            if qualified not in wanted:
                wanted.append(qualified)
        logins.append(dict(name=name, connection_limit=user.get('connection_limit')))
        grants += _grants(name, privileges, wanted, tables, lookups)
        own = user.get('networks')
        for network in default_networks if own is None else _networks(own, label + ': networks'):
            networks.setdefault(network, []).append(name)
    database = variables['database']
    rules = [dict(type='host', database=database, user=names, address=network, method='scram-sha-256',
                  comment='applications (pgdist_app_users) from %s' % network)
             for network, names in networks.items()]
    return dict(logins=logins, grants=grants, hba_rules=rules)
