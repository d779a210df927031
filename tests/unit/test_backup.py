"""Unit tests of plugins/module_utils/backup.py: which backup a restore to a named point starts from."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils import backup

# pgbackrest info's backups, oldest first.
BACKUPS = [dict(label='20261201-100000F', lsn=dict(start='0/2000028', stop='0/3000050')),
           dict(label='20261201-110000F_20261201-113000D', lsn=dict(start='0/9000028', stop='0/A000100')),
           dict(label='20261201-120000F', lsn=dict(start='1/0', stop='1/2000050'))]


def test_lsn_numbers_compare_as_positions():
    assert backup.lsn_number('0/A000100') == 0xA000100
    assert backup.lsn_number('1/0') == 1 << 32
    # Text order would put 0/A... before 0/9... wrongly, and 1/0 before 0/F...
    assert backup.lsn_number('0/9FFFFFF') < backup.lsn_number('0/A000000') < backup.lsn_number('1/0')


@pytest.mark.parametrize('point, label', [
    ('0/A000100', '20261201-110000F_20261201-113000D'),   # the point right at a backup's end
    ('0/FFFFFFF0', '20261201-110000F_20261201-113000D'),
    ('1/2000051', '20261201-120000F'),
    ('0/3000050', '20261201-100000F'),
    ('0/3000000', ''),                                     # before every backup ended: none
])
def test_the_newest_backup_that_ended_before_the_point(point, label):
    assert backup.backup_before(BACKUPS, point) == label


def test_no_backups():
    assert backup.backup_before([], '5/0') == ''
