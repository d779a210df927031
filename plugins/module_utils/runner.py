# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module contract in one place.

run_module() builds the AnsibleModule with the shared connection options,
connects, lets a reconciler read the catalog and fill a Plan, runs the plan
in one transaction (or not at all in check mode) and reports changed,
queries (secrets redacted) and diff. A module is its docs, its argument
spec and one call to run_module().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.pgdist.cluster.plugins.module_utils.connection import (
    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, ConnectionFailure, connect, connection_argument_spec, scrub)
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import SECRET_OPTIONS, Plan, Refusal, option_text

if HAS_PSYCOPG2:
    import psycopg2


class Request(object):
    """What a reconciler gets: the parameters, the connection, the plan."""

    def __init__(self, module, conn, plan):
        self.module = module
        self.params = module.params
        self.conn = conn
        self.plan = plan

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


def run_module(argument_spec, reconcile, autocommit=False, **module_kwargs):
    """Run reconcile(request) -> dict(before=, after=, **extra) under the module contract.

    autocommit is for statements that cannot run in a transaction block
    (CREATE/DROP DATABASE).
    """
    module = build_module(argument_spec, **module_kwargs)
    plan = Plan()
    hide_secret_options(module, plan)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=str(PSYCOPG2_IMPORT_ERROR))
    try:
        conn = connect(module.params, autocommit=autocommit)
    except ConnectionFailure as exc:
        module.fail_json(msg=str(exc))
    request = Request(module, conn, plan)
    try:
        outcome = reconcile(request) or {}
        queries = plan.rendered(conn)
        if plan and not module.check_mode:
            plan.apply(conn)
        if not autocommit:
            conn.commit()
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
    for warning in plan.warnings:
        module.warn(warning)
    before = outcome.pop('before', None)
    after = outcome.pop('after', None)
    result = dict(changed=plan.changes, queries=queries, **outcome)
    if before is not None or after is not None:
        result['diff'] = dict(before=before or {}, after=after or {})
    module.exit_json(**result)
