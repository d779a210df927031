# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the backup role.

``backup_before(backups, lsn)``
    The label of the newest backup of ``pgbackrest info``'s list that ended at or before ``lsn`` (a
    restore point's LSN on that node), or an empty string.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgdist.cluster.plugins.module_utils import backup


def backup_before(backups, lsn):
    try:
        return backup.backup_before(backups, lsn)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('backup_before: needs pgbackrest info backups (label, lsn.stop) and an LSN X/Y: %s'
                                 % exc)


class FilterModule(object):
    def filters(self):
        return {'backup_before': backup_before}
