"""pgdist.cluster.cluster_info on real clusters, through ansible-playbook.

The coordinator's database `ci_db` has foreign servers on the two shared
shards, on a spare cluster of this module that is stopped before reading,
and on a port that accepts TCP but never answers (a hung host). It holds a
hash-partitioned table spread over local and foreign partitions, a range
table, and the seed's inheritance parent with CHECK children and a routing
trigger. shard2 subscribes to a publication of the coordinator.
"""

import os
import socket
import sys
import time

import pytest
import yaml

from support.ansible import REPO, run_module, run_playbook
from support.pgcluster import start_cluster, wait_for

DB = 'ci_db'
FDW_PASSWORD = 'ci-fdw-Secr3t-pw'
SUB_PASSWORD = 'ci-repl-Secr3t-pw'
SECRETS = (FDW_PASSWORD, SUB_PASSWORD)


def sql(cluster, statements, dbname=DB):
    conn = cluster.connect(dbname)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def prepare_shard(shard, tables):
    shard.query("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    shard.query("DROP ROLE IF EXISTS ci_fdw")
    shard.query("CREATE ROLE ci_fdw LOGIN PASSWORD '%s'" % FDW_PASSWORD)
    shard.query("CREATE DATABASE %s OWNER ci_fdw" % DB)
    conn = shard.connect(DB, user='ci_fdw', password=FDW_PASSWORD)
    with conn.cursor() as cursor:
        for table, rows in tables.items():
            cursor.execute("CREATE TABLE %s (id int, payload text)" % table)
            cursor.execute("INSERT INTO %s SELECT g, 'x' FROM generate_series(1, %d) g" % (table, rows))
            cursor.execute("ANALYZE %s" % table)
    conn.close()


def server_sql(name, cluster_or_port):
    port = cluster_or_port if isinstance(cluster_or_port, int) else cluster_or_port.port
    return [
        "CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d', dbname '%s', "
        "updatable 'true', fetch_size '5000')" % (name, port, DB),
        "CREATE USER MAPPING FOR postgres SERVER %s OPTIONS (user 'ci_fdw', password '%s')" % (name, FDW_PASSWORD),
    ]


@pytest.fixture(scope='module')
def hung_port():
    """A port whose listen backlog completes TCP handshakes but nobody ever answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(scope='module')
def spare():
    cluster = start_cluster('ci-spare')
    yield cluster
    cluster.destroy()


@pytest.fixture(scope='module')
def setup(coordinator, shard1, shard2, spare, hung_port):
    prepare_shard(shard1, {'events_p0': 10, 'events_p1': 20})
    prepare_shard(shard2, {'events_p2': 30})
    prepare_shard(spare, {'logs_down': 5})
    coordinator.query("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    coordinator.query("CREATE DATABASE %s" % DB)
    statements = ["CREATE EXTENSION postgres_fdw"]
    statements += server_sql('ci_s1', shard1) + server_sql('ci_s2', shard2)
    statements += server_sql('ci_down', spare) + server_sql('ci_hung', hung_port)
    statements += [
        "CREATE TABLE events (id int, payload text) PARTITION BY HASH (id)",
        "CREATE FOREIGN TABLE events_p0 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 0) SERVER ci_s1",
        "CREATE FOREIGN TABLE events_p1 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 1) "
        "SERVER ci_s1 OPTIONS (schema_name 'public', table_name 'events_p1')",
        "CREATE FOREIGN TABLE events_p2 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 2) SERVER ci_s2",
        "CREATE TABLE events_p3 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 3)",
        "INSERT INTO events_p3 SELECT g, 'y' FROM generate_series(1, 100) g "
        "WHERE satisfies_hash_partition('events'::regclass, 4, 3, g) LIMIT 7",
        "CREATE TABLE logs (id int, payload text) PARTITION BY RANGE (id)",
        "CREATE FOREIGN TABLE logs_down PARTITION OF logs FOR VALUES FROM (MINVALUE) TO (100) SERVER ci_down",
        "CREATE TABLE logs_rest PARTITION OF logs FOR VALUES FROM (100) TO (MAXVALUE)",
        "CREATE FOREIGN TABLE logs_hung (id int, payload text) SERVER ci_hung",
        # seed 003: inheritance with CHECK constraints and a routing trigger
        "CREATE TABLE parent (id integer, childname text, range bigint)",
        "CREATE TABLE child1 (CHECK (range <= 99999)) INHERITS (parent)",
        "CREATE TABLE child2 (CHECK (range > 99999 AND range <= 199999)) INHERITS (parent)",
        "CREATE TABLE child3 (CHECK (range > 199999)) INHERITS (parent)",
        """CREATE FUNCTION insert_to_child() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF NEW.range <= 99999 THEN INSERT INTO child1 VALUES (NEW.*);
             ELSIF NEW.range <= 199999 THEN INSERT INTO child2 VALUES (NEW.*);
             ELSE INSERT INTO child3 VALUES (NEW.*); END IF;
             RETURN NULL;
           END $$""",
        "CREATE TRIGGER insert_to_child_tg BEFORE INSERT ON parent FOR EACH ROW EXECUTE FUNCTION insert_to_child()",
        "INSERT INTO parent VALUES (1, 'a', 1), (2, 'b', 199999), (3, 'c', 200000), (4, 'd', 5)",
        "ANALYZE events_p3, child1, child2, child3, logs_rest",
        "CREATE TABLE replicated (id int PRIMARY KEY, v text)",
        "INSERT INTO replicated VALUES (1, 'one'), (2, 'two')",
        "CREATE PUBLICATION ci_pub FOR TABLE replicated",
        "CREATE ROLE ci_repl LOGIN REPLICATION PASSWORD '%s'" % SUB_PASSWORD,
        "GRANT SELECT ON replicated TO ci_repl",
    ]
    coordinator.query("DROP ROLE IF EXISTS ci_repl")
    sql(coordinator, statements)
    sql(shard2, ["CREATE TABLE replicated (id int PRIMARY KEY, v text)",
                 "CREATE SUBSCRIPTION ci_sub CONNECTION 'host=127.0.0.1 port=%d dbname=%s user=ci_repl "
                 "password=%s application_name=ci_sub' PUBLICATION ci_pub" % (coordinator.port, DB, SUB_PASSWORD)])
    assert wait_for(lambda: shard2.scalar("SELECT count(*) FROM replicated", dbname=DB) == 2)
    assert wait_for(lambda: coordinator.scalar(
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'ci_sub'"))
    # a setting changed on disk but waiting for a restart, on the spare while it is up
    spare.query("ALTER SYSTEM SET max_connections = 61")
    spare.query("SELECT pg_reload_conf()")
    wait_for(lambda: spare.scalar("SELECT pending_restart FROM pg_settings WHERE name = 'max_connections'"))
    pending = run_module('cluster_info', dict(db=DB, gather=['settings']), login=spare.login)[0]
    spare.stop()
    yield dict(pending=pending)
    sql(shard2, ["DROP SUBSCRIPTION ci_sub"])
    coordinator.query("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    coordinator.query("DROP ROLE IF EXISTS ci_repl")


@pytest.fixture(scope='module')
def exact(setup, coordinator):
    started = time.time()
    result, run = run_module('cluster_info', dict(db=DB, row_counts='exact', probe_timeout=1),
                             login=coordinator.login, verbosity=3)
    return dict(result=result, run=run, seconds=time.time() - started)


def test_read_only_and_no_crash_with_a_shard_down(exact):
    assert exact['run'].ok, exact['run'].stdout + exact['run'].stderr
    assert exact['result']['changed'] is False
    assert exact['result']['queries'] == []


def test_foreign_servers_reachability(exact, shard1):
    servers = exact['result']['foreign_servers']
    assert sorted(servers) == ['ci_down', 'ci_hung', 'ci_s1', 'ci_s2']
    for name in ('ci_s1', 'ci_s2'):
        assert servers[name]['reachable'] is True, servers[name]
        assert servers[name]['remote_version'].startswith('%d.' % shard1.major)
        assert 0 < servers[name]['rtt_ms'] < 1000
        assert servers[name]['probe_error'] is None
    assert servers['ci_s1']['options'] == dict(host='127.0.0.1', port=str(shard1.port), dbname=DB,
                                               updatable='true', fetch_size='5000')
    down = servers['ci_down']
    assert down['reachable'] is False and down['rtt_ms'] is None
    assert 'Connection refused' in down['probe_error']
    hung = servers['ci_hung']
    assert hung['reachable'] is False
    assert 'timeout' in hung['probe_error'] or 'timed out' in hung['probe_error']
    assert exact['result']['unreachable_servers'] == ['ci_down', 'ci_hung']
    # a hung host costs about probe_timeout, not the OS TCP timeout
    assert exact['seconds'] < 30


def test_probe_leaves_nothing_behind(exact, coordinator):
    assert coordinator.scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'pgdist_probe%%'", dbname=DB) == 0
    options = coordinator.query("SELECT srvoptions FROM pg_foreign_server ORDER BY srvname", dbname=DB)
    assert all(not any(o.startswith('connect_timeout=') for o in row[0]) for row in options)


def test_user_mappings_without_passwords(exact):
    mappings = exact['result']['user_mappings']
    assert len(mappings) == 4
    for mapping in mappings:
        assert mapping['user'] == 'postgres'
        assert mapping['options'] == {'user': 'ci_fdw'}
        assert mapping['has_password'] is True


def test_secrets_never_shown(exact):
    for text in (exact['run'].stdout, exact['run'].stderr):
        for secret in SECRETS:
            assert secret not in text


def test_declarative_partitions_bounds_and_exact_rows(exact, shard1, shard2):
    events = exact['result']['tables']['public.events']
    assert events['method'] == 'declarative'
    assert events['partition_key'] == 'HASH (id)'
    parts = dict((p['name'], p) for p in events['partitions'])
    assert sorted(parts) == ['events_p0', 'events_p1', 'events_p2', 'events_p3']
    assert parts['events_p0']['bound'] == 'FOR VALUES WITH (modulus 4, remainder 0)'
    assert parts['events_p0']['kind'] == 'foreign' and parts['events_p0']['server'] == 'ci_s1'
    assert parts['events_p0']['remote_table'] == 'public.events_p0'
    assert parts['events_p2']['server'] == 'ci_s2'
    assert parts['events_p3']['kind'] == 'local' and parts['events_p3']['server'] is None
    assert [parts[n]['rows'] for n in sorted(parts)] == [10, 20, 30, 7]
    assert events['rows'] == 67 and events['partition_count'] == 4
    assert events['rows_by_location'] == {'ci_s1': 30, 'ci_s2': 30, 'local': 7}


def test_partition_on_stopped_shard_reported_not_counted(exact):
    logs = exact['result']['tables']['public.logs']
    parts = dict((p['name'], p) for p in logs['partitions'])
    assert parts['logs_down']['bound'] == 'FOR VALUES FROM (MINVALUE) TO (100)'
    assert parts['logs_down']['rows'] is None
    assert parts['logs_down']['rows_error'] == 'server ci_down is unreachable'
    assert parts['logs_rest']['rows'] == 0
    assert logs['rows_by_location'] == {'ci_down': None, 'local': 0}


def test_inheritance_children(exact):
    parent = exact['result']['tables']['public.parent']
    assert parent['method'] == 'inheritance'
    assert parent['triggers'] == ['insert_to_child_tg']
    parts = dict((p['name'], p) for p in parent['partitions'])
    assert parts['child1']['checks'] == ['CHECK ((range <= 99999))']
    assert parts['child1']['bound'] is None
    assert [parts[n]['rows'] for n in ('child1', 'child2', 'child3')] == [2, 1, 1]
    assert parent['rows'] == 4


def test_replication_publisher_side(exact):
    result = exact['result']
    assert result['publications']['ci_pub']['tables'] == ['public.replicated']
    assert result['publications']['ci_pub']['insert'] is True
    slot = result['replication_slots']['ci_sub']
    assert slot['active'] is True and slot['type'] == 'logical' and slot['plugin'] == 'pgoutput'
    assert slot['retained_wal_bytes'] >= 0
    assert any(s['application_name'] == 'ci_sub' for s in result['replication_senders'])


def test_subscription_conninfo_without_password(setup, shard2):
    result, run = run_module('cluster_info', dict(db=DB, gather=['replication']), login=shard2.login)
    assert run.ok, run.stdout
    sub = result['subscriptions']['ci_sub']
    assert 'password' not in sub['conninfo']
    assert 'user=ci_repl' in sub['conninfo'] and 'dbname=%s' % DB in sub['conninfo']
    assert sub['enabled'] is True and sub['publications'] == ['ci_pub']
    assert sub['table_states'] == {'ready': 1}
    for secret in SECRETS:
        assert secret not in run.stdout


def test_settings_pending_restart(setup):
    pending = setup['pending']
    assert pending['pending_restart'] == ['max_connections']
    assert pending['settings']['max_connections']['pending_restart'] is True
    assert pending['settings']['wal_level']['value'] == 'logical'
    assert pending['settings']['wal_level']['pending_restart'] is False
    # Which file sets what: the throw-away clusters write their settings with ALTER SYSTEM's file.
    assert pending['settings']['wal_level']['sourcefile'].endswith('/postgresql.auto.conf')
    entries = [row for row in pending['file_settings'] if row['name'] == 'max_connections']
    assert entries and entries[-1]['sourcefile'].endswith('/postgresql.auto.conf')
    # The one list of managed settings is the default (it had drifted from what the roles set).
    assert {'synchronous_standby_names', 'max_slot_wal_keep_size', 'ssl_min_protocol_version'} <= set(
        pending['settings'])
    # initdb's pg_hba.conf starts with its own comment.
    assert pending['hba_file']['path'].endswith('/pg_hba.conf')
    assert pending['hba_file']['first_line'].startswith('# PostgreSQL Client Authentication Configuration File')


def test_estimated_counts_from_shard_statistics(setup, coordinator):
    result, run = run_module('cluster_info', dict(db=DB, row_counts='estimated', tables=['events'],
                                                  gather=['tables']), login=coordinator.login)
    assert run.ok, run.stdout
    assert list(result['tables']) == ['public.events']
    parts = dict((p['name'], p['rows']) for p in result['tables']['public.events']['partitions'])
    assert parts == {'events_p0': 10, 'events_p1': 20, 'events_p2': 30, 'events_p3': 7}


def test_check_mode_and_unknown_table(setup, coordinator):
    result, run = run_module('cluster_info', dict(db=DB, gather=['foreign_servers']), login=coordinator.login,
                             check=True)
    assert run.ok and result['changed'] is False
    assert result['foreign_servers']['ci_s2']['reachable'] is True
    result, run = run_module('cluster_info', dict(db=DB, tables=['nope']), login=coordinator.login)
    assert not run.ok
    assert 'public.nope is not a partitioned table' in result['msg']


def test_archiver_and_relations(setup, coordinator):
    """WAL archiving health (pg_stat_archiver) and which named tables exist (the shard role's guard)."""
    result, run = run_module('cluster_info', dict(db=DB, gather=['archiver'], probe=False,
                                                  relations=['events_p3', 'public.logs_rest', 'public.nope']),
                             login=coordinator.login)
    assert run.ok, run.stdout
    archiver = result['archiver']
    assert archiver['archive_mode'] == 'off' and archiver['failing'] is False
    assert (archiver['archived_count'], archiver['failed_count'], archiver['last_failed_wal']) == (0, 0, None)
    assert result['relations'] == {'public.events_p3': True, 'public.logs_rest': True, 'public.nope': False}
    assert 'tables' not in result and 'settings' not in result


def test_status_playbook_reports_down_shard_rows_and_replication(setup, coordinator, shard1, shard2, spare, tmp_path):
    def host(cluster):
        return dict(ansible_connection='local', ansible_python_interpreter=sys.executable,
                    ansible_become=False, pgdist_unix_socket_directory=cluster.socket_dir,
                    pgdist_port=cluster.port)
    inventory = {'all': {'vars': {'pgdist_database': DB}, 'children': {
        'coordinator': {'hosts': {'coord': host(coordinator)}},
        'shards': {'hosts': {'s1': host(shard1), 'spare': host(spare)}},
        'replicas': {'hosts': {'s2': host(shard2),
                               # A host Ansible cannot reach (ssh to a closed port): reported, the others read.
                               'gone': dict(ansible_connection='ssh', ansible_host='127.0.0.1', ansible_port=9,
                                            ansible_ssh_common_args='-o ConnectTimeout=5 -o BatchMode=yes')}}}}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    run = run_playbook(os.path.join(REPO, 'playbooks', 'status.yml'), inventory=str(path),
                       extra_vars={'pgdist_status_probe_timeout': 1, 'pgdist_status_row_counts': 'exact'})
    # The report comes first; then the run fails, naming the stopped node and the shards the coordinator misses.
    assert not run.ok
    assert sum(stats.get('changed', 0) for stats in run.stats.values()) == 0
    (report,) = [result['msg'] for result in run.results('coord') if result['_task'].endswith('Cluster status')]
    report = '\n'.join(report)
    assert 'ci_s1            up' in report
    assert 'ci_down          DOWN' in report
    assert 'public.events            declarative, 4 partitions, rows 67' in report
    assert 'ci_s1                  30' in report
    assert 'ci_down                unknown (server down)' in report
    assert 'spare: DOWN or unreadable' in report
    assert 'coord: slot ci_sub active' in report
    assert 's2: subscription ci_sub enabled, worker running, tables ready=1' in report
    (verdict,) = [result['msg'] for result in run.results('coord') if result.get('failed')]
    assert verdict.startswith('4 problems: spare: down or unreadable: '), verdict
    assert '; gone: down or unreadable: unreachable: ' in verdict and 'port 9: Connection refused' in verdict, verdict
    assert '; coord: cannot reach shard ci_down through its foreign server (partitions of public.logs fail): ' \
        in verdict, verdict
    assert '; coord: cannot reach shard ci_hung through its foreign server' in verdict, verdict
    for secret in SECRETS:
        assert secret not in run.stdout
