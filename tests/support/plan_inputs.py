"""The inputs of node_plan.build_plan as the plan role collects them, from its defaults
(roles/plan/defaults/main.yml): one host's pgdist_plan_host, for the unit tests of the plan and the tests that
start what a plan says on this machine."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, 'roles', 'plan', 'defaults', 'main.yml')) as _handle:
    DEFAULTS = yaml.safe_load(_handle)
# Host variables the plan role takes as they are from pgdist_<name>.
DEFAULTED = ('password_encryption', 'partition_pruning', 'ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file',
             'coordinator_settings', 'shard_settings', 'replication_enabled', 'max_wal_senders', 'max_replication_slots',
             'postgresql_settings', 'hba_rules', 'hba_whole_file', 'subscriptions')


def host_facts(host, address, port, **extra):
    """The plan role's pgdist_plan_host for one host, from the role defaults."""
    out = dict(postgresql_version=15, cluster_name='pgdist_' + host, port=port, address=address,
               listen_addresses=address, unix_socket_directory='/var/run/postgresql', postgres_user='postgres',
               foreign_server_name=None, replica_of=None, replication_synchronous=False,
               replication_source_address=None)
    for key in DEFAULTED:
        out[key] = DEFAULTS['pgdist_' + key]
    out['max_slot_wal_keep_size'] = DEFAULTS['pgdist_replication_max_slot_wal_keep_size']
    out.update(extra)
    return out
