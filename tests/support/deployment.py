"""An inventory of pg_createcluster clusters on this machine, deployed and inspected as role tests do.

    local = Deployment(os.path.join(REPO, 'inventories', 'local', 'hosts.yml'))
    run = local.deploy(check=True)          # site.yml; asserts success
    local.changed(run)                      # {host: changed count}
    local.psql('shard1', 'SELECT 1')        # as the postgres system user, over the host's socket

Hosts, ports, addresses and cluster names are read from the inventory file itself.
"""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess

import yaml

from support.ansible import REPO, run_playbook
from support.snapshot import CLUSTER_QUERIES, DATABASE_QUERIES

SITE = os.path.join(REPO, 'site.yml')


def inventory_hosts(path):
    """{host: its variables} for every host of a YAML inventory file, in file order."""
    with open(path) as handle:
        inventory = yaml.safe_load(handle)
    hosts = {}

    def walk(group):
        for name, variables in (group.get('hosts') or {}).items():
            hosts.setdefault(name, dict(variables or {}))
        for child in (group.get('children') or {}).values():
            walk(child or {})

    walk(inventory['all'])
    return hosts


class Deployment(object):
    def __init__(self, inventory, dbname='library'):
        self.inventory = inventory
        self.dbname = dbname
        self.hosts = inventory_hosts(inventory)

    def port(self, host):
        return self.hosts[host]['pgdist_port']

    def address(self, host):
        return self.hosts[host]['pgdist_address']

    def cluster(self, host):
        return self.hosts[host]['pgdist_cluster_name']

    def config_dir(self, host):
        return '/etc/postgresql/15/%s' % self.cluster(host)

    def run(self, **kwargs):
        return run_playbook(SITE, inventory=self.inventory, **kwargs)

    def deploy(self, **kwargs):
        run = self.run(**kwargs)
        assert run.ok, run.report('site.yml')
        return run

    @staticmethod
    def placement_reads(run):
        """(host, db) of every cluster_info task of a run that read the tables (the current placement)."""
        return [(host, result['invocation']['module_args']['db'])
                for play in run.data['plays'] for task in play['tasks'] for host, result in task['hosts'].items()
                if 'tables' in ((result.get('invocation') or {}).get('module_args') or {}).get('gather', [])]

    @staticmethod
    def psql_tasks(run):
        """Names of the command tasks of a run that ran psql."""
        return [task['task']['name'] for play in run.data['plays'] for task in play['tasks']
                if any(str((result.get('cmd') or [''])[0]) == 'psql' for result in task['hosts'].values())]

    def changed(self, run):
        return dict((host, run.changed(host)) for host in self.hosts)

    def psql(self, host, sql, dbname=None, check=True, pgoptions=None):
        """SQL as the postgres system user over the host's unix socket; unaligned rows (or the
        CompletedProcess with check=False)."""
        env = dict(os.environ, PGOPTIONS=pgoptions) if pgoptions else None
        out = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                              '-p', str(self.port(host)), '-d', dbname or self.dbname, '-c', sql],
                             check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if not check:
            return out
        if out.returncode != 0:
            raise AssertionError('psql on %s failed: %s' % (host, out.stderr))
        return out.stdout.strip()

    def rows(self, host, sql):
        """psql's rows as lists of their fields."""
        return [line.split('|') for line in self.psql(host, sql).splitlines()]

    def fresh(self):
        """A module fixture's body: the inventory deployed on clusters made for it, dropped again afterwards."""
        self.drop()
        yield self.deploy()
        self.drop()

    def state(self, hosts=None):
        """What a run that must change nothing leaves as it was, per host: catalog snapshots (roles with their
        verifiers, databases, extensions, servers, mappings, relations), the checksums of the files the server
        role writes, and when PostgreSQL last loaded its configuration and started (no reload, no restart)."""
        out = {}
        for host in hosts or self.hosts:
            for name, sql in CLUSTER_QUERIES.items():
                out[host, name] = self.psql(host, sql, 'postgres')
            for name, sql in DATABASE_QUERIES.items():
                out[host, self.dbname, name] = self.psql(host, sql, self.dbname)
            out[host, 'loaded'] = self.psql(host, 'SELECT pg_conf_load_time(), pg_postmaster_start_time()', 'postgres')
            for name in ('conf.d/50-pgdist.conf', 'pg_hba.conf'):
                with open(os.path.join(self.config_dir(host), name), 'rb') as handle:
                    out[host, name] = hashlib.sha256(handle.read()).hexdigest()
        return out

    def ctl(self, host, action):
        subprocess.run(['pg_ctlcluster', '15', self.cluster(host), action], check=True)

    def drop(self):
        """Stop and remove every cluster of the inventory (those that exist), with what pg_dropcluster leaves in
        their configuration directory (the server role's pg_hba.conf backups)."""
        for host in self.hosts:
            self.drop_cluster(host)

    def drop_cluster(self, host):
        stop_exporter(self.cluster(host))
        subprocess.run(['pg_dropcluster', '--stop', '15', self.cluster(host)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.config_dir(host), ignore_errors=True)


def stop_exporter(cluster):
    """Stop the cluster's prometheus-postgres-exporter (pgdist.cluster.monitoring, started without systemd here)
    and remove its files, if it has one."""
    pidfile = '/run/pgdist-exporter-%s.pid' % cluster
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            if b'prometheus-postgres-exporter' in handle.read():
                os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    for path in (pidfile, '/var/log/prometheus/pgdist-exporter-%s.log' % cluster):
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree('/etc/pgdist/exporter/%s' % cluster, ignore_errors=True)


def startup_reply(source, host, port, user, database, tls=False):
    """Send a protocol startup message from source (over TLS, the certificate not checked, with tls); return
    'auth <code>' (10: SCRAM) or the server's error text. libpq cannot choose its source address."""
    with socket.socket() as plain:
        plain.settimeout(10)
        plain.bind((source, 0))
        plain.connect((host, port))
        sock = plain
        if tls:
            plain.sendall(struct.pack('!ii', 8, 80877103))
            assert plain.recv(1) == b'S', 'the server refused TLS'
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(plain)
        params = b''.join(part.encode() + b'\0' for part in ('user', user, 'database', database)) + b'\0'
        sock.sendall(struct.pack('!ii', len(params) + 8, 196608) + params)
        kind = sock.recv(1)
        length = struct.unpack('!i', sock.recv(4))[0]
        body = b''
        while len(body) < length - 4:
            body += sock.recv(length - 4 - len(body))
    if kind == b'R':
        return 'auth %d' % struct.unpack('!i', body[:4])[0]
    return body.decode(errors='replace')
