# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topology filters: thin adapters over plugins/module_utils/topology.py and node_plan.py.

The rules live in module_utils so the modules and the unit tests use the
same code; these functions only turn InvalidInput into AnsibleFilterError.
Their documentation is in the .yml files beside this one (ansible-doc -t filter).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.pgdist.cluster.plugins.module_utils import node_plan, topology
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

PLAN_VARIABLES = ('database', 'tables', 'reference_tables', 'fdw_user', 'fdw_mapped_users', 'foreign_server_options',
                  'analyze_tables', 'replication_user', 'replication_synchronous_count', 'coordinator_group',
                  'shards_group', 'replicas_group', 'check_mode', 'coordinator_extension', 'extension_settings',
                  'max_prepared_transactions', 'keepalives', 'client_connection_check_interval')


def _filter_errors(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except InvalidInput as exc:
            raise AnsibleFilterError(str(exc))
    return wrapper


def _plain(value):
    """value as plain dicts, lists and scalars: the plan validates table entries with ArgumentSpecValidator,
    which deep-copies them, and a deep copy of ansible-core's lazy template containers costs seconds per
    table (the plan of inventories/local took 40 s of a 66 s site.yml re-run)."""
    if isinstance(value, Mapping):
        return dict((_plain(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


@_filter_errors
def pgdist_plan(hostvars, groups, variables):
    """pgdist_plan from every host's pgdist_plan_host, pgdist_plan_socket and pgdist_plan_read (the plan role)."""
    variables, groups = _plain(variables), _plain(groups)
    missing = [name for name in PLAN_VARIABLES if name not in variables]
    if missing:
        raise InvalidInput('pgdist_plan: variables lacks %s' % ', '.join(missing))
    coordinators = groups.get(variables['coordinator_group']) or []
    hosts = set(coordinators) | set(groups.get(variables['shards_group']) or []) | \
        set(groups.get(variables['replicas_group']) or []) | set(groups.get(variables.get('standbys_group')) or [])
    facts, reads = {}, {}
    for host in sorted(hosts):
        hv = hostvars[host]
        facts[host] = _plain(hv.get('pgdist_plan_host'))
        reads[host] = node_plan.read_state(host, _plain(hv.get('pgdist_plan_socket')),
                                           _plain(hv.get('pgdist_plan_read')),
                                           host == (coordinators[0] if coordinators else None))
    return node_plan.build_plan(groups, facts, variables, reads, check_mode=bool(variables['check_mode']))


@_filter_errors
def synchronous_standby_names(names, count=1):
    return topology.synchronous_standby_names(names, count)


class FilterModule(object):
    def filters(self):
        return {
            'pgdist_plan': pgdist_plan,
            'synchronous_standby_names': synchronous_standby_names,
        }
