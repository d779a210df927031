"""Throw-away PostgreSQL clusters for tests and benchmarks.

Each cluster is an initdb data directory in a temporary folder, started
with pg_ctl on a free port, listening on 127.0.0.1 and a private unix
socket. The superuser `postgres` has a password and TCP uses scram-sha-256,
as the collection's roles configure it. Tests run as root, so the server
runs as the `postgres` system user.

A cluster runs the major version it is given, else the one of this test run:
PGDIST_PG_VERSION (13 to 18, default 15, Debian's). support/pgbinaries.py
says where each major's binaries come from.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg2

from support.pgbinaries import DEBIAN_BIN, DEBIAN_MAJOR, bin_dir

PG_MAJOR = int(os.environ.get('PGDIST_PG_VERSION') or DEBIAN_MAJOR)
# Debian's 15, with the client and build tools the other packages lack (pg_config and pgbench for tests/extension).
PG_BIN = DEBIAN_BIN
SUPERUSER_PASSWORD = 'Sup3r-secret-pw'
RUN_AS = 'postgres'


# The fixed ports of the inventories and the role tests (pg_createcluster clusters, Patroni, etcd). The kernel
# hands out ports of this range too, so a throw-away cluster started while the role suite runs could take one;
# scripts/test-suites.sh also reserves the range (ip_local_reserved_ports) against client connections.
FIXED_PORTS = range(55400, 55700)


def free_port():
    while True:
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        if port not in FIXED_PORTS:
            return port


def _demote():
    """preexec_fn: run as the postgres system user when we are root."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(RUN_AS)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)


class PgCluster(object):
    def __init__(self, name, base_dir=None, settings=None, major=None):
        self.name = name
        self.major = int(major or PG_MAJOR)
        self.bin = bin_dir(self.major)
        self.base = tempfile.mkdtemp(prefix='pgdist-%s-' % name, dir=base_dir)
        self.datadir = os.path.join(self.base, 'data')
        self.socket_dir = os.path.join(self.base, 'run')
        self.logfile = os.path.join(self.base, 'server.log')
        self.port = free_port()
        self.host = '127.0.0.1'
        self.settings = settings or {}
        os.makedirs(self.socket_dir)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(RUN_AS)
            for path in (self.base, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base, 0o755)

    def _run(self, *args):
        done = subprocess.run(args, check=False, preexec_fn=_demote, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if done.returncode != 0:
            log = ''
            if os.path.exists(self.logfile):
                with open(self.logfile) as handle:
                    log = handle.read()[-3000:]
            raise RuntimeError('%s failed (PostgreSQL %d, %s):\n%s%s' % (
                os.path.basename(args[0]), self.major, self.name, done.stdout[-3000:], log))

    def init(self):
        pwfile = os.path.join(self.base, 'pw')
        with open(pwfile, 'w') as handle:
            handle.write(SUPERUSER_PASSWORD + '\n')
        if os.geteuid() == 0:
            entry = pwd.getpwnam(RUN_AS)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(os.path.join(self.bin, 'initdb'), '-D', self.datadir, '-U', 'postgres', '--pwfile', pwfile,
                  '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8')
        os.unlink(pwfile)
        conf = dict(
            port=self.port, listen_addresses="'127.0.0.1'", unix_socket_directories="'%s'" % self.socket_dir,
            password_encryption="'scram-sha-256'", fsync='off', synchronous_commit='off',
            full_page_writes='off', max_connections=50, shared_buffers="'64MB'",
            wal_level='logical', max_wal_senders=10, max_replication_slots=10,
        )
        conf.update(self.settings)
        with open(os.path.join(self.datadir, 'postgresql.auto.conf'), 'a') as handle:
            for key, value in conf.items():
                handle.write('%s = %s\n' % (key, value))
        return self

    def start(self):
        self._run(os.path.join(self.bin, 'pg_ctl'), '-D', self.datadir, '-l', self.logfile, '-w', '-t', '60', 'start')
        return self

    def running(self):
        return os.path.exists(os.path.join(self.datadir, 'postmaster.pid'))

    def stop(self, mode='fast'):
        if os.path.exists(os.path.join(self.datadir, 'postmaster.pid')):
            self._run(os.path.join(self.bin, 'pg_ctl'), '-D', self.datadir, '-m', mode, '-w', 'stop')

    def destroy(self):
        try:
            self.stop('immediate')
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def connect(self, dbname='postgres', user='postgres', password=SUPERUSER_PASSWORD, autocommit=True):
        conn = psycopg2.connect(host=self.host, port=self.port, dbname=dbname, user=user, password=password,
                                connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def query(self, statement, params=None, dbname='postgres'):
        """Run one statement as superuser; return all rows (or [] for none)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def scalar(self, statement, params=None, dbname='postgres'):
        rows = self.query(statement, params, dbname)
        return rows[0][0] if rows else None

    def version(self):
        """major.minor as the modules print it (13.23), from server_version_num."""
        number = int(self.scalar('SHOW server_version_num'))
        return '%d.%d' % (number // 10000, number % 10000)

    @property
    def login(self):
        """Connection options for our modules, as a task would pass them."""
        return dict(login_host=self.host, login_port=self.port, login_user='postgres',
                    login_password=SUPERUSER_PASSWORD)


def start_cluster(name, base_dir=None, settings=None, major=None):
    return PgCluster(name, base_dir, settings, major).init().start()


def wait_for(predicate, timeout=30.0, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
