#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: partition_move
short_description: Move one foreign partition to another shard while its table stays readable and writable
version_added: 1.0.0
description:
  - Runs on the coordinator. Moves the foreign partition O(name) of a declaratively partitioned table from the shard
    it points at to the shard of the foreign server O(to_server), by logical replication, with a short pause of the
    writes to the table (measured; well under a second here) and reads going on but for the final milliseconds.
  - "A move is a sequence of steps, each run on the host it concerns and each visible in that host's catalogs, so a
    run that was interrupted resumes on the next one: (1) on the target shard the shard table, with
    M(pgdist.cluster.partitioned_table) O(ignore:side=shard) and the same remote schema and table; (2) on the source
    shard the publication RV(publication) of the source table (M(pgdist.cluster.publication)); (3) on the target
    shard the subscription RV(subscription) to it, whose slot has the same name (M(pgdist.cluster.subscription));
    (4) this module with O(step=switch); (5) the subscription dropped on the target (which drops the slot) and the
    publication on the source. The names are C(pgdist_move_<partition>) (with a hash of the qualified name when it
    is not in C(public) or not a valid slot name), so a publication, subscription or slot says which move it
    belongs to."
  - O(step=plan) changes nothing and reports the RV(phase) and the RV(remaining) steps; run it first, it refuses a
    partition that cannot move (no primary key and no replica identity on the source table, a local partition, a
    target table already holding rows with no subscription of this move filling it) before the source table is
    published.
  - "O(step=switch): waits until the subscription's copy of the table is C(ready) and its slot within 1 MB of the
    source's WAL position (at most O(catch_up_timeout)); then, in one transaction on the coordinator, writes to the
    table are paused: C(LOCK TABLE ONLY <parent> IN SHARE ROW EXCLUSIVE MODE) and C(ALTER FOREIGN TABLE <partition>
    ENABLE TRIGGER USER), which takes the same lock on the partition (PostgreSQL refuses C(LOCK TABLE) on a foreign
    table; the table is dropped by this transaction anyway). Readers go on, writers wait. The parent is locked, not
    only the partition, because the C(DETACH) needs the parent C(ACCESS EXCLUSIVE) while writers waiting for the
    partition hold the parent's C(ROW EXCLUSIVE): that would be a deadlock. Then the switch waits until no prepared
    transaction of the coordinator (gid C(pgdist_*), extension pgdist) is pending on the source, reads the source's
    current WAL position and waits until the slot confirmed it (all within O(switch_timeout), else the transaction
    is rolled back, writes resume and the task fails naming what is behind), detaches and drops the old foreign
    partition, creates it again C(PARTITION OF) the parent with the same bound and foreign table options on
    O(to_server), and comments it with where it came from. Writes resume at the commit; RV(write_pause) says how
    long they waited. After the commit the source table is renamed C(<table>_moved_<UTC YYYYMMDDHHMMSS>)
    (RV(kept_as)) on the source, where it stays until you drop it by name; nothing is dropped."
  - "The shards are read (and the source table renamed) through the coordinator's own foreign servers and user
    mappings: the address, login (the fdw user) and C(pg_hba.conf) rule postgres_fdw uses. No other login on the
    shards is needed. The subscription needs the target admitted on the source as a replication login, like any
    replica (M(pgdist.cluster.subscription))."
  - A finished move (the partition already on O(to_server)) reports C(changed=false), and the objects still to drop
    in RV(leftovers). Check mode reads everything and returns the statements of the switch in RV(queries) and
    RV(source_queries) without waiting or changing anything.
  - The end of the switch transaction (the C(DETACH), milliseconds) holds the parent C(ACCESS EXCLUSIVE), so reads
    wait then too; a query on the parent that runs longer than O(switch_timeout) makes the switch fail (its
    C(lock_timeout)) instead of queueing every other query behind it.
  - Writes made on the source table directly (not through the coordinator) during the switch are not covered; the
    coordinator is the only writer the collection sets up.
options:
  name:
    description: The foreign partition on the coordinator, optionally schema-qualified (C(schema.partition), default
      C(public)).
    type: str
    required: true
  to_server:
    description: The coordinator's foreign server of the target shard.
    type: str
    required: true
  step:
    description:
      - C(plan) reads and reports, changes nothing.
      - C(wait) waits until the subscription caught up (at most O(catch_up_timeout)), changes nothing.
      - C(switch) waits the same, then re-points the partition to O(to_server) as described above.
    type: str
    choices: [plan, wait, switch]
    default: plan
  catch_up_timeout:
    description: Seconds to wait, before pausing writes, for the initial copy and streaming to catch up.
    type: int
    default: 600
  switch_timeout:
    description: Seconds writes to the table may stay paused (prepared transactions, the last changes, the
      parent's lock) before the switch gives up and resumes them.
    type: int
    default: 10
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
notes:
  - The source and target shard tables must have the same columns; the target's is created by
    M(pgdist.cluster.partitioned_table) with the same table definition, as the roles do.
  - Only declarative foreign partitions are moved, not the children of an inheritance layout.
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: What moving events_p3 to shard3 needs (refuses a partition that cannot move)
  pgdist.cluster.partition_move:
    db: library
    name: events_p3
    to_server: shard3
    step: plan
  register: move

- name: Switch it once the subscription on shard3 copies it
  pgdist.cluster.partition_move:
    db: library
    name: events_p3
    to_server: shard3
    step: switch
    switch_timeout: 5
'''

RETURN = r'''
queries:
  description: Statements of the coordinator's switch transaction, run or (check mode) to run.
  returned: always
  type: list
  elements: str
  sample: ['ALTER FOREIGN TABLE "public"."events_p3" ENABLE TRIGGER USER',
           'ALTER TABLE "public"."events" DETACH PARTITION "public"."events_p3"']
source_queries:
  description: The statement run on the source shard after the switch (the rename of the source table).
  returned: always
  type: list
  elements: str
phase:
  description:
    - C(not_started), C(published) (publication and target table, no subscription), C(copying), C(streaming)
      (copied, catching up), C(caught_up), C(switched) (the partition points at the target; subscription,
      publication or slot still to drop) or C(done).
  returned: always
  type: str
remaining:
  description: The steps still to run, in order, each naming its host.
  returned: always
  type: list
  elements: str
leftovers:
  description: The move's publication, slot and subscription that still exist after the switch.
  returned: always
  type: list
  elements: str
publication:
  description: Name of the move's publication (on the source).
  returned: always
  type: str
subscription:
  description: Name of the move's subscription (on the target).
  returned: always
  type: str
slot:
  description: Name of the subscription's slot (on the source).
  returned: always
  type: str
kept_as:
  description: C(schema.table) the source table is (or will be) renamed to on the source shard.
  returned: always
  type: str
kept_tables:
  description: The source tables of earlier moves of this partition kept on the source shard (C(schema.table)), to
    drop by name once you no longer need them.
  returned: always
  type: list
  elements: str
source_server:
  description: The foreign server the partition is moved from (for a finished move, the one it recorded).
  returned: always
  type: str
to_server:
  description: O(to_server).
  returned: always
  type: str
write_pause:
  description: Seconds writes to the table waited, from the lock to the commit of the switch; null otherwise.
  returned: always
  type: float
lsn:
  description: The source's WAL position the target had applied when the partition was switched.
  returned: when the switch ran
  type: str
apply_wait:
  description: Seconds of RV(write_pause) spent waiting until the slot confirmed RV(lsn) (the last changes applied
    on the target and confirmed).
  returned: when the switch ran
  type: float
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.move_run import partition_move
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    to_server=dict(type='str', required=True),
    step=dict(type='str', choices=['plan', 'wait', 'switch'], default='plan'),
    catch_up_timeout=dict(type='int', default=600),
    switch_timeout=dict(type='int', default=10),
)


def main():
    run_module(ARGUMENT_SPEC, partition_move)


if __name__ == '__main__':
    main()
