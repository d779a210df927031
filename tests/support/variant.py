"""A private copy of inventories/local for role tests that break things on purpose (TLS, faults,
bad input): same tables and group_vars, its own pg_createcluster clusters and ports, so these tests
never disturb inventories/local (make demo, test_local_inventory) or another test module.

    variant = Variant('tls', 55462)      # clusters pgdist_tls_coordinator, pgdist_tls_shard1, ..._shard2
    variant.deploy()                     # site.yml; asserts success
    variant.psql('shard1', 'SELECT 1')
    variant.add_host('shard3', 'shards', 55465, '127.0.0.4')   # one more cluster in the inventory
    variant.drop()                       # pg_dropcluster --stop each one
"""

import os
import shutil
import tempfile

import yaml

from support.ansible import REPO
from support.deployment import Deployment

LOCAL = os.path.join(REPO, 'inventories', 'local')
FDW_USER = 'pgdist_fdw'
# The coordinator must be 127.0.0.1: loopback connections leave from there, the shards admit it only.
ADDRESSES = {'coordinator1': '127.0.0.1', 'shard1': '127.0.0.2', 'shard2': '127.0.0.3'}


def _write_inventory(directory, name, first_port):
    hosts = {}
    for index, host in enumerate(['coordinator1', 'shard1', 'shard2']):
        hosts[host] = dict(pgdist_cluster_name='pgdist_%s_%s' % (name, host.rstrip('1') if index == 0 else host),
                           pgdist_port=first_port + index, pgdist_address=ADDRESSES[host])
    groups = {'coordinator': ['coordinator1'], 'shards': ['shard1', 'shard2']}
    inventory = {'all': {'children': dict(
        (group, {'hosts': dict((host, hosts[host]) for host in members)}) for group, members in groups.items())}}
    path = os.path.join(directory, 'hosts.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


class Variant(Deployment):
    def __init__(self, name, first_port, group_vars=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix='pgdist-%s-inventory-' % name)
        super(Variant, self).__init__(_write_inventory(self.dir, name, first_port))
        os.makedirs(os.path.join(self.dir, 'group_vars'))
        with open(os.path.join(LOCAL, 'group_vars', 'all.yml')) as handle:
            self.group_vars = yaml.safe_load(handle)
        self.group_vars.update(group_vars or {})
        self.write_group_vars()
        self.fdw_password = self.group_vars['pgdist_fdw_password']
        # A run killed before its fixture's teardown leaves its clusters behind: start from none.
        super(Variant, self).drop()

    def add_host(self, host, group, port, address, **variables):
        """Put one more host (its own cluster pgdist_<name>_<host>) into group of the inventory."""
        with open(self.inventory) as handle:
            inventory = yaml.safe_load(handle)
        children = inventory['all']['children']
        entry = dict(pgdist_cluster_name='pgdist_%s_%s' % (self.name, host), pgdist_port=port, pgdist_address=address)
        entry.update(variables)
        children.setdefault(group, {}).setdefault('hosts', {})[host] = entry
        with open(self.inventory, 'w') as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        self.hosts[host] = entry
        self.drop_cluster(host)

    def update_host(self, host, **variables):
        """Change host variables of one host in the inventory file."""
        with open(self.inventory) as handle:
            inventory = yaml.safe_load(handle)
        for group in inventory['all']['children'].values():
            if host in (group.get('hosts') or {}):
                group['hosts'][host].update(variables)
        with open(self.inventory, 'w') as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        self.hosts[host].update(variables)

    def remove_host(self, host):
        """Take host out of the inventory and drop its cluster."""
        with open(self.inventory) as handle:
            inventory = yaml.safe_load(handle)
        for group in inventory['all']['children'].values():
            (group.get('hosts') or {}).pop(host, None)
        with open(self.inventory, 'w') as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        self.drop_cluster(host)
        del self.hosts[host]

    def write_group_vars(self):
        with open(os.path.join(self.dir, 'group_vars', 'all.yml'), 'w') as handle:
            yaml.safe_dump(self.group_vars, handle, sort_keys=False)

    def drop(self):
        super(Variant, self).drop()
        shutil.rmtree(self.dir, ignore_errors=True)
