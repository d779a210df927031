"""Unit tests of plugins/module_utils/health.py: the verdict of playbooks/status.yml from what cluster_info read."""

import re

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.health import health_problems
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

LIMITS = dict(prepared_max_age=60, lag_max_seconds=60, lag_max_bytes=256 * 1024 * 1024)
ARCHIVER_OK = dict(archive_mode='on', failing=False, failed_count=0, archived_count=5,
                   last_archived_time='2026-12-07 10:00:00+00', last_failed_wal=None, last_failed_time=None)


def status(in_recovery=False, **sections):
    out = dict(instance=dict(database='library', version='15.20', in_recovery=in_recovery),
               prepared_transactions=[], archiver=dict(ARCHIVER_OK), replication_senders=[], replication_slots={},
               subscriptions={})
    out.update(sections)
    return out


def coordinator_status(servers=None, in_doubt=(), **sections):
    servers = servers or {'shard1': dict(reachable=True), 'shard2': dict(reachable=True)}
    tables = {'public.events': dict(partitions=[
        dict(name='events_p%d' % index, kind='foreign', server=server)
        for index, server in enumerate(sorted(servers))])}
    return status(foreign_servers=servers, tables=tables,
                  pgdist=dict(stats={}, in_doubt=list(in_doubt), lock_waits=[], errors=[]), **sections)


def cluster(**overrides):
    """coordinator1, shard1, shard2 all healthy, any of them replaced by overrides (host=status)."""
    statuses = dict(coordinator1=coordinator_status(), shard1=status(), shard2=status())
    statuses.update(overrides)
    kinds = dict(coordinator1='coordinator', shard1='shard', shard2='shard')
    return [dict(host=host, kind=kinds.get(host, 'shard'), standby_of='', status=statuses[host])
            for host in ('coordinator1', 'shard1', 'shard2')]


def texts(nodes):
    return ['%s: %s' % (p['node'], p['problem']) for p in health_problems(nodes, LIMITS)]


def test_a_healthy_cluster_has_no_problem():
    assert health_problems(cluster(), LIMITS) == []


def test_a_stopped_shard_is_down_and_unreachable_from_the_coordinator():
    servers = {'shard1': dict(reachable=True),
               'shard2': dict(reachable=False, probe_error='ERROR:  could not connect to server "shard2"\n'
                                                           'DETAIL:  connection refused')}
    problems = health_problems(cluster(coordinator1=coordinator_status(servers),
                                       shard2=dict(failed=True, msg='unable to connect to PostgreSQL: refused')),
                               LIMITS)
    assert [(p['node'], p['check']) for p in problems] == [('shard2', 'down'), ('coordinator1', 'unreachable')]
    assert problems[0]['problem'] == 'down or unreadable: unable to connect to PostgreSQL: refused'
    assert problems[1]['problem'] == ('cannot reach shard shard2 through its foreign server (partitions of '
                                      'public.events fail): ERROR: could not connect to server "shard2" DETAIL: '
                                      'connection refused')


def test_an_unreachable_host_and_the_coordinator_down_still_judge_the_rest():
    nodes = cluster(coordinator1=dict(unreachable=True, msg='ssh: connect to host 10.0.0.1 port 22: No route'),
                    shard1=status(archiver=dict(ARCHIVER_OK, failing=True, failed_count=3,
                                                last_failed_wal='000000010000000000000007',
                                                last_failed_time='2026-12-07 10:05:00+00')))
    assert texts(nodes) == [
        'coordinator1: down or unreadable: unreachable: ssh: connect to host 10.0.0.1 port 22: No route',
        'shard1: WAL archiving fails: 3 failures, the last on 000000010000000000000007 at 2026-12-07 10:05:00+00, '
        'last success 2026-12-07 10:00:00+00']


def test_archiving_off_or_recovered_is_not_a_problem():
    off = status(archiver=dict(ARCHIVER_OK, archive_mode='off', failing=True))
    recovered = status(archiver=dict(ARCHIVER_OK, failing=False, failed_count=9))
    assert health_problems(cluster(shard1=off, shard2=recovered), LIMITS) == []


@pytest.mark.parametrize('age, gid, outcome, expected', [
    (59.9, 'pgdist_1_2_3_1', 'committed', None),
    (61.0, 'pgdist_1_2_3_1', 'committed',
     'shard1: prepared transaction pgdist_1_2_3_1 (database library) in doubt for 61 s (threshold 60 s), coordinator '
     'transaction committed (recovery commits it)'),
    (120.0, 'pgdist_1_2_3_1', 'in progress',
     'shard1: prepared transaction pgdist_1_2_3_1 (database library) in doubt for 120 s (threshold 60 s), '
     'coordinator transaction in progress (the coordinator has not decided yet)'),
    (75.0, 'by_hand', None,
     'shard1: prepared transaction by_hand (database library) in doubt for 75 s (threshold 60 s): no coordinator '
     'decides it, COMMIT PREPARED or ROLLBACK PREPARED it by hand'),
])
def test_a_prepared_transaction_past_the_threshold_is_in_doubt(age, gid, outcome, expected):
    row = dict(gid=gid, database='library', owner='pgdist_fdw', age_seconds=age)
    in_doubt = [dict(server='shard1', gid=gid, age_seconds=age, coordinator_outcome=outcome)] if outcome else []
    nodes = cluster(coordinator1=coordinator_status(in_doubt=in_doubt), shard1=status(prepared_transactions=[row]))
    assert texts(nodes) == ([expected] if expected else [])


def test_the_coordinator_names_in_doubt_transactions_of_nodes_outside_the_inventory():
    in_doubt = [dict(server='shard9', gid='pgdist_1_9_9_1', age_seconds=300.0, coordinator_outcome='aborted')]
    assert texts(cluster(coordinator1=coordinator_status(in_doubt=in_doubt))) == [
        'coordinator1: prepared transaction pgdist_1_9_9_1 on shard9 in doubt for 300 s (threshold 60 s), '
        'coordinator transaction aborted (recovery rolls it back)']


def test_replication_lag_and_slots_past_their_thresholds():
    senders = [dict(application_name='replica1_sub', state='streaming', lag_bytes=300 * 1024 * 1024, replay_lag_s=2.0),
               dict(application_name='shard1b', state='streaming', lag_bytes=100, replay_lag_s=61.5),
               dict(application_name='fine', state='streaming', lag_bytes=100, replay_lag_s=None)]
    slots = {'gone': dict(active=False, wal_status='lost', retained_wal_bytes=None),
             'idle': dict(active=False, wal_status='extended', retained_wal_bytes=LIMITS['lag_max_bytes'] + 1),
             'busy': dict(active=True, wal_status='reserved', retained_wal_bytes=10 ** 10)}
    assert texts(cluster(shard1=status(replication_senders=senders, replication_slots=slots))) == [
        'shard1: replication to replica1_sub (streaming) lags 300.0 MiB (threshold 256.0 MiB)',
        'shard1: replication to shard1b (streaming) lags 62 s (threshold 60 s)',
        'shard1: replication slot gone lost the WAL its subscriber or standby needs: recreate that copy',
        'shard1: inactive replication slot idle holds back 256.0 MiB of WAL (threshold 256.0 MiB)']


def test_a_subscription_that_does_not_run():
    subs = {'off': dict(enabled=False, worker_pid=None), 'dead': dict(enabled=True, worker_pid=None),
            'ok': dict(enabled=True, worker_pid=4242)}
    assert texts(cluster(shard2=status(subscriptions=subs))) == [
        'shard2: subscription dead has no running apply worker (its log says why)',
        'shard2: subscription off is disabled']


def ha_cluster(primary_senders, standby_in_recovery=True, primary_in_recovery=False):
    nodes = cluster(shard1=status(in_recovery=primary_in_recovery, replication_senders=primary_senders))
    nodes.append(dict(host='shard1b', kind='standby', standby_of='shard1', status=status(in_recovery=standby_in_recovery)))
    return nodes


def test_ha_shards_need_a_primary_and_streaming_standbys():
    streaming = [dict(application_name='shard1b', state='streaming', lag_bytes=0, replay_lag_s=0.1)]
    assert texts(ha_cluster(streaming)) == []
    assert texts(ha_cluster([])) == ['shard1b: standby of HA shard shard1 does not stream from its primary shard1']
    assert texts(ha_cluster([], primary_in_recovery=True)) == [
        'shard1: HA shard shard1 has no primary: shard1, shard1b are in recovery']


def test_problems_come_down_first_then_in_inventory_order():
    servers = {'shard1': dict(reachable=True), 'shard2': dict(reachable=False, probe_error='refused')}
    old = [dict(gid='x', database='library', age_seconds=100.0)]
    nodes = cluster(coordinator1=coordinator_status(servers), shard1=status(prepared_transactions=old),
                    shard2=dict(failed=True, msg='refused'))
    assert [(p['node'], p['check']) for p in health_problems(nodes, LIMITS)] == [
        ('shard2', 'down'), ('coordinator1', 'unreachable'), ('shard1', 'prepared')]


@pytest.mark.parametrize('nodes, limits, message', [
    ({}, LIMITS, 'nodes must be a list'),
    ([dict(kind='shard', status={})], LIMITS, 'nodes[0] needs a host'),
    ([dict(host='x', kind='primary', status={})], LIMITS, 'nodes[0] (x): kind must be one of coordinator, shard'),
    ([], dict(LIMITS, lag_max_bytes='lots'), "thresholds.lag_max_bytes must be a number of bytes, at least 0, got 'lots'"),
    ([], dict(LIMITS, prepared_max_age=-1), 'thresholds.prepared_max_age must be a number of seconds'),
])
def test_bad_input_names_the_field(nodes, limits, message):
    with pytest.raises(InvalidInput, match='^health_problems: ' + re.escape(message)):
        health_problems(nodes, limits)
