"""A private copy of inventories/local for role tests that break things on purpose (TLS, faults,
bad input): same tables and group_vars, its own pg_createcluster clusters and ports, so these tests
never disturb inventories/local (make demo, test_local_inventory) or another test module.

    variant = Variant('tls', 55462)      # clusters pgdist_tls_coordinator, pgdist_tls_shard1, ..._shard2
    variant.deploy()                     # site.yml; asserts success
    variant.psql('shard1', 'SELECT 1')
    variant.drop()                       # pg_dropcluster --stop each one
"""

import os
import shutil
import subprocess
import tempfile

import yaml

from support.ansible import REPO, run_playbook

SITE = os.path.join(REPO, 'site.yml')
LOCAL = os.path.join(REPO, 'inventories', 'local')
FDW_USER = 'pgdist_fdw'
# The coordinator must be 127.0.0.1: loopback connections leave from there, the shards admit it only.
ADDRESSES = {'coordinator1': '127.0.0.1', 'shard1': '127.0.0.2', 'shard2': '127.0.0.3'}


class Variant(object):
    def __init__(self, name, first_port, group_vars=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix='pgdist-%s-inventory-' % name)
        self.hosts = {}
        groups = {'coordinator': ['coordinator1'], 'shards': ['shard1', 'shard2']}
        for index, host in enumerate(['coordinator1', 'shard1', 'shard2']):
            self.hosts[host] = dict(pgdist_cluster_name='pgdist_%s_%s' % (name, host.rstrip('1') if index == 0 else host),
                                    pgdist_port=first_port + index, pgdist_address=ADDRESSES[host])
        inventory = {'all': {'children': dict(
            (group, {'hosts': dict((host, self.hosts[host]) for host in members)}) for group, members in groups.items())}}
        self.inventory = os.path.join(self.dir, 'hosts.yml')
        with open(self.inventory, 'w') as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        os.makedirs(os.path.join(self.dir, 'group_vars'))
        with open(os.path.join(LOCAL, 'group_vars', 'all.yml')) as handle:
            self.group_vars = yaml.safe_load(handle)
        self.group_vars.update(group_vars or {})
        self.write_group_vars()
        self.fdw_password = self.group_vars['pgdist_fdw_password']

    def write_group_vars(self):
        with open(os.path.join(self.dir, 'group_vars', 'all.yml'), 'w') as handle:
            yaml.safe_dump(self.group_vars, handle, sort_keys=False)

    def port(self, host):
        return self.hosts[host]['pgdist_port']

    def address(self, host):
        return self.hosts[host]['pgdist_address']

    def cluster(self, host):
        return self.hosts[host]['pgdist_cluster_name']

    def run(self, **kwargs):
        return run_playbook(SITE, inventory=self.inventory, **kwargs)

    def deploy(self, **kwargs):
        run = self.run(**kwargs)
        assert run.ok, 'site.yml failed:\n%s\n%s' % (run.stdout[-6000:], run.stderr[-3000:])
        return run

    def changed(self, run):
        return dict((host, run.changed(host)) for host in self.hosts)

    def psql(self, host, sql, dbname='library', check=True):
        """SQL as the postgres system user over the host's unix socket; unaligned rows."""
        out = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                              '-p', str(self.port(host)), '-d', dbname, '-c', sql],
                             check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and out.returncode != 0:
            raise AssertionError('psql on %s failed: %s' % (host, out.stderr))
        return out if not check else out.stdout.strip()

    def ctl(self, host, action):
        subprocess.run(['pg_ctlcluster', '15', self.cluster(host), action], check=True)

    def config_dir(self, host):
        return '/etc/postgresql/15/%s' % self.cluster(host)

    def drop(self):
        for host in self.hosts:
            subprocess.run(['pg_dropcluster', '--stop', '15', self.cluster(host)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
