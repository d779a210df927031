"""The coordinator extension (extension/pgdist) on throw-away clusters.

`install()` builds it with PGXS and installs it into the server the tests
use (as the coordinator role does on a coordinator host). `Distributed`
is a coordinator that preloads it plus shards that allow prepared
transactions, joined by postgres_fdw; every shard can sit behind a
FaultProxy so a test can hold the statements between them.
"""

import os
import subprocess

from support.faultproxy import FaultProxy
from support.pgbench_tables import TPCB_SUMS
from support.pgcluster import PG_BIN, SUPERUSER_PASSWORD, start_cluster

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTENSION_DIR = os.path.join(REPO, 'extension', 'pgdist')
FDW_USER = 'pgdist_fdw'
FDW_PASSWORD = 'Fdw-ext-test-pw-1'


def pg_config():
    """The pg_config of the server the tests run (Debian's postgresql-server-dev puts it beside it)."""
    beside = os.path.join(PG_BIN, 'pg_config')
    return beside if os.path.exists(beside) else 'pg_config'


def install():
    """make install of extension/pgdist against the test server (build output stays in a temp dir)."""
    env = dict(os.environ, PG_CONFIG=pg_config())
    for target in ('all', 'install'):
        subprocess.run(['make', '-s', '-C', EXTENSION_DIR, target], check=True, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    subprocess.run(['make', '-s', '-C', EXTENSION_DIR, 'clean'], check=True, env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


COORDINATOR_SETTINGS = {
    'shared_preload_libraries': "'pgdist'",
    'pgdist.database': "'postgres'",
    'pgdist.deadlock_check_interval': "'500ms'",
    'pgdist.recovery_interval': "'1s'",
    'pgdist.frozen_backend_timeout': "'3s'",
    'pgdist.commit_timeout': "'3s'",
    'client_connection_check_interval': "'1s'",
    'max_prepared_transactions': 20,
    'deadlock_timeout': "'200ms'",
}
SHARD_SETTINGS = {
    'max_prepared_transactions': 50,
    'tcp_keepalives_idle': 5, 'tcp_keepalives_interval': 2, 'tcp_keepalives_count': 3,
}


class Distributed(object):
    """A coordinator with the extension and `shards` shards, each reached through a FaultProxy unless not proxied."""

    def __init__(self, shards=3, coordinator_settings=None, proxied=True):
        self.coordinator = start_cluster('extcoord', settings=dict(COORDINATOR_SETTINGS, **(coordinator_settings or {})))
        self.shards = []
        self.proxies = []
        try:
            for i in range(shards):
                shard = start_cluster('extshard%d' % (i + 1), settings=SHARD_SETTINGS)
                shard.query("CREATE ROLE %s LOGIN PASSWORD '%s'" % (FDW_USER, FDW_PASSWORD))
                shard.query('GRANT CREATE ON SCHEMA public TO %s' % FDW_USER)
                self.shards.append(shard)
                if proxied:
                    self.proxies.append(FaultProxy(shard.port))
            self.coordinator.query('CREATE EXTENSION postgres_fdw; CREATE EXTENSION pgdist')
            for i, shard in enumerate(self.shards):
                port = self.proxies[i].port if proxied else shard.port
                self.coordinator.query(
                    "CREATE SERVER s%d FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d',"
                    " dbname 'postgres', parallel_commit 'true', batch_size '1000', fetch_size '10000')"
                    % (i + 1, port))
                self.coordinator.query("CREATE USER MAPPING FOR postgres SERVER s%d OPTIONS (user '%s', password '%s')"
                                       % (i + 1, FDW_USER, FDW_PASSWORD))
        except Exception:
            self.destroy()
            raise

    def shard_query(self, index, statement, params=None):
        return self.shards[index].query(statement, params)

    def as_fdw_user(self, index, statement):
        conn = self.shards[index].connect(user=FDW_USER, password=FDW_PASSWORD)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def distribute(self, table, columns, key, ranges):
        """A range-partitioned table whose partition i lives on shard i (ranges: [(from, to), ...])."""
        self.coordinator.query('DROP TABLE IF EXISTS %s' % table)
        self.coordinator.query('CREATE TABLE %s (%s) PARTITION BY RANGE (%s)' % (table, columns, key))
        for i, (low, high) in enumerate(ranges):
            part = '%s_s%d' % (table, i + 1)
            self.as_fdw_user(i, 'DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s, PRIMARY KEY (%s))'
                             % (part, part, columns, key))
            self.coordinator.query(
                "CREATE FOREIGN TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s) SERVER s%d"
                " OPTIONS (table_name '%s')" % (part, table, low, high, i + 1, part))

    def prepared(self):
        """Prepared transactions left on the shards, all of them."""
        return [row for shard in self.shards for row in shard.query('SELECT gid FROM pg_prepared_xacts')]

    def stats(self):
        row = self.coordinator.query('SELECT * FROM pgdist.stats()')[0]
        return dict(zip(('one_phase', 'two_phase', 'resolved', 'deadlocks', 'orphans', 'shim'), row))

    def destroy(self):
        for proxy in self.proxies:
            proxy.close()
        for cluster in [self.coordinator] + self.shards:
            cluster.destroy()


def pgbench(coordinator, *args, timeout=300):
    """pgbench against the coordinator; returns the completed process (output in .stdout)."""
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    return subprocess.run([os.path.join(PG_BIN, 'pgbench'), '-h', coordinator.host, '-p', str(coordinator.port),
                           '-U', 'postgres'] + list(args) + ['postgres'],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout, check=False)


PGBENCH_TABLES = {
    'pgbench_branches': ('bid int NOT NULL, bbalance int, filler char(88)', 'bid'),
    'pgbench_tellers': ('tid int NOT NULL, bid int, tbalance int, filler char(84)', 'tid'),
    'pgbench_accounts': ('aid int NOT NULL, bid int, abalance int, filler char(84)', 'aid'),
    'pgbench_history': ('tid int, bid int, aid int NOT NULL, delta int, mtime timestamp, filler char(22)', 'aid'),
}


def distribute_pgbench(dist, scale=1):
    """pgbench's four tables hash-partitioned over every shard, then filled by `pgbench -i -I G`."""
    shards = len(dist.shards)
    for table, (columns, key) in PGBENCH_TABLES.items():
        dist.coordinator.query('DROP TABLE IF EXISTS %s' % table)
        dist.coordinator.query('CREATE TABLE %s (%s) PARTITION BY HASH (%s)' % (table, columns, key))
        for i in range(shards):
            part = '%s_p%d' % (table, i)
            primary = '' if table == 'pgbench_history' else ', PRIMARY KEY (%s)' % key
            dist.as_fdw_user(i, 'DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s%s)' % (part, part, columns, primary))
            dist.coordinator.query(
                "CREATE FOREIGN TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d) SERVER s%d"
                " OPTIONS (table_name '%s')" % (part, table, shards, i, i + 1, part))
    done = pgbench(dist.coordinator, '-i', '-I', 'G', '-s', str(scale))
    assert done.returncode == 0, done.stdout
    dist.coordinator.query('ANALYZE pgbench_branches, pgbench_tellers, pgbench_accounts')


def tpcb_invariant(coordinator):
    """TPC-B's balance invariant: the sums of account, teller and branch balances and of history deltas agree."""
    return coordinator.query(TPCB_SUMS)[0]
