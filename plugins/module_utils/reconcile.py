# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcilers for databases, roles, extensions, foreign servers, user mappings and table privileges.

Each takes a runner.Request, reads the current state through catalog,
queues the statements that reach the wanted state on request.plan and
returns dict(before=..., after=...) for diff mode. Nothing here executes a
change: the runner does, in one transaction, unless in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog, sqlbuild, versions
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import pg_message, savepoint
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import (
    SECRET_OPTIONS, Refusal, option_text, options_diff, redact_options)
from ansible_collections.pgdist.cluster.plugins.module_utils.scram import password_matches, scram_verifier

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    pass


# -- database ----------------------------------------------------------------

def _same_encoding(a, b):
    def norm(value):
        return value.replace('-', '').replace('_', '').upper()
    return norm(a) == norm(b)


def database(request):
    params, plan = request.params, request.plan
    name = check_identifier(params['name'], 'name')
    for field in ('owner', 'template'):
        if params.get(field):
            check_identifier(params[field], field)
    current = catalog.database(request.conn, name)
    if not request.present:
        if current:
            plan.add(sqlbuild.drop('DATABASE', name))
        return dict(before=current or {}, after={})
    if current is None:
        if params.get('owner') and not catalog.role_exists(request.conn, params['owner']):
            request.assume_created('role %s' % params['owner'], "owner: role %r does not exist" % params['owner'])
        plan.add(sqlbuild.create_database(name, params.get('owner'), params.get('template'), params.get('encoding'),
                                          params.get('lc_collate'), params.get('lc_ctype')))
        after = dict(name=name, owner=params.get('owner') or catalog.current_user(request.conn),
                     encoding=params.get('encoding'), lc_collate=params.get('lc_collate'),
                     lc_ctype=params.get('lc_ctype'))
        return dict(before={}, after=after)
    mismatches = []
    if params.get('encoding') and not _same_encoding(params['encoding'], current['encoding']):
        mismatches.append('encoding is %s, wanted %s' % (current['encoding'], params['encoding']))
    for field in ('lc_collate', 'lc_ctype'):
        if params.get(field) and params[field] != current[field]:
            mismatches.append('%s is %s, wanted %s' % (field, current[field], params[field]))
    if mismatches:
        raise InvalidInput('database %r exists and cannot be changed in place: %s (PostgreSQL fixes these '
                           'at creation; dump and restore into a new database to change them)'
                           % (name, '; '.join(mismatches)))
    after = dict(current)
    if params.get('owner') and params['owner'] != current['owner']:
        if not catalog.role_exists(request.conn, params['owner']):
            request.assume_created('role %s' % params['owner'], "owner: role %r does not exist" % params['owner'])
        plan.add(sqlbuild.alter_owner('DATABASE', name, params['owner']))
        after['owner'] = params['owner']
    return dict(before=current, after=after)


# -- user (role) ---------------------------------------------------------------

def _wanted_role_attributes(params):
    """{pg_authid column: bool} from the attributes list and the login flag."""
    wanted = {}
    for raw in params.get('attributes') or []:
        attribute = str(raw).upper().replace(' ', '')
        if attribute not in sqlbuild.ROLE_ATTRIBUTES:
            raise InvalidInput('attributes: unknown role attribute %r; choose from %s'
                               % (raw, ', '.join(sorted(sqlbuild.ROLE_ATTRIBUTES))))
        column, value = sqlbuild.ROLE_ATTRIBUTES[attribute]
        if wanted.get(column, value) != value:
            raise InvalidInput('attributes: %r contradicts another attribute in the list' % raw)
        wanted[column] = value
    if 'rolcanlogin' in wanted and wanted['rolcanlogin'] != params['login']:
        raise InvalidInput('attributes: LOGIN/NOLOGIN contradicts login=%s; use the login option' % params['login'])
    wanted['rolcanlogin'] = params['login']
    return wanted


def _attribute_keywords(columns):
    by_column = dict(((column, value), keyword) for keyword, (column, value) in sqlbuild.ROLE_ATTRIBUTES.items())
    return [by_column[(column, value)] for column, value in sorted(columns.items())]


def _role_view(row):
    if not row:
        return {}
    view = dict((key, value) for key, value in row.items() if key != 'password')
    view['password_set'] = bool(row.get('password'))
    return view


def _require_admin_option(conn, name):
    """From PostgreSQL 16 on, CREATEROLE alone no longer lets a role alter or drop another role: it needs
    the ADMIN OPTION on it (which a role gets on the roles it creates). Refuse before anything runs."""
    if versions.has(conn, 16) and name != catalog.current_user(conn) and not catalog.can_admin_role(conn, name):
        user = catalog.current_user(conn)
        raise Refusal('name: %s may not alter or drop role %s: from PostgreSQL 16 on that needs the ADMIN OPTION '
                      'on %s, CREATEROLE alone no longer suffices (as a superuser or a role holding it: '
                      'GRANT %s TO %s WITH ADMIN OPTION)' % (user, name, name, name, user))


def _stored_verifier(request, password, current):
    """The verifier to store for password, or None when the stored one already verifies it.

    PostgreSQL 18 deprecates MD5 passwords: there a matching MD5 verifier is stored again as SCRAM-SHA-256
    (the same password), with a warning.
    """
    name = current['name']
    if not catalog.can_read_authid(request.conn):
        request.plan.warn('cannot read pg_authid to compare the password of %s; it is set on every run' % name)
        return scram_verifier(password)
    if password == '':
        return None if not current['password'] else ''
    if not password_matches(password, current['password'], name):
        return scram_verifier(password)
    if current['password'].startswith('md5') and versions.has(request.conn, 18):
        request.plan.warn('role %s had its password stored as MD5, which PostgreSQL 18 deprecates; it is stored '
                          'again as SCRAM-SHA-256 (the password itself is unchanged)' % name)
        return scram_verifier(password)
    return None


def _grant_memberships(request, name, current):
    """GRANT each role of member_of that name is not a member of yet (others are left as they are); the roles
    name is a member of afterwards."""
    wanted = [check_identifier(role, 'member_of') for role in request.params.get('member_of') or []]
    missing = [role for role in wanted if role not in current]
    for role in missing:
        if not catalog.role_exists(request.conn, role):
            raise InvalidInput('member_of: role %r does not exist' % role)
        request.plan.add(sqlbuild.grant_role(role, name))
    return sorted(set(current) | set(missing))


def user(request):
    params, plan, conn = request.params, request.plan, request.conn
    name = check_identifier(params['name'], 'name')
    current = catalog.role(conn, name)
    if not request.present:
        if current:
            _require_admin_option(conn, name)
            plan.add(sqlbuild.drop('ROLE', name))
        return dict(before=_role_view(current), after={})
    wanted = _wanted_role_attributes(params)
    password = params.get('password')
    limit = params.get('connection_limit')
    if current is None:
        verifier = request.secret(scram_verifier(password)) if password else None
        plan.add(sqlbuild.create_role(name, _attribute_keywords(wanted), verifier, limit))
        after = dict(name=name, connection_limit=-1 if limit is None else limit, password_set=bool(password))
        after.update(wanted)
        after['member_of'] = _grant_memberships(request, name, [])
        return dict(before={}, after=after, password_changed=bool(password))
    changed_attributes = dict((column, value) for column, value in wanted.items() if current[column] != value)
    new_limit = limit if limit is not None and limit != current['connection_limit'] else None
    verifier = None
    if password is not None and params['update_password'] == 'always':
        verifier = _stored_verifier(request, password, current)
    if verifier is not None:
        request.secret(verifier)
    if changed_attributes or new_limit is not None or verifier is not None:
        _require_admin_option(conn, name)
        statement = sqlbuild.alter_role(name, _attribute_keywords(changed_attributes),
                                        None if verifier == '' else verifier, new_limit)
        if verifier == '':
            statement = statement + sql.SQL(' PASSWORD NULL')
        plan.add(statement)
    after = _role_view(current)
    after.update(changed_attributes)
    if new_limit is not None:
        after['connection_limit'] = new_limit
    if verifier is not None:
        after['password_set'] = verifier != ''
    before = _role_view(current)
    before['member_of'] = catalog.role_memberships(conn, name)
    after['member_of'] = _grant_memberships(request, name, before['member_of'])
    return dict(before=before, after=after, password_changed=verifier is not None)


# -- extension ---------------------------------------------------------------

def extension(request):
    params, plan, conn = request.params, request.plan, request.conn
    name = check_identifier(params['name'], 'name')
    if params.get('schema'):
        check_identifier(params['schema'], 'schema')
    current = catalog.extension(conn, name)
    if not request.present:
        if current:
            plan.add(sqlbuild.drop('EXTENSION', name, cascade=params['cascade']))
        return dict(before=current or {}, after={})
    version = params.get('version')
    latest = version == 'latest'
    if latest:
        version = None
    if current is None:
        available = catalog.extension_available(conn, name)
        if not available:
            # In check mode an earlier task may be about to install its files (the server role builds pgdist).
            request.assume_created('files of extension %s' % name,
                                   'name: extension %r is not available on this server; install the package '
                                   'that provides it' % name)
        elif version and version not in available:
            raise InvalidInput('version: extension %r has no version %r; available: %s'
                               % (name, version, ', '.join(sorted(available))))
        plan.add(sqlbuild.create_extension(name, params.get('schema'), version, params['cascade']))
        return dict(before={}, after=dict(name=name, schema=params.get('schema'), version=version))
    after = dict(current)
    if latest:
        # The version the installed files make the default: a new build's upgrade scripts apply.
        version = catalog.extension_default_version(conn, name)
    if version and version != current['version']:
        plan.add(sqlbuild.alter_extension_version(name, version))
        after['version'] = version
    if params.get('schema') and params['schema'] != current['schema']:
        plan.add(sqlbuild.alter_extension_schema(name, params['schema']))
        after['schema'] = params['schema']
    return dict(before=current, after=after)


# -- foreign data wrapper options ----------------------------------------------

def validate_fdw_options(conn, fdw, catalog_table, options, field):
    """Ask the wrapper's own validator about options, before any change.

    The validator is the function PostgreSQL calls on CREATE/ALTER; calling
    it directly inside a savepoint checks option names (and values it
    checks) in check mode too, and turns its error into one naming field.
    An option of a newer postgres_fdw than the server's is refused first,
    naming the version it needs.
    """
    versions.require_fdw_options(conn, fdw, catalog_table, options, field)
    validator = catalog.fdw_validator(conn, fdw)
    if validator is None or not options:
        return
    items = ['%s=%s' % (key, option_text(value)) for key, value in options.items()]
    try:
        with savepoint(conn, 'pgdist_validate'), conn.cursor() as cursor:
            cursor.execute(sqlbuild.validator_call(validator['schema'], validator['name']), (items, catalog_table))
    except psycopg2.Error as exc:
        raise InvalidInput('%s: %s' % (field, pg_message(exc, with_hint=True)))


# -- foreign server -------------------------------------------------------------

def foreign_server(request):
    params, plan, conn = request.params, request.plan, request.conn
    name = check_identifier(params['name'], 'name')
    current = catalog.foreign_server(conn, name)
    if not request.present:
        if current:
            dependents = catalog.foreign_tables_of_server(conn, name)
            if dependents and not params['cascade']:
                raise Refusal('foreign server %r is used by foreign tables %s; dropping it would drop them. '
                              'Set cascade: true to drop them too' % (name, ', '.join(dependents)))
            # User mappings hold no rows; they go with their server.
            plan.add(sqlbuild.drop('SERVER', name, cascade=True))
        return dict(before=current or {}, after={})
    fdw = check_identifier(params['fdw'], 'fdw')
    owner = params.get('owner')
    if owner:
        check_identifier(owner, 'owner')
        if not catalog.role_exists(conn, owner):
            request.assume_created('role %s' % owner, 'owner: role %r does not exist' % owner)
    options = params.get('options')
    if options is not None:
        for key in options:
            check_identifier(key, 'options')
    if current is None:
        if catalog.fdw_exists(conn, fdw):
            validate_fdw_options(conn, fdw, 'pg_catalog.pg_foreign_server', options, 'options')
        else:
            request.assume_created('foreign-data wrapper %s' % fdw,
                                   'fdw: foreign-data wrapper %r does not exist in this database; create its '
                                   'extension first (pgdist.cluster.extension name=%s)' % (fdw, fdw))
        plan.add(sqlbuild.create_server(name, fdw, options or {}))
        if owner:
            plan.add(sqlbuild.alter_owner('SERVER', name, owner))
        after = dict(name=name, fdw=fdw, owner=owner or catalog.current_user(conn),
                     options=dict((k, option_text(v)) for k, v in (options or {}).items()))
        return dict(before={}, after=after)
    if fdw != current['fdw']:
        raise Refusal('foreign server %r uses wrapper %s, not %s; changing it means dropping the server with '
                      'its user mappings and foreign tables, which this module never does implicitly'
                      % (name, current['fdw'], fdw))
    after = dict(current)
    if options is not None:
        actions = options_diff(current['options'], options)
        if actions:
            validate_fdw_options(conn, fdw, 'pg_catalog.pg_foreign_server', options, 'options')
            plan.add(sqlbuild.alter_server_options(name, actions))
            after['options'] = dict((k, option_text(v)) for k, v in options.items())
    if owner and owner != current['owner']:
        plan.add(sqlbuild.alter_owner('SERVER', name, owner))
        after['owner'] = owner
    return dict(before=current, after=after)


# -- user mapping -------------------------------------------------------------

def _mapping_user_name(conn, user):
    """The pg_user_mappings.usename for a role spec; None for a role that does not exist."""
    upper = user.upper()
    if upper == 'PUBLIC':
        return 'public'
    if upper in ('CURRENT_USER', 'CURRENT_ROLE', 'USER', 'SESSION_USER'):
        return catalog.current_user(conn)
    check_identifier(user, 'user')
    return user if catalog.role_exists(conn, user) else None


def user_mapping(request):
    params, plan, conn = request.params, request.plan, request.conn
    server = check_identifier(params['server'], 'server')
    options = params.get('options')
    for key in options or {}:
        check_identifier(key, 'options')
    found = catalog.foreign_server(conn, server)
    if found is None:
        request.assume_created('foreign server %s' % server,
                               'server: foreign server %r does not exist in this database' % server)
    usename = _mapping_user_name(conn, params['user'])
    if usename is None:
        request.assume_created('role %s' % params['user'], 'user: role %r does not exist' % params['user'])
        usename = params['user']
    current = catalog.user_mapping(conn, server, usename) if found else None
    if current:
        for key in SECRET_OPTIONS:
            request.secret(current['options'].get(key))
    before = dict(current, options=redact_options(current['options'])) if current else {}
    if not request.present:
        if current:
            plan.add(sqlbuild.drop_user_mapping(params['user'], server))
        return dict(before=before, after={})
    if current is None:
        if found:
            validate_fdw_options(conn, found['fdw'], 'pg_catalog.pg_user_mapping', options, 'options')
        plan.add(sqlbuild.create_user_mapping(params['user'], server, options or {}))
        return dict(before={}, after=dict(server=server, user=usename, options=redact_options(options or {})))
    after = dict(before)
    if options is not None:
        actions = options_diff(current['options'], options)
        if actions:
            validate_fdw_options(conn, found['fdw'], 'pg_catalog.pg_user_mapping', options, 'options')
            plan.add(sqlbuild.alter_user_mapping_options(params['user'], server, actions))
            after['options'] = redact_options(options)
            # Show that a secret changed without showing it.
            if before['options'].get('password') and after['options'].get('password') and \
                    current['options'].get('password') != option_text(options.get('password')):
                after['options']['password'] = '******** (changed)'
    return dict(before=before, after=after)


# -- table privileges -----------------------------------------------------------

# Privileges that write through the tables: the sequences their column defaults call are needed for these.
SEQUENCE_PRIVILEGES = ('INSERT', 'UPDATE')


def table_privileges(request):
    """GRANT what role lacks on each table (state present), REVOKE what was granted to it (absent); with
    with_usage, also what makes them usable (schema USAGE; sequence USAGE for writers)."""
    params, plan, conn = request.params, request.plan, request.conn
    role = check_identifier(params['role'], 'role')
    privileges = params['privileges']
    if not privileges:
        raise InvalidInput('privileges: give at least one of %s' % ', '.join(sqlbuild.TABLE_PRIVILEGES))
    tables = []
    for index, name in enumerate(params['tables']):
        table = split_qualified(name, 'tables[%d]' % index)
        if table not in tables:
            tables.append(table)
    role_found = catalog.role_exists(conn, role)
    if not role_found:
        request.assume_created('role %s' % role, 'role: role %r does not exist' % role)
    current = catalog.table_privileges(conn, role, tables, privileges) if role_found else {}
    before, after = {}, {}
    for schema, name in tables:
        label = '%s.%s' % (schema, name)
        if (schema, name) not in current:
            request.assume_created('table %s' % label, 'tables: %s is not a table or view in this database'
                                   % label)
        held = current.get((schema, name), dict(effective=[], direct=[]))
        before[label] = sorted(held['effective'])
        if request.present:
            missing = [privilege for privilege in privileges if privilege not in held['effective']]
            if missing:
                plan.add(sqlbuild.grant_on_table(missing, schema, name, role))
            after[label] = sorted(set(held['effective']) | set(privileges))
        else:
            granted = [privilege for privilege in privileges if privilege in held['direct']]
            if granted:
                plan.add(sqlbuild.grant_on_table(granted, schema, name, role, revoke=True))
            after[label] = sorted(set(held['effective']) - set(granted))
    result = dict(before=dict(role=role, tables=before), after=dict(role=role, tables=after))
    if params.get('with_usage'):
        _usage(request, role, tables, role_found, result)
    return result


def _usage(request, role, tables, role_found, result):
    """with_usage: USAGE on the tables' schemas (granted, never revoked: other objects live there), and for
    INSERT or UPDATE on the sequences their column defaults call (granted with them, revoked with them)."""
    current = catalog.usage_of_tables(request.conn, role, tables) if role_found \
        else dict(schemas={}, sequences={})
    writes = set(request.params['privileges']) & set(SEQUENCE_PRIVILEGES)
    before, after = result['before'], result['after']
    before['schemas'] = sorted(schema for schema, held in current['schemas'].items() if held)
    after['schemas'] = list(before['schemas'])
    if request.present:
        for schema in sorted(set(schema for schema, name in tables)):
            if not current['schemas'].get(schema):
                request.plan.add(sqlbuild.grant_schema_usage(schema, role))
                after['schemas'] = sorted(set(after['schemas']) | {schema})
    before['sequences'] = sorted('%s.%s' % key for key, held in current['sequences'].items() if held['held'])
    after['sequences'] = list(before['sequences'])
    if not writes:
        return
    for (schema, name), held in sorted(current['sequences'].items()):
        label = '%s.%s' % (schema, name)
        if request.present and not held['held']:
            request.plan.add(sqlbuild.grant_on_table(['USAGE'], schema, name, role, kind='SEQUENCE'))
            after['sequences'] = sorted(set(after['sequences']) | {label})
        elif not request.present and held['direct']:
            request.plan.add(sqlbuild.grant_on_table(['USAGE'], schema, name, role, revoke=True, kind='SEQUENCE'))
            after['sequences'] = sorted(set(after['sequences']) - {label})
