# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups with pgBackRest: what a node's slice and settings need (pure Python, used by node_plan).

A node with pgdist_backup_enabled gets a stanza of its own (pgdist_backup_stanza, by default
<inventory name>-<cluster name>, unique even with several clusters per machine or one shared
repository) and archives its WAL through it: archive_mode (a restart, the server role's path) and
archive_command. The backup role writes the stanza's pgbackrest.conf and creates it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import flag

MANAGED_SETTINGS = ('archive_mode', 'archive_command')
# archive_command is run by a shell: the stanza goes in unquoted, so only these characters.
STANZA = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')


def node_backup(host, facts, kinds, server):
    """The slice's backup part: None without pgdist_backup_enabled, else {stanza, point_name}.

    point_name is how pgdist.create_restore_point() names this node in its result: 'coordinator',
    or the node's foreign server name."""
    if not flag(facts.get('backup_enabled', False), 'pgdist_backup_enabled'):
        return None
    stanza = str(facts.get('backup_stanza') or '')
    if not STANZA.match(stanza):
        raise InvalidInput('%s: pgdist_backup_stanza must be letters, digits, _, . or - (starting with a letter or '
                           'digit), got %r' % (host, stanza))
    return dict(stanza=stanza, point_name='coordinator' if 'coordinator' in kinds else server)


def node_settings(backup):
    """WAL archiving through pgBackRest, or nothing when the node has no backups."""
    if not backup:
        return {}
    return dict(archive_mode='on', archive_command='pgbackrest --stanza=%s archive-push %%p' % backup['stanza'])


def lsn_number(lsn):
    """A pg_lsn text (X/Y, hexadecimal) as one integer."""
    high, low = str(lsn).split('/')
    return (int(high, 16) << 32) + int(low, 16)


def backup_before(backups, lsn):
    """The label of the newest backup (pgbackrest info's list, oldest first) that ended at or before lsn, or ''.

    A restore to a named point must start there: recovery from a backup that ended after the point never
    meets it."""
    target = lsn_number(lsn)
    labels = [backup['label'] for backup in backups or [] if lsn_number(backup['lsn']['stop']) <= target]
    return labels[-1] if labels else ''
