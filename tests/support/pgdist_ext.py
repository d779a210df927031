"""The coordinator extension (extension/pgdist) on throw-away clusters.

`install()` builds it with PGXS and installs it into the server the tests
use (as the coordinator role does on a coordinator host). `Distributed`
is a coordinator that preloads it plus shards that allow prepared
transactions, joined by postgres_fdw; every shard can sit behind a
FaultProxy so a test can hold the statements between them.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from support.ansible import collections_path
from support.faultproxy import FaultProxy
from support.pgbench_tables import TPCB_SUMS, pgbench_tables
from support.pgbinaries import DEBIAN_MAJOR, bin_dir
from support.pgcluster import PG_BIN, PG_MAJOR, SUPERUSER_PASSWORD, start_cluster
from support.pgheaders import pg_config

sys.path.insert(0, collections_path())
from ansible_collections.pgdist.cluster.plugins.module_utils import transactions, versions  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTENSION_DIR = os.path.join(REPO, 'extension', 'pgdist')
FDW_USER = 'pgdist_fdw'
FDW_PASSWORD = 'Fdw-ext-test-pw-1'


def make_arguments(major=PG_MAJOR):
    """make's variables to build and install extension/pgdist for the test server of `major`, with that major's
    headers and PGXS (tests/support/pgheaders.py says where each comes from)."""
    major = int(major)
    arguments = ['PG_CONFIG=' + pg_config(major)]
    if major == DEBIAN_MAJOR:
        return arguments
    native = os.path.dirname(bin_dir(major))
    return arguments + [
        'pkglibdir=' + os.path.join(native, 'lib', 'postgresql'),
        'datadir=' + os.path.join(native, 'share', 'postgresql'),
        # The npm server's libpq, beside it, as postgres_fdw finds its own ($$ is make's $; Debian's PGXS
        # leaves the rpath out unless asked).
        'enable_rpath=yes', 'rpathdir=$$ORIGIN/..',
        # No JIT bitcode: it would need the clang the headers were built with.
        'with_llvm=no']


def install(major=PG_MAJOR):
    """make install of extension/pgdist against the test server, built in a copy (the role tests deploy the
    source folder: build output there would be a change to them). A compiler warning fails it: the extension
    builds cleanly on every major it is tested on."""
    arguments = make_arguments(major)
    with tempfile.TemporaryDirectory(prefix='pgdist-ext-build-') as build:
        source = os.path.join(build, 'pgdist')
        shutil.copytree(EXTENSION_DIR, source)
        for target in ('all', 'install'):
            done = subprocess.run(['make', '-s', '-C', source, target] + arguments, check=False,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if done.returncode != 0 or 'warning:' in done.stdout:
                raise RuntimeError('make %s of extension/pgdist for PostgreSQL %d %s:\n%s' % (
                    target, major, 'failed' if done.returncode else 'warned', done.stdout[-4000:]))


COORDINATOR_SETTINGS = {
    'shared_preload_libraries': "'pgdist'",
    'pgdist.database': "'postgres'",
    'pgdist.deadlock_check_interval': "'500ms'",
    'pgdist.recovery_interval': "'1s'",
    'pgdist.frozen_backend_timeout': "'3s'",
    'pgdist.commit_timeout': "'3s'",
    'client_connection_check_interval': "'1s'",     # 14+: left out on 13, as the roles do
    'max_prepared_transactions': 20,
    'deadlock_timeout': "'200ms'",
}
SHARD_SETTINGS = {
    'max_prepared_transactions': 50,
    'tcp_keepalives_idle': 5, 'tcp_keepalives_interval': 2, 'tcp_keepalives_count': 3,
}
# postgres_fdw's batches and fetches of the foreign servers, beside the options the roles give them.
FETCH_OPTIONS = dict(batch_size='1000', fetch_size='10000')


def server_options(major):
    """The foreign servers' options: the roles' (keepalives, parallel commit on 15+ and abort on 16+) and
    FETCH_OPTIONS, each where the major's postgres_fdw has it (batch_size: 14+)."""
    first = versions.POSTGRES_FDW_OPTIONS['pg_catalog.pg_foreign_server']
    options = dict(transactions.foreign_server_options(dict(keepalives=None), major), **FETCH_OPTIONS)
    return dict((name, value) for name, value in options.items() if first.get(name, 0) <= major)


class Distributed(object):
    """A coordinator with the extension and `shards` shards, each reached through a FaultProxy unless not proxied."""

    def __init__(self, shards=3, coordinator_settings=None, proxied=True):
        settings = dict(COORDINATOR_SETTINGS, **(coordinator_settings or {}))
        if PG_MAJOR < 14:
            del settings['client_connection_check_interval']
        self.coordinator = start_cluster('extcoord', settings=settings)
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
            options = ''.join(", %s '%s'" % option for option in sorted(server_options(PG_MAJOR).items()))
            for i, shard in enumerate(self.shards):
                port = self.proxies[i].port if proxied else shard.port
                self.coordinator.query(
                    "CREATE SERVER s%d FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d',"
                    " dbname 'postgres'%s)" % (i + 1, port, options))
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


def pgbench(coordinator, *args, timeout=300, env=None):
    """pgbench against the coordinator (env: more environment variables); returns the completed process (output
    in .stdout)."""
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD, **(env or {}))
    return subprocess.run([os.path.join(PG_BIN, 'pgbench'), '-h', coordinator.host, '-p', str(coordinator.port),
                           '-U', 'postgres'] + list(args) + ['postgres'],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout, check=False)


# What `pgbench -i -I G` inserts, without its TRUNCATE first (foreign tables are truncated from 14 on only).
PGBENCH_ROWS = ("INSERT INTO pgbench_branches (bid, bbalance) SELECT bid, 0 FROM generate_series(1, %(scale)d) bid;"
                " INSERT INTO pgbench_tellers (tid, bid, tbalance) SELECT tid, (tid - 1) / 10 + 1, 0"
                " FROM generate_series(1, 10 * %(scale)d) tid;"
                " INSERT INTO pgbench_accounts (aid, bid, abalance, filler) SELECT aid, (aid - 1) / 100000 + 1, 0, ''"
                " FROM generate_series(1, 100000 * %(scale)d) aid")


def distribute_pgbench(dist, scale=1):
    """pgbench's four tables (as the roles distribute them) hash-partitioned over every shard, then filled with
    pgbench's rows for `scale`."""
    shards = len(dist.shards)
    for spec in pgbench_tables(shards):
        table, key = spec['name'], spec['partition_by']['key']
        columns = ', '.join('%s %s%s' % (column['name'], column['type'], ' NOT NULL' if column['name'] == key else '')
                            for column in spec['columns'])
        primary = ', PRIMARY KEY (%s)' % key if spec.get('primary_key') else ''
        dist.coordinator.query('DROP TABLE IF EXISTS %s' % table)
        dist.coordinator.query('CREATE TABLE %s (%s) PARTITION BY HASH (%s)' % (table, columns, key))
        for i in range(shards):
            part = '%s_p%d' % (table, i)
            dist.as_fdw_user(i, 'DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s%s)' % (part, part, columns, primary))
            dist.coordinator.query(
                "CREATE FOREIGN TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d) SERVER s%d"
                " OPTIONS (table_name '%s')" % (part, table, shards, i, i + 1, part))
    dist.coordinator.query(PGBENCH_ROWS % dict(scale=scale))
    dist.coordinator.query('ANALYZE pgbench_branches, pgbench_tellers, pgbench_accounts')


def tpcb_invariant(coordinator):
    """TPC-B's balance invariant: the sums of account, teller and branch balances and of history deltas agree."""
    return coordinator.query(TPCB_SUMS)[0]
