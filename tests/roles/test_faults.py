"""Faults (issue 8, point 3): a shard down while the coordinator is queried, and a shard down (host
unreachable, PostgreSQL stopped) during a deploy, then back; the health check (status.yml) and the metrics
(pgdist.cluster.monitoring's exporters) seeing those faults. On a private copy of inventories/local (clusters
pgdist_faults_*, ports 55472-55474, exporters on port 55479 of each node's address)."""

import json
import os
import re
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO, run_playbook  # noqa: E402
from support.variant import Variant  # noqa: E402

# A table added while shard2 is down: one list partition per shard and a hash table over both.
NEW_TABLES = [
    dict(name='orders', columns=[dict(name='id', type='bigint'), dict(name='region', type='text')],
         partition_by=dict(method='list', key='region'),
         partitions=[dict(name='orders_north', values=['north'], shard='shard1'),
                     dict(name='orders_south', values=['south'], shard='shard2')]),
    dict(name='clicks', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
         partition_count=2),
]
EXPORTER_PORT = 55479
DASHBOARD = os.path.join(REPO, 'roles', 'monitoring', 'files', 'grafana-dashboard.json')
RELATIONS = """SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'f')"""


@pytest.fixture(scope='module')
def variant():
    variant = Variant('faults', 55472, group_vars=dict(
        pgdist_monitoring_enabled=True, pgdist_monitoring_port=EXPORTER_PORT,
        pgdist_monitoring_password='Monitor-secret_1'))
    try:
        variant.deploy()
        variant.psql('coordinator1', "INSERT INTO parent VALUES (1, 'a', 10), (2, 'b', 150000), (3, 'c', 250000);"
                                     "INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 40) g")
        yield variant
    finally:
        variant.drop()


def shard_of_event(variant, event_id):
    partition = variant.psql('coordinator1', 'SELECT tableoid::regclass FROM events WHERE id = %d' % event_id)
    return variant.psql('coordinator1', "SELECT s.srvname FROM pg_foreign_table f JOIN pg_foreign_server s "
                                        "ON s.oid = f.ftserver WHERE f.ftrelid = '%s'::regclass" % partition)


def test_query_while_a_shard_is_down(variant):
    on_shard1 = [n for n in range(1, 41) if shard_of_event(variant, n) == 'shard1'][0]
    variant.ctl('shard2', 'stop')
    try:
        # Whatever needs shard2 fails, naming the foreign server that cannot be reached.
        for sql in ('SELECT count(*) FROM parent', 'SELECT count(*) FROM events',
                    'SELECT * FROM parent WHERE range = 150000'):
            out = variant.psql('coordinator1', sql, check=False)
            assert out.returncode != 0, sql
            assert 'could not connect to server "shard2"' in out.stderr, out.stderr
        # Queries pruned to shard1 and the coordinator's own partition still answer.
        assert variant.psql('coordinator1', 'SELECT id FROM parent WHERE range < 100000') == '1'
        assert variant.psql('coordinator1', 'SELECT id FROM parent WHERE range >= 200000') == '3'
        assert variant.psql('coordinator1', 'SELECT count(*) FROM child1') == '1'
        assert variant.psql('coordinator1', 'SELECT payload FROM events WHERE id = %d' % on_shard1) == 'e%d' % on_shard1
        # Writes routed to shard1 work too.
        variant.psql('coordinator1', "INSERT INTO parent VALUES (4, 'd', 20)")
        assert variant.psql('shard1', 'SELECT count(*) FROM child1') == '2'
    finally:
        variant.ctl('shard2', 'start')
        variant.psql('coordinator1', 'DELETE FROM parent WHERE id = 4')
    assert variant.psql('coordinator1', 'SELECT count(*) FROM parent') == '3'


def test_deploy_with_a_shard_down_then_back(variant):
    counts = variant.psql('coordinator1', 'SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM events)')
    variant.group_vars['pgdist_tables'] = variant.group_vars['pgdist_tables'] + NEW_TABLES
    variant.write_group_vars()
    # shard2's machine is down: its PostgreSQL stops and Ansible cannot reach it (ssh to a closed port).
    host_vars = os.path.join(variant.dir, 'host_vars')
    os.makedirs(host_vars)
    with open(os.path.join(host_vars, 'shard2.yml'), 'w') as handle:
        handle.write('ansible_connection: ssh\nansible_host: 127.0.0.3\nansible_port: 9\n'
                     'ansible_ssh_common_args: -o ConnectTimeout=5 -o BatchMode=yes\n')
    variant.ctl('shard2', 'stop')
    try:
        run = variant.run()
        assert not run.ok
        assert run.stats['shard2']['unreachable'] > 0, run.stats
        # The play fails on shard2 with the reason, and only there.
        down = [result for result in run.results('shard2') if result.get('unreachable')]
        assert down and 'host 127.0.0.3 port 9: Connection refused' in down[0]['msg'], run.results('shard2')
        # The others finish their part: shard1 gets its tables, the coordinator every object.
        assert (run.stats['shard1']['failures'], run.stats['coordinator1']['failures']) == (0, 0), run.stats
        assert 'orders_north' in variant.psql('shard1', RELATIONS)
        assert variant.psql('coordinator1', "INSERT INTO orders VALUES (1, 'north') RETURNING id") == '1'
        assert variant.psql('shard1', 'SELECT count(*) FROM orders_north') == '1'
        before_return = variant.psql('coordinator1', RELATIONS)
    finally:
        os.remove(os.path.join(host_vars, 'shard2.yml'))
        variant.ctl('shard2', 'start')
    # shard2 is back: the re-run converges, a second one changes nothing.
    run = variant.deploy()
    assert run.changed('shard2') > 0 and run.changed('coordinator1') == 0, variant.changed(run)
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)
    # Every object once, the rows as they were.
    assert variant.psql('coordinator1', RELATIONS) == before_return
    assert 'orders_south' in variant.psql('shard2', RELATIONS)
    assert variant.psql('coordinator1', "SELECT count(*) FROM pg_inherits WHERE inhparent = 'orders'::regclass") == '2'
    assert variant.psql('coordinator1', "SELECT count(*) FROM pg_inherits WHERE inhparent = 'clicks'::regclass") == '2'
    variant.psql('coordinator1', "INSERT INTO orders VALUES (2, 'south'); INSERT INTO clicks SELECT generate_series(1, 10)")
    assert variant.psql('shard2', 'SELECT count(*) FROM orders_south') == '1'
    assert variant.psql('coordinator1', 'SELECT count(*) FROM orders') == '2'
    assert variant.psql('coordinator1', 'SELECT count(*) FROM clicks') == '10'
    assert variant.psql('coordinator1', 'SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM events)') == counts


def status(variant, **extra_vars):
    """playbooks/status.yml on the variant: (run, its report lines, its verdict or None when healthy)."""
    run = run_playbook(os.path.join(REPO, 'playbooks', 'status.yml'), inventory=variant.inventory,
                       extra_vars=extra_vars or None)
    results = [result for host in variant.hosts for result in run.results(host)]
    (report,) = [result['msg'] for result in results if result['_task'].endswith('Cluster status')]
    verdicts = [result['msg'] for result in results if result.get('failed')]
    assert run.ok == (not verdicts), run.report('status.yml')
    return run, report, (verdicts[0] if verdicts else None)


def test_status_fails_naming_the_node_and_the_problem(variant):
    started = time.time()
    run, report, verdict = status(variant)
    assert run.ok and verdict is None, run.report('status.yml')
    assert report[-1] == '  healthy: 3 nodes read, no problem found', report
    # Row counts are opt-in: the report says where the partitions are, without reading a row.
    assert '  public.events            declarative, 4 partitions: shard1 2, shard2 2' in report, report
    assert '  public.parent            declarative, 3 partitions: local 1, shard1 1, shard2 1' in report, report

    variant.ctl('shard2', 'stop')
    try:
        run, report, verdict = status(variant)
    finally:
        variant.ctl('shard2', 'start')
    assert verdict.startswith('2 problems: shard2: down or unreadable: unable to connect to PostgreSQL'), verdict
    unreachable = verdict.split('; coordinator1: cannot reach shard shard2 through its foreign server (partitions of ')
    assert len(unreachable) == 2 and 'public.events' in unreachable[1].split(' fail): ')[0], verdict
    assert 'fail): ERROR: could not connect to server "shard2"' in unreachable[1], verdict
    assert any(line.split()[:2] == ['shard2', 'DOWN'] for line in report), report

    # A transaction prepared on shard1 by hand (the coordinator's recovery leaves it alone): in doubt once it is
    # older than the threshold, and still reported with the coordinator down.
    variant.psql('shard1', "BEGIN; SELECT pg_current_xact_id(); PREPARE TRANSACTION 'pgdist_health_test'")
    try:
        run, report, verdict = status(variant)
        assert run.ok, 'a prepared transaction younger than 60 s is not in doubt yet: %s' % verdict
        time.sleep(2)
        run, report, verdict = status(variant, pgdist_status_prepared_max_age=1)
        assert verdict.startswith('1 problem: shard1: prepared transaction pgdist_health_test (database library) '
                                  'in doubt for '), verdict
        assert verdict.endswith(' s (threshold 1 s)'), verdict
        variant.ctl('coordinator1', 'stop')
        try:
            run, report, verdict = status(variant, pgdist_status_prepared_max_age=1)
        finally:
            variant.ctl('coordinator1', 'start')
        assert report[0].startswith('== pgdist cluster: the coordinator coordinator1 is DOWN or unreadable: '), report
        assert any(line.startswith('  shard1: prepared transaction pgdist_health_test (library), ') for line in report)
        assert '  shard2: WAL archiving off, 0 archived, 0 failures, last archived never' in report, report
        assert verdict.startswith('2 problems: coordinator1: down or unreadable: '), verdict
        assert '; shard1: prepared transaction pgdist_health_test ' in verdict, verdict
    finally:
        variant.psql('shard1', "ROLLBACK PREPARED 'pgdist_health_test'")
    assert status(variant)[0].ok
    print('\nstatus as a health check: 6 runs in %.1f s' % (time.time() - started))


def scrape(variant, host):
    """{metric name with its labels: value} of host's exporter."""
    url = 'http://%s:%d/metrics' % (variant.address(host), EXPORTER_PORT)
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            name, value = line.rsplit(' ', 1)
            values[name] = float(value)
    return values


def metrics(variant, host, up=1):
    """A scrape of host's exporter once it says pg_up is up: the first scrape after PostgreSQL restarted finds
    the exporter's connection broken (pg_up 0) and the exporter reconnects for the next, as Prometheus sees it."""
    for attempt in range(10):
        values = scrape(variant, host)
        if metric(values, 'pg_up') == up:
            return values
        time.sleep(1)
    raise AssertionError('%s: pg_up stayed %s in %d scrapes, wanted %d' % (host, metric(values, 'pg_up'), attempt + 1, up))


def metric(values, name):
    """The value of the one series named name."""
    found = [value for key, value in values.items() if key.split('{')[0] == name]
    assert len(found) == 1, (name, sorted(values)[:20])
    return found[0]


def test_exporters_answer_the_distributed_metrics(variant):
    # The monitoring login reads without superuser, and only on the local socket.
    assert variant.psql('shard1', "SELECT rolsuper, pg_has_role('pgdist_monitor', 'pg_monitor', 'MEMBER') "
                                  "FROM pg_roles WHERE rolname = 'pgdist_monitor'") == 'f|t'
    hba = variant.psql('shard1', "SELECT type, database[1] FROM pg_hba_file_rules WHERE 'pgdist_monitor' = ANY(user_name)")
    assert hba == 'local|library', hba

    before = metrics(variant, 'coordinator1')
    # A transaction writing on both shards is a two-phase commit, counted by the coordinator's extension.
    variant.psql('coordinator1', "BEGIN; UPDATE parent SET childname = childname WHERE id IN (2, 3); "
                                 "UPDATE events SET payload = payload; COMMIT")
    after = metrics(variant, 'coordinator1')
    assert metric(after, 'pgdist_coordinator_two_phase_commits') >= metric(before, 'pgdist_coordinator_two_phase_commits') + 1
    assert metric(after, 'pgdist_lock_waits_waiting') == 0
    every = dict(after)

    # A transaction prepared on shard1 by hand: its exporter shows it and its age; shard2's does not.
    variant.psql('shard1', "BEGIN; SELECT pg_current_xact_id(); PREPARE TRANSACTION 'pgdist_metrics_test'")
    try:
        time.sleep(1.5)
        shard1, shard2 = metrics(variant, 'shard1'), metrics(variant, 'shard2')
    finally:
        variant.psql('shard1', "ROLLBACK PREPARED 'pgdist_metrics_test'")
    assert metric(shard1, 'pgdist_prepared_transactions_count') == 1
    assert metric(shard1, 'pgdist_prepared_transactions_oldest_age_seconds') >= 1
    assert metric(shard2, 'pgdist_prepared_transactions_count') == 0
    assert all(metric(values, 'pgdist_archiver_failing') == 0 for values in (shard1, shard2))
    assert not any(key.startswith('pgdist_coordinator_') for key in shard1), 'the counters are the coordinator\'s'
    labels = [key for key in shard1 if key.startswith('pg_up')]
    assert labels == ['pg_up{pgdist_kind="shard",pgdist_node="shard1"}'], labels
    every.update(shard1)
    every.update(shard2)

    # A node down: its exporter still answers, with pg_up 0.
    variant.ctl('shard2', 'stop')
    try:
        metrics(variant, 'shard2', up=0)
    finally:
        variant.ctl('shard2', 'start')

    # Every metric the dashboard draws is one the exporters serve.
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    exprs = [target['expr'] for panel in dashboard['panels'] for target in panel['targets']]
    # The metric names of each expression, without the labels it groups by.
    drawn = set(name for expr in exprs
                for name in re.findall(r'\b(pg_up|pgdist_[a-z_]+)\b', re.sub(r'by \([^)]*\)', '', expr)))
    served = set(key.split('{')[0] for key in every)
    # Rows of views that are empty here (no standby, slot or subscription) give no series.
    empty_here = set(name for name in drawn if name.startswith(('pgdist_replication_', 'pgdist_subscriptions_')))
    assert drawn - empty_here <= served, sorted(drawn - empty_here - served)
    assert len(drawn) >= 15, drawn
