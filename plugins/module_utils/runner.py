# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module contract in one place.

run_module() builds the AnsibleModule with the shared connection options,
connects, lets a reconciler read the catalog and fill a Plan, runs the plan
in one transaction (or not at all in check mode) and reports changed,
queries (secrets redacted) and diff. A module is its docs, its argument
spec and one call to run_module().

Check mode plans through parents it has not created. When the database (or
the login role) a task connects to does not exist, a check run cannot know
that an earlier task of the same run would have created it; instead of
failing it reads template1, which CREATE DATABASE copies, read only, as
libpq's default user. Inside a database, a reconciler that finds a parent
missing (a foreign server, a role, a table) calls Request.assume_created():
outside check mode that is the usual error, in check mode the statements are
planned as if the parent existed. Either way the result names the parents in
``missing_parents`` and a warning says so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import (
    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, ConnectionFailure, connect, connection_argument_spec, scrub)
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import SECRET_OPTIONS, Plan, Refusal, option_text

if HAS_PSYCOPG2:
    import psycopg2


class Request(object):
    """What a reconciler gets: the parameters, the connection, the plan."""

    def __init__(self, module, conn, plan, missing=()):
        self.module = module
        self.params = module.params
        self.conn = conn
        self.plan = plan
        self.check_mode = module.check_mode
        self.missing = list(missing)
        self.committed_actions = []

    def after_commit(self, action):
        """Run action() once the plan is committed, outside check mode; the task is changed. For a change on
        another server that must follow this one (partition_move renames the source table after the switch)."""
        self.committed_actions.append(action)

    def assume_created(self, parent, message):
        """parent ('foreign server shard3', ...) does not exist: the error message outside check mode;
        in check mode, note it and let the reconciler plan as if an earlier task had created it."""
        if not self.check_mode:
            raise InvalidInput(message)
        if parent not in self.missing:
            self.missing.append(parent)

    @property
    def present(self):
        """Whether the object should exist: any state but absent (present, refresh)."""
        return self.params.get('state', 'present') != 'absent'

    def secret(self, value):
        """Register a value that must never be shown (queries, messages, output)."""
        if value:
            self.module.no_log_values.add(value)
            self.plan.secrets.add(value)
        return value


def hide_secret_options(module, plan):
    """Make secret generic options (options.password, ...) no_log and redacted before anything can fail.

    A dict option cannot mark one of its keys no_log in the argument spec;
    without this a failure before the reconciler runs (a refused connection)
    would echo the password in the task's invocation.
    """
    for value in module.params.values():
        if isinstance(value, dict):
            for name in SECRET_OPTIONS:
                if value.get(name) is not None:
                    module.no_log_values.add(option_text(value[name]))
                    plan.secrets.add(option_text(value[name]))


def build_module(argument_spec, **kwargs):
    spec = connection_argument_spec()
    spec.update(argument_spec)
    return AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)


TEMPLATE_DATABASE = 'template1'


def _open_template(params, autocommit):
    """(connection to template1, connected with the given login) or None when the cluster refuses both."""
    for login in (params, dict(params, login_user=None, login_password=None)):
        try:
            return connect(login, dbname=TEMPLATE_DATABASE, autocommit=autocommit), login is params
        except ConnectionFailure:
            if not params.get('login_user'):
                break
    return None, False


def connect_through_missing_parents(params, autocommit):
    """(connection, missing parents) standing in for a login role or database that does not exist.

    None when they both exist (the connection failure is real) or the cluster
    cannot be reached at all. The connection is read only.
    """
    conn, as_login = _open_template(params, autocommit)
    if conn is None:
        return None
    missing = []
    if params.get('login_user') and not as_login and not catalog.role_exists(conn, params['login_user']):
        missing.append('role %s' % params['login_user'])
    dbname = params.get('db')
    if dbname and dbname != TEMPLATE_DATABASE:
        if catalog.database(conn, dbname) is None:
            missing.append('database %s' % dbname)
        elif missing:
            conn.close()
            try:
                conn = connect(dict(params, login_user=None, login_password=None), autocommit=autocommit)
            except ConnectionFailure:
                return None
    if not missing:
        conn.close()
        return None
    conn.rollback()
    conn.set_session(readonly=True, autocommit=autocommit)
    return conn, missing


def open_connection(module, autocommit, reads_only):
    """The connection a reconciler works on, and the parents standing in for missing ones (see above)."""
    try:
        return connect(module.params, autocommit=autocommit), []
    except ConnectionFailure:
        if not (module.check_mode or reads_only):
            raise
        found = connect_through_missing_parents(module.params, autocommit)
        if found is None:
            raise
        return found


def run_module(argument_spec, reconcile, autocommit=False, reads_only=False, **module_kwargs):
    """Run reconcile(request) -> dict(before=, after=, **extra) under the module contract.

    autocommit is for statements that cannot run in a transaction block
    (CREATE/DROP DATABASE). reads_only marks a module that never changes
    anything (cluster_info): it reads template1 in place of a missing
    database outside check mode too.
    """
    module = build_module(argument_spec, **module_kwargs)
    plan = Plan()
    hide_secret_options(module, plan)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=str(PSYCOPG2_IMPORT_ERROR))
    try:
        conn, missing = open_connection(module, autocommit, reads_only)
    except ConnectionFailure as exc:
        module.fail_json(msg=str(exc))
    request = Request(module, conn, plan, missing)
    try:
        outcome = reconcile(request) or {}
        queries = plan.rendered(conn)
        if plan and not module.check_mode:
            plan.apply(conn)
        if not autocommit:
            conn.commit()
        if not module.check_mode:
            for action in request.committed_actions:
                action()
    except (InvalidInput, Refusal) as exc:
        conn.rollback()
        module.fail_json(msg=plan.redact(str(exc), conn), queries=[])
    except psycopg2.Error as exc:
        if not conn.closed:
            conn.rollback()
        message = scrub(str(exc).strip(), plan.secrets)
        if plan.committed:
            outcome = '%d of %d statements were applied before it (they cannot run in a transaction)' % (
                plan.committed, len(plan.statements))
        else:
            outcome = 'nothing was applied'
        module.fail_json(msg='PostgreSQL refused the change, %s: %s' % (outcome, message),
                         queries=plan.rendered(conn) if not conn.closed else [])
    except Exception as exc:  # keep secrets out of unexpected failures too
        if not conn.closed:
            conn.rollback()
        module.fail_json(msg=scrub(str(exc), plan.secrets), exception=scrub(traceback.format_exc(), plan.secrets))
    finally:
        conn.close()
    if request.missing and module.check_mode:
        plan.warn('check mode: %s %s not exist yet; planned as if an earlier task of this run had created %s'
                  % (', '.join(request.missing), 'does' if len(request.missing) == 1 else 'do',
                     'it' if len(request.missing) == 1 else 'them'))
    for warning in plan.warnings:
        module.warn(warning)
    before = outcome.pop('before', None)
    after = outcome.pop('after', None)
    result = dict(changed=plan.changes or bool(request.committed_actions), queries=queries, **outcome)
    if request.missing:
        result['missing_parents'] = request.missing
    if before is not None or after is not None:
        result['diff'] = dict(before=before or {}, after=after or {})
    module.exit_json(**result)
