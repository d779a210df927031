# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health verdict of playbooks/status.yml (pure Python; the filter pgdist.cluster.health_problems).

Input: one entry per node, what pgdist.cluster.cluster_info returned there (or the failure that stood in
for it), and the node's place in the inventory. Output: the problems, each naming the node it is about, in
the order a DBA would fix them (nodes down first). No problem means the cluster is healthy; status.yml fails
when there is one.

A problem is one of:
  down         the node could not be read (stopped, unreachable, refusing the login)
  unreachable  the coordinator cannot reach a shard through its foreign server (its partitions fail)
  prepared     a prepared transaction older than the threshold (in doubt: its locks stay held)
  archiving    the last WAL archiving attempt failed (pg_stat_archiver)
  lag          a standby or subscriber lags past a threshold, a slot holds back WAL past it or lost it
  replication  a subscription that does not run, a standby that does not stream, an HA shard without primary
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

KINDS = ('coordinator', 'shard', 'replica', 'standby')
THRESHOLDS = ('prepared_max_age', 'lag_max_seconds', 'lag_max_bytes')
# pgdist.prepared_transactions()'s coordinator_outcome, and what recovery (every pgdist.recovery_interval) does.
RECOVERY = {'committed': 'recovery commits it', 'aborted': 'recovery rolls it back',
            'in progress': 'the coordinator has not decided yet'}
ORDER = ('down', 'unreachable', 'prepared', 'archiving', 'replication', 'lag')


def _problem(node, check, text):
    return dict(node=node, check=check, problem=text)


def _size(value):
    """Bytes as a DBA reads them (1.5 MiB), exact below 1 KiB."""
    value = float(value)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(value) < 1024 or unit == 'GiB':
            return ('%d %s' if unit == 'B' else '%.1f %s') % (value, unit)
        value /= 1024.0


def _up(status):
    return isinstance(status, dict) and isinstance(status.get('instance'), dict)


def _why_down(status):
    status = status if isinstance(status, dict) else {}
    text = ' '.join(str(status.get('msg') or '').split())
    if status.get('unreachable'):
        return 'unreachable: %s' % (text or 'no connection to the host')
    return text or 'not read'


def _validate(nodes, thresholds):
    if not isinstance(nodes, list):
        raise InvalidInput('health_problems: nodes must be a list of {host, kind, status}, got %s'
                           % type(nodes).__name__)
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or not node.get('host'):
            raise InvalidInput('health_problems: nodes[%d] needs a host' % index)
        if node.get('kind') not in KINDS:
            raise InvalidInput('health_problems: nodes[%d] (%s): kind must be one of %s, got %r'
                               % (index, node['host'], ', '.join(KINDS), node.get('kind')))
    values = {}
    for name in THRESHOLDS:
        value = (thresholds or {}).get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidInput('health_problems: thresholds.%s must be a number of %s, at least 0, got %r'
                               % (name, 'bytes' if name.endswith('bytes') else 'seconds', value))
        values[name] = value
    return values


def _coordinator_outcomes(nodes):
    """gid -> what the coordinator's recovery will do with it (commit, rollback, ...), from pgdist's in-doubt list."""
    outcomes = {}
    for node in nodes:
        pgdist = (node.get('status') or {}).get('pgdist') if node['kind'] == 'coordinator' else None
        for row in (pgdist or {}).get('in_doubt') or []:
            outcomes[row['gid']] = row.get('coordinator_outcome')
    return outcomes


def down(nodes):
    return [_problem(node['host'], 'down', 'down or unreadable: %s' % _why_down(node.get('status')))
            for node in nodes if not _up(node.get('status'))]


def unreachable_shards(node):
    """The coordinator's foreign servers its probe could not reach, with what their partitions are."""
    status = node['status']
    partitions = {}
    for table, entry in sorted((status.get('tables') or {}).items()):
        for part in entry.get('partitions') or []:
            if part.get('kind') == 'foreign' and part.get('server'):
                partitions.setdefault(part['server'], set()).add(table)
    out = []
    for name, server in sorted((status.get('foreign_servers') or {}).items()):
        if server.get('reachable') is not False:
            continue
        tables = sorted(partitions.get(name, ()))
        held = ('partitions of %s fail' % ', '.join(tables)) if tables else 'no partition on it'
        out.append(_problem(node['host'], 'unreachable', 'cannot reach shard %s through its foreign server (%s): %s'
                            % (name, held, ' '.join(str(server.get('probe_error') or 'no answer').split()))))
    return out


def _decision(gid, outcome):
    """What will finish a prepared transaction: the coordinator's recovery, or nobody (one prepared by hand)."""
    if outcome:
        return ', coordinator transaction %s (%s)' % (outcome, RECOVERY.get(outcome, 'recovery finishes it'))
    if not str(gid).startswith('pgdist_'):
        return ': no coordinator decides it, COMMIT PREPARED or ROLLBACK PREPARED it by hand'
    return ''


def prepared(node, limit, outcomes, seen):
    """Prepared transactions of the node older than limit seconds; seen collects their gids."""
    out = []
    for row in node['status'].get('prepared_transactions') or []:
        seen.add(row['gid'])
        age = row.get('age_seconds') or 0
        if age > limit:
            out.append(_problem(node['host'], 'prepared', 'prepared transaction %s (database %s) in doubt for %.0f s '
                                '(threshold %s s)%s' % (row['gid'], row.get('database'), age, limit,
                                                        _decision(row['gid'], outcomes.get(row['gid'])))))
    return out


def in_doubt_elsewhere(node, limit, seen):
    """The coordinator's in-doubt transactions on nodes that did not list them themselves (not in the inventory)."""
    pgdist = node['status'].get('pgdist') or {}
    return [_problem(node['host'], 'prepared', 'prepared transaction %s on %s in doubt for %.0f s (threshold %s s)%s'
                     % (row['gid'], row.get('server'), row.get('age_seconds') or 0, limit,
                        _decision(row['gid'], row.get('coordinator_outcome'))))
            for row in pgdist.get('in_doubt') or []
            if row['gid'] not in seen and (row.get('age_seconds') or 0) > limit]


def archiving(node):
    archiver = node['status'].get('archiver') or {}
    if not archiver.get('failing') or archiver.get('archive_mode') == 'off':
        return []
    return [_problem(node['host'], 'archiving', 'WAL archiving fails: %s failures, the last on %s at %s, last '
                     'success %s' % (archiver.get('failed_count'), archiver.get('last_failed_wal'),
                                     archiver.get('last_failed_time'),
                                     archiver.get('last_archived_time') or 'never'))]


def lag(node, limits):
    status, out = node['status'], []
    for sender in status.get('replication_senders') or []:
        lag_bytes, lag_seconds = sender.get('lag_bytes'), sender.get('replay_lag_s')
        over = []
        if lag_bytes is not None and lag_bytes > limits['lag_max_bytes']:
            over.append('%s (threshold %s)' % (_size(lag_bytes), _size(limits['lag_max_bytes'])))
        if lag_seconds is not None and lag_seconds > limits['lag_max_seconds']:
            over.append('%.0f s (threshold %s s)' % (lag_seconds, limits['lag_max_seconds']))
        if over:
            out.append(_problem(node['host'], 'lag', 'replication to %s (%s) lags %s' % (
                sender.get('application_name'), sender.get('state'), ' and '.join(over))))
    for name, slot in sorted((status.get('replication_slots') or {}).items()):
        if slot.get('wal_status') == 'lost':
            out.append(_problem(node['host'], 'lag', 'replication slot %s lost the WAL its subscriber or standby '
                                'needs: recreate that copy' % name))
        elif not slot.get('active') and (slot.get('retained_wal_bytes') or 0) > limits['lag_max_bytes']:
            out.append(_problem(node['host'], 'lag', 'inactive replication slot %s holds back %s of WAL (threshold '
                                '%s)' % (name, _size(slot['retained_wal_bytes']), _size(limits['lag_max_bytes']))))
    return out


def subscriptions(node):
    out = []
    for name, sub in sorted((node['status'].get('subscriptions') or {}).items()):
        if not sub.get('enabled'):
            out.append(_problem(node['host'], 'replication', 'subscription %s is disabled' % name))
        elif not sub.get('worker_pid'):
            out.append(_problem(node['host'], 'replication', 'subscription %s has no running apply worker '
                                '(its log says why)' % name))
    return out


def ha_groups(nodes):
    """Each shard with standbys: one member up must be primary, every member in recovery must stream from it."""
    by_host = dict((node['host'], node) for node in nodes)
    groups = {}
    for node in nodes:
        if node['kind'] == 'standby' and node.get('standby_of'):
            groups.setdefault(node['standby_of'], [node['standby_of']]).append(node['host'])
    out = []
    for shard, members in sorted(groups.items()):
        up = [by_host[host] for host in members if host in by_host and _up(by_host[host].get('status'))]
        primaries = [node for node in up if not node['status']['instance'].get('in_recovery')]
        if up and not primaries:
            out.append(_problem(shard, 'replication', 'HA shard %s has no primary: %s %s in recovery' % (
                shard, ', '.join(node['host'] for node in up), 'is' if len(up) == 1 else 'are')))
            continue
        streaming = set(sender.get('application_name') for node in primaries
                        for sender in node['status'].get('replication_senders') or []
                        if sender.get('state') == 'streaming')
        for node in up:
            if node['status']['instance'].get('in_recovery') and node['host'] not in streaming:
                out.append(_problem(node['host'], 'replication', 'standby of HA shard %s does not stream from '
                                    'its primary %s' % (shard, ', '.join(n['host'] for n in primaries))))
    return out


def health_problems(nodes, thresholds):
    """Every problem of the cluster (see the module doc), nodes down first, then in inventory order."""
    limits = _validate(nodes, thresholds)
    outcomes = _coordinator_outcomes(nodes)
    problems, seen = down(nodes), set()
    for node in nodes:
        if not _up(node.get('status')):
            continue
        if node['kind'] == 'coordinator':
            problems += unreachable_shards(node)
        problems += prepared(node, limits['prepared_max_age'], outcomes, seen)
        problems += archiving(node)
        problems += subscriptions(node)
        problems += lag(node, limits)
    for node in nodes:
        if node['kind'] == 'coordinator' and _up(node.get('status')):
            problems += in_doubt_elsewhere(node, limits['prepared_max_age'], seen)
    problems += ha_groups(nodes)
    position = dict((node['host'], index) for index, node in enumerate(nodes))
    return sorted(problems, key=lambda p: (ORDER.index(p['check']), position.get(p['node'], len(position))))
