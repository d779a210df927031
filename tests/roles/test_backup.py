"""Backups and point-in-time recovery of the whole cluster (issue 18): pgBackRest on every node (the backup role
in site.yml), a backup, a restore point taken while pgbench's tpcb-like transactions write through the
coordinator, more writes, a wiped shard that site.yml refuses to recreate empty, then every node restored to the
point. On a private copy of inventories/local (clusters pgdist_backup_*, ports 55522-55524) whose only tables are
pgbench's, hash-partitioned over both shards so most transactions commit on several nodes (two-phase)."""

import collections
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO, run_playbook  # noqa: E402
from support.pgbench_tables import TPCB_SUMS, pgbench_tables  # noqa: E402
from support.variant import Variant  # noqa: E402

PLAYBOOKS = os.path.join(REPO, 'playbooks')
PGBENCH = '/usr/lib/postgresql/15/bin/pgbench'
CIPHER_PASS = 'backup-test-passphrase-4f1c'
POINT = 'before-the-rest'
HISTORY = "SELECT tid, bid, aid, delta, mtime FROM pgbench_history"


@pytest.fixture(scope='module')
def variant():
    work = tempfile.mkdtemp(prefix='pgdist-backup-test-')
    os.chmod(work, 0o755)
    variant = Variant('backup', 55522, group_vars=dict(
        # The demo's application users are granted the demo's tables by name: none here.
        pgdist_tables=pgbench_tables(4), pgdist_app_users=[], pgdist_backup_enabled=True,
        pgdist_backup_repo_path=work + '/repo', pgdist_backup_restore_points_dir=work + '/points',
        pgdist_backup_cipher_pass=CIPHER_PASS))
    variant.stanzas = dict((host, '%s-%s' % (host, variant.cluster(host))) for host in variant.hosts)
    try:
        yield variant
    finally:
        variant.drop()
        for stanza in variant.stanzas.values():
            for path in ['/etc/pgbackrest/conf.d/%s.conf' % stanza, '/etc/cron.d/pgdist-backup-%s' % stanza] + \
                    glob.glob('/var/log/pgbackrest/%s-*' % stanza) + glob.glob('/tmp/pgbackrest/%s-*' % stanza):
                if os.path.exists(path):
                    os.remove(path)
        shutil.rmtree(work, ignore_errors=True)


def playbook(variant, name, **extra_vars):
    return run_playbook(os.path.join(PLAYBOOKS, name), inventory=variant.inventory, extra_vars=extra_vars or None)


def messages(run, task):
    """The msg of every host's result of the tasks named task (a role's tasks are named '<role> : <task>')."""
    return [result.get('msg') for play in run.data['plays'] for entry in play['tasks']
            if entry['task']['name'].split(' : ')[-1] == task for result in entry['hosts'].values() if result.get('msg')]


def pgbench(variant, *args):
    return subprocess.Popen(['runuser', '-u', 'postgres', '--', PGBENCH, '-h', '/var/run/postgresql', '-p',
                             str(variant.port('coordinator1'))] + list(args) + ['library'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process, timeout=300):
    output = process.communicate(timeout=timeout)[0]
    assert process.returncode == 0, output[-3000:]
    return output


def history(variant):
    return collections.Counter(variant.psql('coordinator1', HISTORY).splitlines())


def sums(variant):
    return variant.psql('coordinator1', TPCB_SUMS).split('|')


def test_backup_restore_point_and_restore(variant):
    started = time.time()
    run = variant.deploy()
    assert CIPHER_PASS not in run.stdout + run.stderr
    for host, stanza in variant.stanzas.items():
        # WAL archived through the node's stanza; the stanza exists and is encrypted.
        assert variant.psql(host, "SELECT current_setting('archive_mode'), current_setting('archive_command')",
                            'postgres') == 'on|pgbackrest --stanza=%s archive-push %%p' % stanza
        assert variant.psql(host, 'SELECT failed_count FROM pg_stat_archiver', 'postgres') == '0'
        with open('/etc/cron.d/pgdist-backup-%s' % stanza) as handle:
            schedule = handle.read()
        assert '0 1 * * 0 postgres pgbackrest --stanza=%s --type=full backup' % stanza in schedule
        assert '0 1 * * 1-6 postgres pgbackrest --stanza=%s --type=diff backup' % stanza in schedule
    deployed = time.time()
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)
    assert variant.changed(variant.deploy(check=True)) == dict.fromkeys(variant.hosts, 0)
    rerun = time.time()

    # The roles made the tables; pgbench fills them through the coordinator, then the first backup.
    finished(pgbench(variant, '-i', '-q', '-I', 'G', '-s', '1'))
    run = playbook(variant, 'backup.yml', pgdist_backup_type='full')
    assert run.ok, run.report('backup.yml')
    assert len(messages(run, 'Say what was backed up')) == 3
    backed_up = time.time()
    status = playbook(variant, 'status.yml')
    assert status.ok, status.report('status.yml')
    (report,) = messages(status, 'Cluster status')
    for host in variant.hosts:
        assert any(line.startswith('  %s: last backup full ' % host) and line.endswith(', 1 in the repository')
                   for line in report), report
        assert any(line.startswith('  %s: WAL archiving ok, ' % host) and ', 0 failures, ' in line for line in report), report

    # Writes through the coordinator; the restore point is taken while they go on, and they go on after it
    # (60 s: under make test's other lane the restore point playbook outlasted a 40 s writer).
    writers = pgbench(variant, '-c', '4', '-j', '2', '-T', '60', '-n', '-M', 'prepared')
    time.sleep(5)
    before = history(variant)
    point_started = time.time()
    point = playbook(variant, 'restore_point.yml', pgdist_restore_point=POINT)
    after = history(variant)
    assert point.ok, point.report('restore_point.yml')
    assert writers.poll() is None, 'the writer ended before restore_point.yml did (it took %.0f s)' % (
        time.time() - point_started)
    output = finished(writers)
    assert 'number of failed transactions: 0 ' in output, output
    (paused,) = messages(point, 'Say how long commits paused')
    assert 'restore point %s on 3 nodes' % POINT in paused and 'commits that span nodes paused' in paused, paused
    assert len(before) > 0 and sum(after.values()) > sum(before.values())
    final = history(variant)
    assert sum(final.values()) > sum(after.values())
    assert len(set(sums(variant))) == 1

    # The same name again is refused: recovery would stop at the first one.
    again = playbook(variant, 'restore_point.yml', pgdist_restore_point=POINT)
    assert not again.ok and 'a restore point named %s exists already' % POINT in again.stdout

    # A restore without a target is refused before anything changes.
    refused = playbook(variant, 'restore.yml')
    assert not refused.ok and 'name the target' in refused.stdout
    assert history(variant) == final

    # shard2 is lost: a new, empty cluster in its place. site.yml stops before creating its tables empty.
    subprocess.run(['pg_dropcluster', '--stop', '15', variant.cluster('shard2')], check=True)
    shutil.rmtree(variant.config_dir('shard2'), ignore_errors=True)
    wiped = variant.run()
    assert not wiped.ok
    refusal = [result.get('msg', '') for result in wiped.results('shard2') if result.get('failed')]
    assert refusal and 'public.pgbench_accounts_p1' in refusal[0] and 'playbooks/restore.yml' in refusal[0], refusal
    assert variant.psql('shard2', "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbench%'") == '0'

    # Every node back to the point: every history row committed before it, none committed after it.
    # Without a yes (no terminal here) nothing is stopped or overwritten.
    unconfirmed = playbook(variant, 'restore.yml', pgdist_restore_point=POINT)
    assert not unconfirmed.ok and 'restore not confirmed' in unconfirmed.stdout, unconfirmed.report('restore.yml')
    assert variant.psql('coordinator1', 'SELECT 1') == '1', 'an unconfirmed restore stopped the coordinator'
    restore_started = time.time()
    restored_run = playbook(variant, 'restore.yml', pgdist_restore_point=POINT, pgdist_restore_confirm=True)
    restored_at = time.time()
    assert restored_run.ok, restored_run.report('restore.yml')
    overwritten = messages(restored_run, 'Say what will be overwritten')
    assert len(overwritten) == 3 and all('is overwritten with backup' in text for text in overwritten), overwritten
    restored = history(variant)
    assert not before - restored, 'rows committed before the restore point are missing'
    assert not restored - after, 'rows committed after the restore point are there'
    assert len(set(sums(variant))) == 1, sums(variant)
    assert variant.psql('shard2', 'SELECT count(*) FROM pg_prepared_xacts', 'postgres') == '0'
    assert variant.psql('shard1', 'SELECT count(*) FROM pg_prepared_xacts', 'postgres') == '0'

    # The restored cluster takes writes again, archives them, and site.yml finds nothing to change.
    finished(pgbench(variant, '-c', '2', '-t', '50', '-n'))
    assert sum(history(variant).values()) == sum(restored.values()) + 100
    assert len(set(sums(variant))) == 1
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)
    for host in variant.hosts:
        assert variant.psql(host, 'SELECT pg_is_in_recovery()', 'postgres') == 'f'
    print('\nbackup test: deploy %.1f s, re-run and check %.1f s, first full backup %.1f s, restore %.1f s, %s'
          % (deployed - started, rerun - deployed, backed_up - rerun, restored_at - restore_started, paused))
