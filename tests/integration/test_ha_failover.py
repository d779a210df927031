"""A highly available shard on this machine: Debian's Patroni and etcd manage two members of one shard.

The members run Debian's PostgreSQL (Patroni needs pg_basebackup and pg_rewind, which the other majors' packages
of tests/support/pgbinaries.py lack); the coordinator is the session's, of PGDIST_PG_VERSION.

The configuration is the plan's (node_plan.build_plan with a shard, its standby and etcd on the shard host),
with the members' directories moved to temporary ones. The coordinator's foreign server gets the plan's options
through pgdist.cluster.foreign_server (host '127.0.0.1,127.0.0.1', both ports, target_session_attrs
read-write). A writer inserts through the coordinator while the primary is killed (Patroni and its postmaster,
SIGKILL: the host is gone): writes succeed again within 30 s, every insert that returned success is there
(synchronous_mode), and the old primary rejoins as a standby when its Patroni starts again.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg2
import pytest
import yaml

from support.ansible import collections_path, run_module
from support.pgbinaries import DEBIAN_BIN, DEBIAN_MAJOR
from support.pgcluster import RUN_AS, SUPERUSER_PASSWORD, _demote, free_port, wait_for
from support.plan_inputs import DEFAULTS, host_facts

sys.path.insert(0, collections_path())

from ansible_collections.pgdist.cluster.plugins.filter.config import hba_lines  # noqa: E402
from ansible_collections.pgdist.cluster.plugins.module_utils import node_plan  # noqa: E402

DB = 't_ha'
FDW_PASSWORD = 'Fdw-secret-pw'
REPLICATION_PASSWORD = 'Patroni-secret-pw'
FAILOVER_LIMIT = 30.0


def plan_facts(host, port, socket_dir, **extra):
    """The plan role's pgdist_plan_host of one host on this machine (no TLS: throw-away clusters)."""
    facts = dict(postgresql_version=DEBIAN_MAJOR, cluster_name='ha_' + host, unix_socket_directory=socket_dir,
                 ssl=False, standby_of='', ha_synchronous=DEFAULTS['pgdist_ha_synchronous'],
                 patroni_api_port=free_port(), etcd_client_port=free_port(), etcd_peer_port=free_port(),
                 # No fsync: a killed postmaster loses nothing the kernel has.
                 postgresql_settings=dict(fsync=False))
    facts.update(extra)
    return host_facts(host, '127.0.0.1', port, **facts)


def plan_variables():
    names = ('tables', 'reference_tables', 'fdw_user', 'fdw_mapped_users', 'foreign_server_options', 'analyze_tables',
             'replication_user', 'replication_synchronous_count', 'coordinator_group', 'shards_group',
             'replicas_group', 'standbys_group', 'etcd_group', 'coordinator_extension', 'extension_settings',
             'max_prepared_transactions', 'keepalives', 'client_connection_check_interval', 'ha_replication_user',
             'ha_ttl', 'ha_loop_wait', 'ha_retry_timeout', 'ha_maximum_lag_on_failover')
    variables = dict((name, DEFAULTS['pgdist_' + name]) for name in names)
    variables.update(database=DB, check_mode=False, coordinator_extension=False)
    return variables


def children(parent):
    """The pids whose parent is parent (/proc)."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    fields = handle.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry))
    return found


class Member(object):
    """One Patroni member: its configuration from the plan, its directories, its process."""

    def __init__(self, name, slice_, base):
        self.name = name
        self.base = os.path.join(base, name)
        self.data_dir = os.path.join(self.base, 'data')
        self.log = os.path.join(self.base, 'patroni.log')
        config = slice_['ha']['config']
        postgresql = config['postgresql']
        self.socket_dir = postgresql['parameters']['unix_socket_directories']
        postgresql.update(data_dir=self.data_dir, config_dir=self.data_dir, bin_dir=DEBIAN_BIN,
                          pgpass=os.path.join(self.base, 'pgpass'))
        # The test logs in over TCP as postgres; the roles use the peer login on the socket instead.
        postgresql['pg_hba'] = hba_lines(slice_['hba_rules'], [dict(type='host', database='all', user='postgres',
                                                                    address='127.0.0.1', method='scram-sha-256')])
        postgresql['authentication']['superuser']['password'] = SUPERUSER_PASSWORD
        for login in ('replication', 'rewind'):
            postgresql['authentication'][login]['password'] = REPLICATION_PASSWORD
        self.port = slice_['port']
        self.api = slice_['ha']['api']
        self.config_file = os.path.join(self.base, 'patroni.yml')
        entry = pwd.getpwnam(RUN_AS)
        for path in (self.base, self.socket_dir):
            os.makedirs(path, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        with open(self.config_file, 'w') as handle:
            yaml.safe_dump(config, handle)
        self.process = None

    def start(self):
        with open(self.log, 'a') as log:
            self.process = subprocess.Popen(['patroni', self.config_file], preexec_fn=_demote, stdout=log,
                                            stderr=subprocess.STDOUT)

    def status(self):
        """Patroni's GET /patroni (role, state), or {} while its API does not answer."""
        try:
            with urllib.request.urlopen(self.api + '/patroni', timeout=2) as response:
                return json.load(response)
        except OSError:
            return {}
        except ValueError:
            return {}

    def kill(self):
        """The host is gone: Patroni and the postmaster SIGKILLed, nothing shut down cleanly."""
        with open(os.path.join(self.data_dir, 'postmaster.pid')) as handle:
            postmaster = int(handle.readline())
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        # The postmaster and every backend at once: a backend left alone would go on serving its client.
        for pid in [postmaster] + children(postmaster):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def connect(self, dbname='postgres', user='postgres', password=SUPERUSER_PASSWORD):
        conn = psycopg2.connect(host='127.0.0.1', port=self.port, dbname=dbname, user=user, password=password,
                                connect_timeout=5)
        conn.autocommit = True
        return conn

    def scalar(self, statement, dbname='postgres'):
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchone()[0]
        finally:
            conn.close()

    def tail(self):
        with open(self.log) as handle:
            return '%s:\n%s' % (self.name, handle.read()[-3000:])


@pytest.fixture(scope='module')
def ha_shard(coordinator):
    """s1 (bootstraps) and its standby s1b under Patroni, etcd on s1; the plan as the roles would get it."""
    base = tempfile.mkdtemp(prefix='pgdist-ha-')
    os.chmod(base, 0o755)
    facts = dict(c1=plan_facts('c1', coordinator.port, coordinator.socket_dir),
                 s1=plan_facts('s1', free_port(), os.path.join(base, 's1', 'run')),
                 s1b=plan_facts('s1b', free_port(), os.path.join(base, 's1b', 'run'), standby_of='s1'))
    reads = dict((host, dict(running=False, error=None, info=None)) for host in facts)
    groups = dict(coordinator=['c1'], shards=['s1'], standbys=['s1b'], replicas=[], etcd=['s1'])
    plan = node_plan.build_plan(groups, facts, plan_variables(), reads)
    members = dict((name, Member(name, plan['hosts'][name], base)) for name in ('s1', 's1b'))
    etcd_env = dict(os.environ, **plan['hosts']['s1']['etcd'])
    etcd_env['ETCD_DATA_DIR'] = os.path.join(base, 'etcd')
    etcd_log = open(os.path.join(base, 'etcd.log'), 'w')
    etcd = subprocess.Popen(['etcd'], env=etcd_env, stdout=etcd_log, stderr=subprocess.STDOUT)
    try:
        # The HA role's order: the shard host bootstraps the group, then its standbys clone it.
        members['s1'].start()
        assert wait_for(lambda: members['s1'].status().get('role') in ('master', 'primary')
                        and members['s1'].status().get('state') == 'running', timeout=90), members['s1'].tail()
        members['s1b'].start()
        assert wait_for(lambda: members['s1b'].status().get('state') == 'running', timeout=90), members['s1b'].tail()
        yield plan, members
    finally:
        for member in members.values():
            member.stop()
        etcd.terminate()
        etcd.wait(timeout=30)
        etcd_log.close()
        shutil.rmtree(base, ignore_errors=True)


def setup_shard_and_coordinator(plan, primary, coordinator):
    """What the shard and coordinator roles would create: the fdw login, the database, a table, and the
    coordinator's foreign server with the plan's options."""
    for statement, dbname, user, password in (
            ("CREATE ROLE pgdist_fdw LOGIN PASSWORD '%s'" % FDW_PASSWORD, 'postgres', 'postgres', SUPERUSER_PASSWORD),
            ('CREATE DATABASE %s OWNER pgdist_fdw' % DB, 'postgres', 'postgres', SUPERUSER_PASSWORD),
            ('CREATE TABLE items (id int PRIMARY KEY)', DB, 'pgdist_fdw', FDW_PASSWORD)):
        conn = primary.connect(dbname, user, password)
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()
    coordinator.query('CREATE DATABASE %s' % DB)
    coordinator.query('CREATE EXTENSION postgres_fdw', dbname=DB)
    server = plan['hosts']['c1']['foreign_servers'][0]
    login = dict(coordinator.login, db=DB)
    result, run = run_module('foreign_server', dict(name=server['name'], options=server['options']), login)
    assert result.get('changed') and not result.get('failed'), run.stdout
    result, run = run_module('user_mapping', dict(server=server['name'], user='postgres',
                                                  options=dict(user='pgdist_fdw', password=FDW_PASSWORD)), login)
    assert not result.get('failed'), run.stdout
    coordinator.query("CREATE FOREIGN TABLE items (id int) SERVER %s OPTIONS (table_name 'items')" % server['name'],
                      dbname=DB)
    return server


class Writer(threading.Thread):
    """Inserts one row per transaction through the coordinator, new ids each time; remembers the ids whose
    INSERT returned success with when it began, and the first one begun after a given moment."""

    def __init__(self, coordinator):
        super(Writer, self).__init__(daemon=True)
        self.coordinator = coordinator
        self.acknowledged = []
        self.errors = []
        self.stopping = threading.Event()
        self.next_id = 0

    def run(self):
        conn = self.coordinator.connect(DB)
        while not self.stopping.is_set():
            self.next_id += 1
            # When the INSERT began: a thread starved on a loaded machine would otherwise stamp an insert
            # that finished before the kill with a time after it.
            began = time.time()
            try:
                with conn.cursor() as cursor:
                    cursor.execute('INSERT INTO items (id) VALUES (%s)', (self.next_id,))
                self.acknowledged.append((self.next_id, began))
            except psycopg2.Error as exc:
                self.errors.append((time.time(), str(exc).strip().splitlines()[0]))
                time.sleep(0.2)
            time.sleep(0.02)
        conn.close()

    def first_success_after(self, moment):
        return next((at for row_id, at in self.acknowledged if at > moment), None)


def test_writes_survive_losing_the_primary(ha_shard, coordinator):
    plan, members = ha_shard
    primary, standby = members['s1'], members['s1b']
    server = setup_shard_and_coordinator(plan, primary, coordinator)
    assert (server['options']['host'], server['options']['port'], server['options']['target_session_attrs']) == (
        '127.0.0.1,127.0.0.1', '%d,%d' % (primary.port, standby.port), 'read-write')
    # synchronous_mode: Patroni names the standby in synchronous_standby_names once it streams.
    assert wait_for(lambda: primary.scalar("SELECT string_agg(sync_state, ',') FROM pg_stat_replication") == 'sync',
                    timeout=60), primary.tail()
    writer = Writer(coordinator)
    writer.start()
    try:
        assert wait_for(lambda: len(writer.acknowledged) >= 20, timeout=30), writer.errors[-5:]
        primary.kill()
        # After the kill: an INSERT acknowledged from now on was committed by another primary.
        killed = time.time()
        back = wait_for(lambda: writer.first_success_after(killed), timeout=FAILOVER_LIMIT + 30, interval=0.5)
        assert back is not None, 'no write succeeded after the kill; last errors %s\n%s' % (
            writer.errors[-3:], standby.tail())
        assert back - killed <= FAILOVER_LIMIT, 'writes came back %.1f s after the kill' % (back - killed)
        # The primary was really lost: writes failed in between, and the standby took over.
        assert any(at > killed for at, error in writer.errors)
        # Writes succeed once PostgreSQL is promoted; Patroni reports its new role a moment later.
        assert wait_for(lambda: standby.status().get('role') in ('master', 'primary'), timeout=15), standby.tail()
        print('writes came back %.1f s after the primary was killed' % (back - killed))
        assert wait_for(lambda: len([row_id for row_id, at in writer.acknowledged if at > back]) >= 20, timeout=30)
    finally:
        writer.stopping.set()
        writer.join(timeout=30)
    acknowledged = set(row_id for row_id, at in writer.acknowledged)
    present = set(row for (row,) in coordinator.query('SELECT id FROM items', dbname=DB))
    assert acknowledged - present == set(), 'rows whose INSERT returned success are gone'

    # The old primary comes back as a standby of the new one (pg_rewind, or a new clone) with every row.
    primary.start()
    assert wait_for(lambda: primary.status().get('role') == 'replica' and primary.status().get('state') == 'running',
                    timeout=90), primary.tail()
    assert wait_for(lambda: standby.scalar("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1,
                    timeout=60)
    assert wait_for(lambda: primary.scalar('SELECT count(*) FROM items', dbname=DB) == len(present), timeout=30)
