"""Role tests of pgdist.cluster.ha on inventories/local-ha: a coordinator and shard hashard1 with its standby
hashard1b under Patroni, etcd on hashard1, as clusters of this machine (ports 55462-55464; Patroni and etcd
started without systemd, as in containers: etcd by Debian's init script, Patroni in the background). Everything is removed first, so the first
deployment is a real one, and again at the end.

Checks: Patroni made both members and owns their files (the server role wrote none), the standby streams
synchronously with the plan's settings, the coordinator's foreign server lists both members, idempotence and
check mode, and after a switchover site.yml runs the shard's roles on the new primary and changes nothing.
The failover itself (a primary killed while writing) is tests/integration/test_ha_failover.py."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO, run_playbook  # noqa: E402
from support.deployment import Deployment  # noqa: E402
from support.pgcluster import wait_for  # noqa: E402

HA = Deployment(os.path.join(REPO, 'inventories', 'local-ha', 'hosts.yml'), dbname='ha')
MEMBERS = ('hashard1', 'hashard1b')
PASSWORDS = ('pgdist-local-demo-only', 'Patr0ni-local-demo-only')
ETCD_ENV = '/etc/default/etcd'
# The shard's tables behind the coordinator's items (hash, 2 partitions, both on hashard1).
SHARD_ROWS = 'SELECT (SELECT count(*) FROM items_p0) + (SELECT count(*) FROM items_p1)'
CREATECLUSTER_DROP_IN = '/etc/postgresql-common/createcluster.d/50-pgdist-patroni.conf'


def patroni_file(host):
    return '/etc/patroni/15-%s.yml' % HA.cluster(host)


def stop_daemon(pidfile):
    """Stop the daemon a run of the HA role started (its pid file) and wait for it."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while time.time() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.unlink(pidfile)


def remove_everything():
    for host in MEMBERS:
        stop_daemon('/run/pgdist-patroni@15-%s.pid' % HA.cluster(host))
    subprocess.run(['service', 'etcd', 'stop'], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for host in MEMBERS:
        for data_dir in ('/var/lib/postgresql/15/%s' % HA.cluster(host), '/var/lib/postgresql/15/%s.failed' % HA.cluster(host)):
            shutil.rmtree(data_dir, ignore_errors=True)
        for leftover in (patroni_file(host), '/var/lib/postgresql/15-%s.pgpass' % HA.cluster(host)):
            if os.path.exists(leftover):
                os.unlink(leftover)
        shutil.rmtree(HA.config_dir(host), ignore_errors=True)
    shutil.rmtree('/var/lib/etcd/pgdist', ignore_errors=True)
    subprocess.run(['pg_dropcluster', '--stop', '15', HA.cluster('hacoordinator')], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(HA.config_dir('hacoordinator'), ignore_errors=True)
    if os.path.exists(CREATECLUSTER_DROP_IN):
        os.unlink(CREATECLUSTER_DROP_IN)


def patronictl(*args):
    return subprocess.run(['patronictl', '-c', patroni_file('hashard1')] + list(args), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


def in_recovery(host):
    """'t' or 'f', or '' while the member's PostgreSQL does not answer (a switchover restarts it)."""
    out = HA.psql(host, 'SELECT pg_is_in_recovery()', 'postgres', check=False)
    return out.stdout.strip() if out.returncode == 0 else ''


@pytest.fixture(scope='module')
def deployed():
    with open(ETCD_ENV) as handle:
        etcd_env = handle.read()
    remove_everything()
    try:
        run = HA.deploy(verbosity=3, diff=True)
        for secret in PASSWORDS:
            assert secret not in run.stdout and secret not in run.stderr, 'a configured password was shown'
        yield run
    finally:
        remove_everything()
        with open(ETCD_ENV, 'w') as handle:
            handle.write(etcd_env)


def test_patroni_makes_the_members_and_owns_their_files(deployed):
    assert (in_recovery('hashard1'), in_recovery('hashard1b')) == ('f', 't')
    # synchronous_mode (pgdist_ha_synchronous, default true): the standby is synchronous.
    assert wait_for(lambda: HA.psql('hashard1', 'SELECT sync_state FROM pg_stat_replication', 'postgres') == 'sync', 60)
    for host in MEMBERS:
        config_dir = HA.config_dir(host)
        assert not os.path.exists(os.path.join(config_dir, 'conf.d', '50-pgdist.conf'))
        with open(os.path.join(config_dir, 'postgresql.conf')) as handle:
            assert 'Patroni' in handle.read(400)
        with open(os.path.join(config_dir, 'pg_hba.conf')) as handle:
            hba = handle.read()
        assert 'hostssl ha pgdist_fdw 127.0.0.1/32 scram-sha-256' in hba
        assert 'hostssl replication pgdist_patroni 127.0.0.1/32 scram-sha-256' in hba
        # The plan's settings, through Patroni: shared ones from etcd, the others from the member's file.
        assert HA.psql(host, 'SHOW max_prepared_transactions', 'postgres') == '100'
        assert HA.psql(host, 'SHOW ssl', 'postgres') == 'on'
        assert HA.psql(host, 'SHOW wal_log_hints', 'postgres') == 'on'


def test_the_coordinator_writes_to_the_primary_through_every_member(deployed):
    options = HA.psql('hacoordinator', "SELECT array_to_string(srvoptions, ' ') FROM pg_foreign_server "
                                       "WHERE srvname = 'hashard1'")
    for option in ('host=127.0.0.1,127.0.0.1', 'port=55463,55464', 'target_session_attrs=read-write'):
        assert option in options.split()
    HA.psql('hacoordinator', "INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 100) g")
    assert HA.psql('hacoordinator', 'SELECT count(*) FROM items') == '100'
    # The standby has them (synchronous commit), readable as a hot standby.
    assert wait_for(lambda: HA.psql('hashard1b', SHARD_ROWS) == '100', 30)


def test_second_run_and_check_mode_change_nothing(deployed):
    assert HA.changed(HA.deploy()) == dict((host, 0) for host in HA.hosts)
    assert HA.changed(HA.deploy(check=True, diff=True)) == dict((host, 0) for host in HA.hosts)


def test_after_a_switchover_the_shards_roles_run_on_the_new_primary(deployed):
    patronictl('switchover', '--leader', 'hashard1', '--candidate', 'hashard1b', '--force', 'pgdist-hashard1')
    assert wait_for(lambda: in_recovery('hashard1b') == 'f' and in_recovery('hashard1') == 't', 60)
    run = HA.deploy()
    assert HA.changed(run) == dict((host, 0) for host in HA.hosts)
    shard_tasks = [host for play in run.data['plays'] for task in play['tasks']
                   if task['task']['name'].split(' : ')[-1] == 'Tables of this host'
                   for host, result in task['hosts'].items() if not result.get('skipped')]
    assert sorted(shard_tasks) == ['hacoordinator', 'hashard1b']
    HA.psql('hacoordinator', "INSERT INTO items VALUES (101, 'after the switchover')")
    assert wait_for(lambda: HA.psql('hashard1', SHARD_ROWS) == '101', 30)


def test_status_shows_the_members_which_is_primary_and_the_lag(deployed):
    run = run_playbook(os.path.join(REPO, 'playbooks', 'status.yml'), inventory=HA.inventory)
    assert run.ok, run.stdout[-3000:]
    (report,) = [result['msg'] for play in run.data['plays'] for entry in play['tasks']
                 if entry['task']['name'].endswith('Cluster status') for result in entry['hosts'].values()]
    # The HA section's lines: shard, member, role (the shards section also starts with the shard's name).
    members = [fields for fields in (line.split() for line in report) if len(fields) > 2 and fields[1] in MEMBERS]
    primary = 'hashard1' if in_recovery('hashard1') == 'f' else 'hashard1b'
    standby = 'hashard1b' if primary == 'hashard1' else 'hashard1'
    assert [fields[:3] for fields in members] == [['hashard1', host, 'primary' if host == primary else 'standby,']
                                                  for host in MEMBERS]
    line = ' '.join(dict((fields[1], fields) for fields in members)[standby])
    assert 'sync streaming, replay lag' in line, report
