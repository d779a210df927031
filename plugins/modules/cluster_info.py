#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: cluster_info
short_description: Report the state of a pgdist cluster node (read only)
version_added: 1.0.0
description:
  - Reads, from one PostgreSQL node (usually the coordinator), its foreign servers and user mappings,
    its partitioned tables and inheritance parents with every partition or child, row counts per partition,
    the reachability and round-trip time of every foreign server, publications, subscriptions,
    replication slots and walsenders, and the settings the roles manage with their C(pending_restart).
  - Never changes anything and always returns C(changed=false); safe in check mode.
  - When the database named by O(db) does not exist, the module reads C(template1) instead (what a new database
    would hold) and names the database in RV(missing_parents), rather than failing.
  - Secrets are removed, not masked. User mapping passwords are left out (RV(user_mappings[].has_password)
    says whether one is set) and subscription conninfo strings are returned without C(password).
  - Reachability is tested from the node itself, through C(postgres_fdw) and the node's own user mapping, so
    it checks the path the coordinator uses. For each C(postgres_fdw) server the module opens a savepoint,
    sets C(connect_timeout) on the server to O(probe_timeout) (when the login role owns the server or is
    superuser), creates a temporary foreign table on the remote C(pg_catalog.pg_settings), reads
    C(server_version) through it, times three more round trips, and rolls the savepoint back. Nothing is left
    behind and no other session sees the temporary change. A server that refuses, times out or rejects the
    mapping is reported with C(reachable=false) and the reason; the module does not fail.
options:
  gather:
    description: Sections to read.
    type: list
    elements: str
    choices: [foreign_servers, tables, replication, settings, transactions, archiver]
    default: [foreign_servers, tables, replication, settings, transactions, archiver]
  row_counts:
    description:
      - C(exact) runs C(SELECT count(*)) on every leaf partition (through the foreign server for foreign ones;
        C(postgres_fdw) pushes the count down). Partitions on an unreachable server get no count and a
        C(rows_error).
      - C(estimated) reads C(reltuples) of local partitions, and of the shards' own tables through the probe
        for foreign ones (with O(probe=false), the coordinator's own statistics of the foreign table, which
        only C(ANALYZE) on the coordinator fills); never analyzed tables have no estimate.
      - C(none) skips counting.
    type: str
    choices: [exact, estimated, none]
    default: none
  probe:
    description: Whether to probe every C(postgres_fdw) server for reachability and round-trip time.
    type: bool
    default: true
  probe_timeout:
    description: Seconds allowed to connect to each foreign server during the probe (the statement limit is twice that).
    type: int
    default: 3
  relations:
    description:
      - Qualified names (C(schema.name), or C(name) in C(public)) of tables, views or foreign tables to look for;
        RV(relations) says which exist. The shard role asks for the tables behind the coordinator's foreign
        partitions before creating any.
    type: list
    elements: str
  lock_wait_min:
    description: With the coordinator extension, the lock waits across nodes reported are those at least this many seconds old.
    type: int
    default: 5
  tables:
    description:
      - Only report these partitioned tables or inheritance parents (C(name) or C(schema.name)).
        Default is every one in the database.
    type: list
    elements: str
  settings:
    description:
      - Settings to report. Default is the list the collection's roles manage (C(node_plan.MANAGED_SETTINGS))
        and a few that size the node (C(max_connections), C(shared_buffers), C(work_mem), ...).
    type: list
    elements: str
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes.info_module
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: Read the coordinator's view of the cluster, with exact row counts
  pgdist.cluster.cluster_info:
    db: library
    row_counts: exact
  register: info

- name: Fail when a shard is down
  ansible.builtin.assert:
    that: info.unreachable_servers | length == 0
    fail_msg: "unreachable shards: {{ info.unreachable_servers | join(', ') }}"
'''

RETURN = r'''
instance:
  description: Version, recovery state, database and user of the node read.
  returned: always
  type: dict
foreign_servers:
  description:
    - Foreign servers by name with C(fdw), C(owner), C(options) (secret options removed), and the probe's
      C(reachable), C(connect_ms), C(rtt_ms) (best of three round trips of a tiny query through postgres_fdw),
      C(remote_version) and C(probe_error).
  returned: when gather has foreign_servers
  type: dict
unreachable_servers:
  description: Names of the foreign servers the probe could not reach.
  returned: when gather has foreign_servers
  type: list
  elements: str
user_mappings:
  description: Each mapping's C(server), C(user), C(options) without the password, and C(has_password).
  returned: when gather has foreign_servers
  type: list
  elements: dict
  contains:
    server:
      description: Foreign server of the mapping.
      type: str
    user:
      description: Local role of the mapping (C(public) for PUBLIC).
      type: str
    options:
      description: Mapping options with the password left out.
      type: dict
    has_password:
      description: Whether the mapping carries a password.
      type: bool
tables:
  description:
    - Partitioned tables and inheritance parents by qualified name, with C(method) (declarative or
      inheritance), C(partition_key), C(triggers), C(partition_count), C(rows), C(rows_by_location) (server
      name or C(local) to rows) and C(partitions).
    - Each partition has C(name), C(schema), C(parent), C(level), C(kind) (local, foreign or partitioned),
      C(bound) (C(pg_get_expr(relpartbound))), C(checks) (CHECK constraints of inheritance children),
      C(server), C(remote_table), C(rows) and C(rows_error).
  returned: when gather has tables
  type: dict
publications:
  description: Publications by name with their operations and tables.
  returned: when gather has replication
  type: dict
subscriptions:
  description:
    - Subscriptions of this database by name; C(conninfo) has its password removed; worker LSNs,
      C(seconds_since_last_report) and C(table_states) show the apply state. C(streaming) is V(on),
      V(off) or V(parallel) on every version; C(binary) and C(streaming) read as false and V(off) on
      PostgreSQL 13, C(disable_on_error) as false on 13 and 14, which lack those options.
  returned: when gather has replication
  type: dict
replication_slots:
  description: Slots by name with C(active), C(wal_status), C(retained_wal_bytes) and C(lag_bytes).
  returned: when gather has replication
  type: dict
replication_senders:
  description: C(pg_stat_replication) rows with lag in bytes and seconds.
  returned: when gather has replication
  type: list
  elements: dict
settings:
  description:
    - Settings by name with C(value), C(setting), C(unit), C(source), C(sourcefile) and C(sourceline) (the file
      and line that set it; null unless the login role is superuser or member of C(pg_read_all_settings)),
      C(context) and C(pending_restart).
  returned: when gather has settings
  type: dict
file_settings:
  description:
    - Every entry of the configuration files (C(pg_file_settings)) in the order PostgreSQL reads them, with
      C(seqno), C(sourcefile), C(sourceline), C(name), C(setting), C(applied) (true for the entry that wins)
      and C(error). Null when the login role may not read them (superusers can).
    - Shows which source wins for each setting, for example C(postgresql.auto.conf) (C(ALTER SYSTEM)) over a
      C(conf.d) include.
  returned: when gather has settings
  type: list
  elements: dict
prepared_transactions:
  description:
    - This node's prepared transactions (every database), oldest first. On a shard, those of the coordinator
      (C(gid) C(pgdist_...)) are its two-phase commits between prepare and commit; one that stays is in doubt
      until the coordinator's recovery finishes it.
  returned: when gather has transactions
  type: list
  elements: dict
  contains:
    gid: {description: Global transaction identifier., type: str}
    database: {description: Database of the transaction., type: str}
    owner: {description: Role that prepared it., type: str}
    prepared: {description: When it was prepared., type: str}
    age_seconds: {description: Seconds since then., type: float}
pgdist:
  description:
    - Null without the coordinator extension in this database. Otherwise C(stats) (C(one_phase_commits),
      C(two_phase_commits), C(prepared_resolved), C(deadlocks_broken), C(orphans_terminated), and the router's
      C(routed_statements) and C(fallback_statements), C(lone_reads) (a read's remote transaction in one message),
      C(lone_retries), C(folded_commands) and C(remote_messages) (messages sent to the shards), since the start),
      C(in_doubt) (the coordinator's prepared transactions on every node with C(server), C(gid), C(prepared),
      C(age_seconds), C(owner) and C(coordinator_outcome), what recovery will do with it), C(lock_waits)
      (coordinator backends waiting at least O(lock_wait_min) seconds for a lock, on this node or a shard, with
      C(waiting_pid), C(blocked_by), C(location) naming the node and table, C(waited_seconds)) and C(errors)
      (a shard that could not be asked).
  returned: when gather has transactions
  type: dict
archiver:
  description:
    - WAL archiving of the node (C(pg_stat_archiver)) with C(archive_mode), C(archived_count),
      C(last_archived_wal), C(last_archived_time), C(last_archived_age_seconds), C(failed_count),
      C(last_failed_wal), C(last_failed_time), and C(failing) (the last attempt failed).
  returned: when gather has archiver
  type: dict
relations:
  description: Each name of O(relations) (schema-qualified) with whether it exists.
  returned: when O(relations) is given
  type: dict
hba_file:
  description:
    - C(path) of pg_hba.conf and its C(first_line), where tools that write the whole file mark it (the server
      role writes C(# Managed by Ansible (pgdist.cluster.server)) there); C(first_line) is null unless the login
      role may read server files (superusers can).
  returned: when gather has settings
  type: dict
missing_parents:
  description:
    - The database named by O(db) when it does not exist (C(database <name>)). The module then reads
      C(template1), which a new database copies, so it reports what a new database would hold.
  returned: when the database does not exist
  type: list
  elements: str
pending_restart:
  description: Names of settings changed in the configuration that need a restart to apply.
  returned: when gather has settings
  type: list
  elements: str
queries:
  description: Always empty; the module runs no statement that changes anything.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.cluster_info import cluster_info
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    gather=dict(type='list', elements='str',
                choices=['foreign_servers', 'tables', 'replication', 'settings', 'transactions', 'archiver'],
                default=['foreign_servers', 'tables', 'replication', 'settings', 'transactions', 'archiver']),
    row_counts=dict(type='str', choices=['exact', 'estimated', 'none'], default='none'),
    probe=dict(type='bool', default=True),
    probe_timeout=dict(type='int', default=3),
    tables=dict(type='list', elements='str'),
    relations=dict(type='list', elements='str'),
    settings=dict(type='list', elements='str'),
    lock_wait_min=dict(type='int', default=5),
)


def main():
    run_module(ARGUMENT_SPEC, cluster_info, reads_only=True)


if __name__ == '__main__':
    main()
