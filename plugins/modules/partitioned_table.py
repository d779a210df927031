#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: partitioned_table
short_description: Manage a partitioned table spread over shards (declarative or inheritance partitioning)
version_added: 0.1.0
description:
  - Creates and reconciles one partitioned table with all its partitions in one transaction.
  - With O(side=coordinator) and O(partitioning=declarative), the parent is C(PARTITION BY RANGE|LIST|HASH) and each
    partition is a local table, or a C(postgres_fdw) foreign table when it has a O(partitions[].server).
  - With O(side=coordinator) and O(partitioning=inheritance) (the layout of the seeds), the parent is a plain table,
    children C(INHERIT) it with C(CHECK) constraints from their bounds, and a generated PL/pgSQL function, called by
    the C(BEFORE INSERT) trigger C(pgdist_route), inserts each row into its child and raises an error naming the
    key for a row that fits no child. The function is only replaced when the layout changed (its source is
    compared with the generated one).
  - With O(side=shard), only the real tables behind the listed partitions are managed on a shard, named
    O(partitions[].remote_schema).O(partitions[].remote_table), with the parent's columns and a C(CHECK) constraint
    named C(pgdist_bounds_<hash>) equal to the partition bounds, so a shard refuses rows that belong elsewhere. For
    hash bounds the check calls C(satisfies_hash_partition()) on an empty partitioned table
    C(<remote_schema>._pgdist_hash_<name>) with the same key, so coordinator and shard agree on every row. A lone
    C(default) partition accepts every row and gets no C(CHECK).
  - Each such shard table also gets a key guard, the trigger C(pgdist_key_<hash>) (C(BEFORE UPDATE OF) the key
    columns, C(FOR EACH ROW WHEN) the new row falls outside the bounds) calling
    C(<remote_schema>.<name>_pgdist_key_guard()), which refuses an C(UPDATE) that would leave a row outside its
    partition with an error naming the table, the partition, the new key and what to do (O(key_update)). It fires
    only for such rows and, being on the shard, keeps the coordinator's C(UPDATE) and C(DELETE) one remote statement
    each.
  - With O(side=plain), one plain table with O(columns) and O(primary_key), without partitions or bounds, such as a
    reference table copied to every shard. A C(pgdist_bounds_*) constraint left on it by an earlier run with
    O(side=shard) and a lone default partition is dropped.
  - "Reconcile, never destroy: missing partitions and columns are added. New bounds for a partition (or a child, or a
    shard table) that holds rows are applied only when every row fits them: a query counts the rows outside
    (through the fdw for a foreign partition), and the change is refused with their number and their smallest and
    largest key otherwise. When the other partitions change, the rows of the default partition are checked the same
    way. A change of a column type, a removed column, or a partition re-pointed (local, server, remote table) is
    applied only when the table holds no rows, and refused otherwise with a message naming the table."
  - A new column reaches local partitions and foreign partitions on the coordinator; the shard tables get it when
    this module runs with O(side=shard) and the same O(columns), which is what the roles do for every shard.
  - Column types are checked as type names (letters, digits, C(_), spaces, modifiers such as C((10,2)) and C([]))
    and then parsed by the server (C(to_regtype), the type's modifier function and C(format_type)); the server's
    canonical spelling is what reaches the SQL and what is compared with the catalog.
options:
  name:
    description: Name of the parent table, optionally schema-qualified (C(schema.table), default schema C(public)).
    type: str
    required: true
  side:
    description:
      - C(coordinator) manages the parent and its partitions, C(shard) the real tables behind them, C(plain) one table
        without partitions (O(partition_by), O(partitions), O(route_via), O(prune_partitions) and O(key_update) are
        refused with it).
    type: str
    choices: [coordinator, shard, plain]
    default: coordinator
  partitioning:
    description:
      - C(declarative) for PostgreSQL partitioning, C(inheritance) for plain inheritance with trigger routing.
      - With O(side=shard) both give the same shard tables.
    type: str
    choices: [declarative, inheritance]
    default: declarative
  columns:
    description: Columns of the table, in order. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: Column name.
        type: str
        required: true
      type:
        description: Column type, such as C(int), C(varchar(20)), C(numeric(10,2)), C(timestamp with time zone).
        type: str
        required: true
      nullable:
        description: Whether the column accepts NULL.
        type: bool
        default: true
      default:
        description: Default value, a literal value (not an SQL expression).
        type: raw
  primary_key:
    description:
      - Columns of the primary key; must include the partition key.
      - Refused when a partition is foreign (PostgreSQL cannot build a unique index over foreign tables); give it to
        the shard side instead, where it is created on each shard table. Refused with O(partitioning=inheritance).
      - An existing primary key is never changed.
    type: list
    elements: str
  partition_by:
    description: Partitioning method and key. Required with O(state=present), except with O(side=plain).
    type: dict
    suboptions:
      method:
        description: Partitioning method; C(inheritance) supports C(range) and C(list).
        type: str
        choices: [range, list, hash]
        required: true
      key:
        description:
          - Key column or columns. With O(route_via), columns of the looked-up table.
        type: list
        elements: str
        required: true
  partitions:
    description:
      - The partitions, each with exactly one kind of bounds matching the method.
      - Checked before any change, all errors naming the partitions involved, overlapping ranges, a list value in two
        partitions, hash remainders taken twice or not covering the largest modulus, mixed bound kinds, unknown
        servers.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Partition (child) name, created in the parent's schema unless qualified.
        type: str
        required: true
      values:
        description: List bounds; C(null) is the NULL value.
        type: list
        elements: raw
      from:
        description: Lower range bound (inclusive); a list for a multi-column key; C(MINVALUE) and C(MAXVALUE) allowed.
        type: raw
      to:
        description: Upper range bound (exclusive); a list for a multi-column key; C(MINVALUE) and C(MAXVALUE) allowed.
        type: raw
      modulus:
        description: Hash modulus.
        type: int
      remainder:
        description: Hash remainder.
        type: int
      default:
        description: The default partition (declarative list or range only).
        type: bool
        default: false
      server:
        description: Foreign server holding the partition; without it the partition is local.
        type: str
      remote_schema:
        description: Schema of the table on the shard; defaults to the parent's schema.
        type: str
      remote_table:
        description: Name of the table on the shard; defaults to the partition name.
        type: str
      elsewhere:
        description:
          - With O(side=shard), a partition another shard holds - not created here, listed so that a default
            partition here gets a bounds CHECK excluding its bounds (as the coordinator's default partition
            does); without it a default partition on a shard would accept rows of every other partition.
        type: bool
        default: false
      options:
        description:
          - Further table-level fdw options of the foreign table, such as C(batch_size), C(fetch_size).
          - postgres_fdw's C(async_capable), C(batch_size) and C(truncatable) need PostgreSQL 14 and
            C(analyze_sampling) 16; on an older coordinator they are refused before any change, naming the
            version.
        type: dict
  route_via:
    description:
      - O(partitioning=inheritance) only. Route each row through the row of another table it references, as the
        C(lend) table of the seeds follows its C(booksample) row's location. O(partition_by.key) then names columns
        of that table, and the children carry no CHECK constraint.
    type: dict
    suboptions:
      table:
        description: The looked-up table, optionally schema-qualified.
        type: str
        required: true
      column:
        description: Column of this table that references the looked-up table.
        type: str
        required: true
      references:
        description: Column of the looked-up table that O(route_via.column) matches.
        type: str
        required: true
  key_update:
    description:
      - What an C(UPDATE) through the coordinator that changes the partition key of a row in a foreign partition does.
      - C(refuse) (the default) keeps no row trigger on the foreign partitions, so postgres_fdw sends an C(UPDATE) or
        C(DELETE) by key to the shard as one statement. A key change that keeps the row in its partition goes through;
        one that would put it in another partition is refused by the shard's key guard (see O(side=shard)) with an
        error saying so. PostgreSQL itself still moves rows between local partitions.
      - C(move) adds the C(BEFORE UPDATE) row trigger C(pgdist_move) to the parent (cloned to every partition), whose
        function C(<name>_pgdist_move) deletes a row whose key changes from its foreign partition and inserts it
        through the parent, which routes it. It costs on every C(UPDATE) of the table, not only on key changes. A row
        trigger on a foreign table switches off postgres_fdw's direct modification, so each C(UPDATE) becomes a
        C(SELECT ... FOR UPDATE) on the shard plus one C(UPDATE ... WHERE ctid = $1) per row carrying the whole row
        back, two round trips instead of one statement (single-row C(UPDATE)s by key through a coordinator ran at
        about half the rate with the trigger).
      - Changing it converges, the trigger and its function are created or dropped. Only with
        O(partitioning=declarative) on the coordinator; O(side=shard) does not use it (the key guard is there either
        way, and with C(move) no key-changing C(UPDATE) reaches the shard).
    type: str
    choices: [refuse, move]
    default: refuse
  prune_partitions:
    description:
      - Detach partitions (or un-inherit children) present in the database but not listed. Without it they are kept
        and reported in RV(unlisted_partitions).
    type: bool
    default: false
  drop_data:
    description:
      - With O(prune_partitions), also drop the detached tables. With O(state=absent), allow dropping the table and
        its partitions (on a shard, the shard tables) with their rows.
    type: bool
    default: false
  analyze:
    description:
      - Run C(ANALYZE) on the table at the end of the task, after every change, so the planner knows how many rows
        each shard holds (autovacuum never analyzes foreign partitions). On the coordinator a declarative parent is
        analyzed with all its partitions (foreign ones sampled through postgres_fdw); an inheritance parent and each
        child; on a shard each shard table; with O(side=plain) the table.
      - It changes statistics only, so it does not make the task changed; the statement is listed in RV(queries).
        In check mode it is listed and not run. Ignored with O(state=absent).
    type: bool
    default: false
  state:
    description: Whether the table should exist. C(absent) needs O(drop_data=true).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
notes:
  - An C(UPDATE) that changes the partition key of a row of a foreign partition is refused by the shard unless
    O(key_update=move), which moves the row to its new partition, across shards. With O(partitioning=inheritance)
    rows are only routed on C(INSERT).
  - The routing trigger returns NULL, so an C(INSERT) into an inheritance parent reports 0 rows, as in the seeds.
  - C(INSERT ... ON CONFLICT DO NOTHING) without a conflict target works through foreign partitions (the shard
    resolves conflicts against its own unique indexes); C(ON CONFLICT DO UPDATE) is not supported by postgres_fdw.
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: booksample, listed by location, one partition per shard
  pgdist.cluster.partitioned_table:
    db: library
    name: public.booksample
    columns:
      - {name: id, type: int, nullable: false}
      - {name: location, type: varchar}
      - {name: lendable, type: bool, default: false}
    partition_by: {method: list, key: location}
    partitions:
      - {name: booksample_paris, values: [paris], server: shard_paris}
      - {name: booksample_lagos, values: [lagos], server: shard_lagos}

- name: The shard side of the same table on shard_paris
  pgdist.cluster.partitioned_table:
    db: library
    name: public.booksample
    side: shard
    columns:
      - {name: id, type: int, nullable: false}
      - {name: location, type: varchar}
      - {name: lendable, type: bool, default: false}
    primary_key: [id, location]
    partition_by: {method: list, key: location}
    partitions:
      - {name: booksample_paris, values: [paris]}

- name: Events hashed over two shards
  pgdist.cluster.partitioned_table:
    db: library
    name: events
    columns:
      - {name: id, type: bigint, nullable: false}
      - {name: payload, type: text}
    partition_by: {method: hash, key: id}
    partitions:
      - {name: events_p0, modulus: 2, remainder: 0, server: shard1, options: {batch_size: 1000}}
      - {name: events_p1, modulus: 2, remainder: 1, server: shard2}

- name: Orders by region; an UPDATE of the region moves the order to its shard; statistics refreshed
  pgdist.cluster.partitioned_table:
    db: library
    name: orders
    key_update: move
    analyze: true
    columns:
      - {name: region, type: text}
      - {name: id, type: bigint, nullable: false}
      - {name: total, type: "numeric(12,2)"}
    partition_by: {method: list, key: region}
    partitions:
      - {name: orders_eu, values: [eu, uk], server: shard1}
      - {name: orders_rest, default: true, server: shard2}

- name: A reference table, a plain table on each shard
  pgdist.cluster.partitioned_table:
    db: library
    side: plain
    name: countries
    primary_key: [code]
    columns: [{name: code, type: text}, {name: name, type: text}]

- name: lend, routed through its booksample (seed layout)
  pgdist.cluster.partitioned_table:
    db: library
    name: lend
    partitioning: inheritance
    columns:
      - {name: student_id, type: int}
      - {name: booksample_id, type: int}
      - {name: at, type: date}
    partition_by: {method: list, key: location}
    route_via: {table: booksample, column: booksample_id, references: id}
    partitions:
      - {name: lend_paris, values: [paris]}
      - {name: lend_lagos, values: [lagos], server: shard_lagos}
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode (with O(analyze), the C(ANALYZE) that does not count as a
    change).
  returned: always
  type: list
  elements: str
  sample: ["CREATE FOREIGN TABLE \"public\".\"booksample_paris\" PARTITION OF \"public\".\"booksample\" FOR VALUES IN
           ('paris') SERVER \"shard_paris\" OPTIONS (\"schema_name\" 'public', \"table_name\" 'booksample_paris')"]
partitions:
  description: Every listed partition with its bounds, its server (null when local) and its remote table.
  returned: when state is present
  type: dict
  sample: {"booksample_paris": {"bounds": "FOR VALUES IN ('paris')", "server": "shard_paris",
                                "remote": "public.booksample_paris"}}
unlisted_partitions:
  description: Partitions present in the database but not listed (kept unless O(prune_partitions)).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.table import partitioned_table
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    side=dict(type='str', choices=['coordinator', 'shard', 'plain'], default='coordinator'),
    partitioning=dict(type='str', choices=['declarative', 'inheritance'], default='declarative'),
    columns=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True),
        nullable=dict(type='bool', default=True),
        default=dict(type='raw'),
    )),
    primary_key=dict(type='list', elements='str', no_log=False),
    partition_by=dict(type='dict', options=dict(
        method=dict(type='str', choices=['range', 'list', 'hash'], required=True),
        key=dict(type='list', elements='str', required=True, no_log=False),
    )),
    partitions=dict(type='list', elements='dict', default=[], options={
        'name': dict(type='str', required=True),
        'values': dict(type='list', elements='raw'),
        'from': dict(type='raw'),
        'to': dict(type='raw'),
        'modulus': dict(type='int'),
        'remainder': dict(type='int'),
        'default': dict(type='bool', default=False),
        'server': dict(type='str'),
        'remote_schema': dict(type='str'),
        'remote_table': dict(type='str'),
        'options': dict(type='dict'),
        'elsewhere': dict(type='bool', default=False),
    }),
    route_via=dict(type='dict', options=dict(
        table=dict(type='str', required=True),
        column=dict(type='str', required=True),
        references=dict(type='str', required=True),
    )),
    key_update=dict(type='str', choices=['refuse', 'move'], default='refuse'),
    prune_partitions=dict(type='bool', default=False),
    drop_data=dict(type='bool', default=False),
    analyze=dict(type='bool', default=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, partitioned_table, required_if=[('state', 'present', ('columns',))])


if __name__ == '__main__':
    main()
