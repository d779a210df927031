# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcilers for logical replication: publications and subscriptions.

Same shape as reconcile.py: read the catalog, queue statements on
request.plan, return dict(before=, after=) for diff mode. Two things are
particular here:

- A row filter (PostgreSQL 15 ``WHERE (...)``) is an SQL expression, the one
  piece of user text that reaches SQL unquoted. It is checked lexically
  (balanced parentheses outside quotes; no ``;``, comments, backslashes or
  ``$``) and then parsed by the server itself inside a savepoint that is
  rolled back, so it is validated and normalised (pg_get_expr) even in check
  mode; the probe must yield exactly one table with one filter.
- A subscription's conninfo carries the replication password. It is
  registered as a secret, parsed with psycopg2.extensions.parse_dsn and shown
  only with the password replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, sqlbuild, versions
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message, savepoint, scrub
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_expression, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import REDACTED, Refusal

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - reported by the runner
    pass

PUBLISH_ACTIONS = ('insert', 'update', 'delete', 'truncate')
TABLE_KINDS = ('r', 'p')


# -- publication ---------------------------------------------------------------

def check_row_filter(where, field):
    """Refuse a row filter that could leave its WHERE (...) or hide a second statement."""
    return check_expression(where, field, 'row filters')


def server_row_filter(conn, schema, table, where, field):
    """The filter as the server stores it (pg_get_expr), from a probe publication rolled back at once."""
    probe = 'pgdist_probe_' + uuid.uuid4().hex
    try:
        with savepoint(conn, 'pgdist_probe', keep=False), conn.cursor() as cursor:
            cursor.execute(sqlbuild.create_publication(probe, objects=[(schema, table, where, None)]))
            stored = catalog.publication(conn, probe)
    except psycopg2.Error as exc:
        raise InvalidInput('%s: PostgreSQL refused the row filter: %s' % (field, pg_message(exc)))
    tables = stored['tables']
    if stored['tables_in_schema'] or len(tables) != 1 or (tables[0]['schema'], tables[0]['name']) != (schema, table):
        raise InvalidInput('%s must be one expression on %s.%s' % (field, schema, table))
    return tables[0]['where']


def _wanted_tables(request, tables):
    """{(schema, table): (where, columns)} from the tables option, checked against the catalog."""
    conn = request.conn
    wanted = {}
    for index, item in enumerate(tables):
        field = 'tables[%d]' % index
        if isinstance(item, str):
            item = dict(name=item)
        if not isinstance(item, dict) or set(item) - set(('name', 'where', 'columns')):
            raise InvalidInput('%s must be a table name or a dict with keys name, where, columns' % field)
        schema, table = split_qualified(item.get('name'), field + '.name')
        kind = catalog.relation_kind(conn, schema, table)
        if kind is None:
            request.assume_created('table %s.%s' % (schema, table),
                                   '%s.name: %s.%s is not a table in this database' % (field, schema, table))
        elif kind not in TABLE_KINDS:
            raise InvalidInput('%s.name: %s.%s is not a table in this database' % (field, schema, table))
        columns = item.get('columns')
        if columns is not None:
            if not isinstance(columns, list) or not columns:
                raise InvalidInput('%s.columns must be a non-empty list of column names' % field)
            versions.require(conn, 15, '%s.columns (a column list)' % field)
            columns = sorted(set(check_identifier(column, field + '.columns') for column in columns))
        where = item.get('where')
        if where is not None:
            check_row_filter(where, field + '.where')
            versions.require(conn, 15, '%s.where (a row filter)' % field)
            # A table check mode has not created cannot parse its filter: it is shown as given.
            if kind is not None:
                where = server_row_filter(conn, schema, table, where, field + '.where')
        if (schema, table) in wanted:
            raise InvalidInput('%s.name: %s.%s is listed twice' % (field, schema, table))
        wanted[(schema, table)] = (where, columns)
    return wanted


def _wanted_schemas(request, schemas):
    if schemas:
        versions.require(request.conn, 15, 'tables_in_schema')
    for index, schema in enumerate(schemas):
        check_identifier(schema, 'tables_in_schema[%d]' % index)
        if not catalog.schema_exists(request.conn, schema):
            request.assume_created('schema %s' % schema, 'tables_in_schema[%d]: schema %r does not exist' % (index, schema))
    return sorted(set(schemas))


def _publication_view(name, owner, all_tables, tables, schemas, publish, via_root):
    return dict(
        name=name, owner=owner, all_tables=all_tables,
        tables=[dict(name='%s.%s' % key, where=tables[key][0], columns=tables[key][1]) for key in sorted(tables)],
        tables_in_schema=list(schemas), publish=list(publish), publish_via_partition_root=via_root)


def _current_publication(row):
    tables = dict(((item['schema'], item['name']), (item['where'], sorted(item['columns']) if item['columns'] else None))
                  for item in row['tables'])
    publish = [action for action in PUBLISH_ACTIONS if row['pub' + action]]
    return tables, row['tables_in_schema'], publish


def _objects(tables, schemas):
    return [(key[0], key[1]) + tables[key] for key in sorted(tables)] + list(schemas)


def publication(request):
    params, plan, conn = request.params, request.plan, request.conn
    name = check_identifier(params['name'], 'name')
    row = catalog.publication(conn, name)
    current = None
    if row:
        tables, schemas, publish = _current_publication(row)
        current = _publication_view(name, row['owner'], row['all_tables'], tables, schemas, publish,
                                    row['publish_via_partition_root'])
    if not request.present:
        if row:
            plan.add(sqlbuild.drop('PUBLICATION', name))
        return dict(before=current or {}, after={}, replica_identity_full=[])

    owner = params.get('owner')
    if owner:
        check_identifier(owner, 'owner')
        if not catalog.role_exists(conn, owner):
            request.assume_created('role %s' % owner, 'owner: role %r does not exist' % owner)
    publish = params['publish']
    for action in publish:
        if action not in PUBLISH_ACTIONS:
            raise InvalidInput('publish: unknown action %r; choose from %s' % (action, ', '.join(PUBLISH_ACTIONS)))
    publish = [action for action in PUBLISH_ACTIONS if action in publish]
    all_tables = params['all_tables']
    managed = all_tables or params.get('tables') is not None or params.get('tables_in_schema') is not None
    if all_tables and (params.get('tables') or params.get('tables_in_schema')):
        raise InvalidInput('all_tables: cannot be combined with tables or tables_in_schema')
    if managed:
        wanted_tables = _wanted_tables(request, params.get('tables') or [])
        wanted_schemas = _wanted_schemas(request, params.get('tables_in_schema') or [])
    elif row:
        wanted_tables, wanted_schemas, all_tables = tables, schemas, row['all_tables']
    else:
        wanted_tables, wanted_schemas = {}, []
    identity_full = _plan_keyless_identity(request, wanted_tables) if params['keyless_identity'] == 'full' else []
    via_root = params['publish_via_partition_root']
    options = dict(publish=', '.join(publish), publish_via_partition_root=via_root)
    after = _publication_view(name, owner or (row['owner'] if row else catalog.current_user(conn)), all_tables,
                              wanted_tables, wanted_schemas, publish, via_root)

    if row and row['all_tables'] != all_tables:
        # FOR ALL TABLES cannot be altered into a list or back. A publication holds
        # no rows; recreating it in the same transaction is invisible to subscribers.
        plan.warn('publication %s switches %s FOR ALL TABLES: it is dropped and created again in one transaction'
                  % (name, 'to' if all_tables else 'away from'))
        plan.add(sqlbuild.drop('PUBLICATION', name))
        row = None
        owner = after['owner']
    if row is None:
        plan.add(sqlbuild.create_publication(name, all_tables, _objects(wanted_tables, wanted_schemas), options))
        if owner and owner != catalog.current_user(conn):
            plan.add(sqlbuild.alter_owner('PUBLICATION', name, owner))
        return dict(before=current or {}, after=after, replica_identity_full=identity_full)

    if not all_tables:
        _plan_membership(plan, name, tables, schemas, wanted_tables, wanted_schemas)
    changed_options = dict((key, value) for key, value in options.items()
                           if (key == 'publish' and publish != current['publish']) or
                           (key == 'publish_via_partition_root' and value != current[key]))
    if changed_options:
        plan.add(sqlbuild.alter_publication_options(name, changed_options))
    if owner and owner != row['owner']:
        plan.add(sqlbuild.alter_owner('PUBLICATION', name, owner))
    return dict(before=current, after=after, replica_identity_full=identity_full)


def _plan_keyless_identity(request, tables):
    """REPLICA IDENTITY FULL for the listed plain tables without a key or identity index; their names."""
    identities = catalog.replica_identities(request.conn, sorted(tables))
    keyless = [key for key in sorted(identities) if identities[key]['identity'] == 'd' and not identities[key]['keyed']]
    for schema, table in keyless:
        request.plan.add(sqlbuild.replica_identity_full(schema, table))
    return ['%s.%s' % key for key in keyless]


def _plan_membership(plan, name, tables, schemas, wanted_tables, wanted_schemas):
    """ADD and DROP what is new and gone; SET the whole list when a filter or column list changes."""
    modified = [key for key in wanted_tables if key in tables and tables[key] != wanted_tables[key]]
    if modified:
        plan.add(sqlbuild.alter_publication_objects(name, 'SET', _objects(wanted_tables, wanted_schemas)))
        return
    gone = [key + (None, None) for key in sorted(tables) if key not in wanted_tables]
    gone += [schema for schema in schemas if schema not in wanted_schemas]
    new = [key + wanted_tables[key] for key in sorted(wanted_tables) if key not in tables]
    new += [schema for schema in wanted_schemas if schema not in schemas]
    if gone:
        plan.add(sqlbuild.alter_publication_objects(name, 'DROP', gone))
    if new:
        plan.add(sqlbuild.alter_publication_objects(name, 'ADD', new))


# -- subscription ---------------------------------------------------------------

CONNECTION_KEYS = ('host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'channel_binding',
                   'application_name')
ALTERABLE_OPTIONS = ('binary', 'streaming', 'disable_on_error', 'synchronous_commit')
# Options newer than PostgreSQL 13: {option: (first major, what older servers always do)}.
NEWER_OPTIONS = dict(binary=(14, False), streaming=(14, 'off'), disable_on_error=(15, False))
STREAMING = {'true': 'on', 't': 'on', 'on': 'on', 'false': 'off', 'f': 'off', 'off': 'off',
             'parallel': 'parallel'}


def conninfo_quote(value):
    """A libpq conninfo value in single quotes, backslash-escaped."""
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")


def build_conninfo(connection):
    return ' '.join('%s=%s' % (key, conninfo_quote(connection[key])) for key in CONNECTION_KEYS if key in connection)


def _secret_password(request, password):
    """Register a conninfo password in every spelling it can take in a statement."""
    if password:
        escaped = conninfo_quote(password)[1:-1]
        for form in (password, escaped, escaped.replace("'", "''")):
            request.secret(form)


def _shown_connection(connection):
    return dict((key, REDACTED if key == 'password' else value) for key, value in connection.items())


def _wanted_connection(connection):
    """The conninfo keywords as parse_dsn gives them back: strings, unset ones left out."""
    return dict((key, str(value)) for key, value in connection.items() if value is not None)


def streaming_mode(value, field='options.streaming'):
    if value is None:
        return None
    text = {True: 'on', False: 'off'}.get(value, str(value).lower())
    if text not in STREAMING:
        raise InvalidInput('%s must be on, off or parallel (PostgreSQL 16), not %r' % (field, value))
    return STREAMING[text]


def server_options(conn, options):
    """The options this server has: one it lacks is refused when it asks for something else than what
    the server always does, and left out of the statements when it asks for just that."""
    usable = dict(options)
    if usable.get('streaming') == 'parallel':
        versions.require(conn, 16, 'options.streaming: parallel')
    for key in sorted(NEWER_OPTIONS):
        first, implied = NEWER_OPTIONS[key]
        if usable.get(key) is not None and not versions.has(conn, first):
            if usable[key] != implied:
                versions.require(conn, first, 'options.%s: %s' % (key, str(usable[key]).lower()))
            usable[key] = None
    return usable


def _subscription_view(row, connection):
    view = dict((key, row[key]) for key in ('name', 'enabled', 'binary', 'disable_on_error', 'synchronous_commit',
                                            'slot_name'))
    view.update(publications=sorted(row['publications']), streaming=streaming_mode(row['streaming']),
                connection=_shown_connection(connection))
    return view


def probe_publisher(connection, slot_name, timeout):
    """(reachable, slot exists, reason): connect to the publisher with the subscription's own conninfo."""
    try:
        conn = psycopg2.connect(connect_timeout=timeout, **connection)
    except psycopg2.Error as exc:
        return False, None, scrub(str(exc).strip(), [connection.get('password')])
    try:
        return True, catalog.replication_slot(conn, slot_name) is not None, None
    finally:
        conn.close()


def subscription(request):
    params, plan, conn = request.params, request.plan, request.conn
    name = check_identifier(params['name'], 'name')
    row = catalog.subscription(conn, name)
    current_connection = psycopg2.extensions.parse_dsn(row['conninfo']) if row else {}
    _secret_password(request, current_connection.get('password'))
    before = _subscription_view(row, current_connection) if row else {}
    if not request.present:
        orphaned = _plan_drop(request, name, row, current_connection) if row else None
        return dict(before=before, after={}, orphaned_slot=orphaned)

    options = dict(params.get('options') or {})
    options['streaming'] = streaming_mode(options.get('streaming'))
    options = server_options(conn, options)
    if options.get('slot_name') is not None:
        check_identifier(options['slot_name'], 'options.slot_name')
    publications = params.get('publications')
    if publications is not None:
        if not publications:
            raise InvalidInput('publications must list at least one publication')
        publications = sorted(set(check_identifier(item, 'publications') for item in publications))
    connection = params.get('connection')
    if connection is not None:
        _secret_password(request, connection.get('password'))
        connection = _wanted_connection(connection)

    if row is None:
        if connection is None or publications is None:
            raise InvalidInput('connection and publications are required to create subscription %s' % name)
        given = dict((key, value) for key, value in options.items() if value is not None)
        plan.add(sqlbuild.create_subscription(name, build_conninfo(connection), publications, given),
                 in_transaction=given.get('create_slot') is False)
        after = dict(name=name, publications=publications, connection=_shown_connection(connection),
                     enabled=given.get('enabled', True), binary=given.get('binary', False),
                     streaming=given.get('streaming', 'parallel' if versions.has(conn, 18) else 'off'),
                     disable_on_error=given.get('disable_on_error', False),
                     synchronous_commit=given.get('synchronous_commit', 'off'),
                     slot_name=given.get('slot_name', name))
        return dict(before={}, after=after)

    after = dict(before)
    if connection is not None and connection != current_connection:
        plan.add(sqlbuild.alter_subscription_connection(name, build_conninfo(connection)))
        after['connection'] = _shown_connection(connection)
        if 'password' in connection and 'password' in current_connection and \
                connection['password'] != current_connection['password']:
            after['connection']['password'] = REDACTED + ' (changed)'
    changed = dict((key, options[key]) for key in ALTERABLE_OPTIONS
                   if options.get(key) is not None and options[key] != before[key])
    if changed:
        plan.add(sqlbuild.alter_subscription_options(name, changed))
        after.update(changed)
    enabled = row['enabled'] if options.get('enabled') is None else options['enabled']
    slot_name = options.get('slot_name')
    if slot_name is not None and slot_name != row['slot_name']:
        # PostgreSQL changes slot_name only on a disabled subscription.
        if row['enabled']:
            plan.add(sqlbuild.alter_subscription(name, 'DISABLE'))
        plan.add(sqlbuild.alter_subscription_options(name, dict(slot_name=slot_name)))
        after['slot_name'] = slot_name
        if enabled:
            plan.add(sqlbuild.alter_subscription(name, 'ENABLE'))
    elif enabled != row['enabled']:
        plan.add(sqlbuild.alter_subscription(name, 'ENABLE' if enabled else 'DISABLE'))
    after['enabled'] = enabled
    _plan_publications(request, name, row, publications, enabled, options.get('copy_data'), after)
    return dict(before=before, after=after)


def _plan_publications(request, name, row, publications, enabled, copy_data, after):
    """SET PUBLICATION when the list changed, REFRESH for state=refresh; both refresh outside a transaction."""
    plan = request.plan
    refresh_options = {} if copy_data is None else dict(copy_data=copy_data)
    if publications is not None and publications != sorted(row['publications']):
        after['publications'] = publications
        if enabled:
            plan.add(sqlbuild.alter_subscription_publications(name, publications, refresh_options),
                     in_transaction=False)
            return
        plan.add(sqlbuild.alter_subscription_publications(name, publications, dict(refresh=False)))
        plan.warn('subscription %s is disabled, so its new publications were not refreshed; enable it and run '
                  'state=refresh to copy their tables' % name)
    if request.params['state'] == 'refresh':
        if not enabled:
            raise Refusal('state=refresh: subscription %s is disabled and PostgreSQL refreshes only enabled '
                          'subscriptions; set options.enabled: true' % name)
        plan.add(sqlbuild.alter_subscription(name, 'REFRESH PUBLICATION', refresh_options), in_transaction=False)


def _plan_drop(request, name, row, connection):
    """DROP SUBSCRIPTION, which drops the slot on the publisher; detach the slot first when that cannot work.

    Returns the name of a slot left behind on an unreachable publisher, else None.
    """
    plan, slot = request.plan, row['slot_name']
    if slot is None:
        plan.add(sqlbuild.drop('SUBSCRIPTION', name))
        return None
    reachable, slot_exists, reason = probe_publisher(connection, slot, request.params['connect_timeout'])
    if reachable and slot_exists:
        plan.add(sqlbuild.drop('SUBSCRIPTION', name), in_transaction=False)
        return None
    if row['enabled']:
        plan.add(sqlbuild.alter_subscription(name, 'DISABLE'))
    plan.add(sqlbuild.alter_subscription_options(name, dict(slot_name=None)))
    plan.add(sqlbuild.drop('SUBSCRIPTION', name))
    if not reachable:
        plan.warn('publisher of subscription %s (host %s port %s) is unreachable: %s. The subscription was dropped '
                  'without its replication slot %r, which keeps WAL on the publisher until it is dropped there: '
                  "SELECT pg_drop_replication_slot('%s');"
                  % (name, connection.get('host'), connection.get('port', 5432), reason, slot, slot))
        return slot
    return None
