# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metrics with Prometheus's postgres_exporter: what a node's slice needs (pure Python, used by node_plan).

A node with pgdist_monitoring_enabled runs an exporter of its own (several clusters per machine each get one,
on pgdist_monitoring_port), listening on the node's address only. It logs in on the node's local socket as
the monitoring user (pgdist_monitoring_user, a member of pg_monitor: no superuser) with its password, to the
distributed database; the pg_hba rule admitting it is local only, so the login is not reachable over TCP.
The monitoring role creates the user and writes the exporter's queries (the coordinator adds pgdist.stats()).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput, check_identifier
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import flag


def node_monitoring(host, facts, kinds, address, user):
    """The slice's monitoring part: None without pgdist_monitoring_enabled, else {user, listen, kind}.

    kind is coordinator (its queries read the extension's counters too) or node."""
    if not flag(facts.get('monitoring_enabled', False), 'pgdist_monitoring_enabled'):
        return None
    value = facts.get('monitoring_port')
    try:
        port = None if isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        port = None
    if port is None or not 1 <= port <= 65535:
        raise InvalidInput('%s: pgdist_monitoring_port must be a TCP port (1-65535), got %r' % (host, value))
    check_identifier(user, 'pgdist_monitoring_user')
    listen = '[%s]:%d' % (address, port) if ':' in address else '%s:%d' % (address, port)
    return dict(user=user, listen=listen, kind='coordinator' if 'coordinator' in kinds else 'node')


def hba_rules(monitoring, database):
    """The exporter's login: on the local socket, with its password, to the distributed database only."""
    if not monitoring:
        return []
    return [dict(type='local', database=database, user=monitoring['user'], method='scram-sha-256',
                 comment='prometheus-postgres-exporter on this host')]


def check_listen_addresses(nodes):
    """Two exporters on one address and port would fail the second's start: refuse in the plan, naming both."""
    seen = {}
    for host in sorted(nodes):
        if not nodes[host]:
            continue
        listen = nodes[host]['listen']
        if listen in seen:
            raise InvalidInput('%s and %s: both exporters would listen on %s; give one of them another '
                               'pgdist_monitoring_port' % (seen[listen], host, listen))
        seen[listen] = host
