#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: partitioned_table
short_description: Manage a partitioned table spread over shards (declarative or inheritance partitioning)
version_added: 1.0.0
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
  - "Secondary indexes (O(indexes)), C(CHECK) constraints (O(checks)), foreign keys (O(foreign_keys)), expression
    defaults (O(columns[].default_expression)) and sequence-numbered ids (O(columns[].sequence)) make an
    application's schema: the shard tables get the indexes and constraints, the coordinator computes the defaults
    and ids; what PostgreSQL allows over foreign partitions goes on the coordinator's parent too. Changes on a
    table that holds rows let writes through (C(CREATE INDEX CONCURRENTLY), C(NOT VALID) then
    C(VALIDATE CONSTRAINT), run after the rest of the task has committed)."
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
        without partitions (O(partition_by), O(partitions), O(route_via), O(route_trigger), O(prune_partitions) and
        O(key_update) are refused with it).
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
        description: Default value, a literal value (not an SQL expression). At most one of O(columns[].default),
          O(columns[].default_expression) and O(columns[].sequence).
        type: raw
      default_expression:
        description:
          - A default computed by an SQL expression, such as V(now()). Set on the coordinator's parent (and with
            O(side=plain)) only, where an C(INSERT) through the coordinator evaluates it before the row reaches its
            shard; the shard tables get no default for the column, so every shard sees the coordinator's values.
          - Checked as an expression (no C(;), comments, backslashes or C($); balanced parentheses and quotes),
            then parsed by the server and compared as it prints it back (C(pg_get_expr)).
        type: str
      sequence:
        description:
          - Number the column (C(smallint), C(integer) or C(bigint)) from the sequence C(<table>_<column>_seq) in
            the table's schema, created on the coordinator (and with O(side=plain)), owned by the column (dropped
            with the table), as the column's default C(nextval()). One sequence for the whole table, so ids are unique
            across the shards, whose tables have no default for the column. A sequence added to a table that
            exists starts after the largest value the column holds.
          - A sequence rather than an identity column because it works the same on every major from 13 to 18 over
            foreign partitions, can be added to an existing column with rows, and lets an application give ids
            itself (sysbench does), as C(serial) does.
        type: bool
        default: false
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
  indexes:
    description:
      - Secondary indexes. On a shard table each is named C(<shard table>_<name>) (index names are per schema and a
        shard may hold several partitions of a table), on the coordinator's declarative parent and with
        O(side=plain) C(<name>). The coordinator's parent gets the non-unique ones (PostgreSQL builds them on its
        local partitions and skips the foreign ones) and the unique ones only while every partition is local
        (PostgreSQL refuses a unique index over foreign partitions); an inheritance parent gets none.
      - On a table that exists and holds rows, a new or changed index is built with C(CREATE INDEX CONCURRENTLY)
        (and an old one dropped with C(DROP INDEX CONCURRENTLY)) after the rest of the task has committed, so
        writes go on; an index left invalid by a failed build is rebuilt by the next run. The parent on the
        coordinator is indexed in the task's transaction (PostgreSQL builds no partitioned index concurrently).
      - Compared with the catalog by columns, uniqueness, method and predicate; an index the module made carries
        the comment C(managed by pgdist.cluster.partitioned_table) and is dropped once it is taken out of the
        list; indexes made by hand stay. One of the same name is taken over.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Index name (see above).
        type: str
        required: true
      columns:
        description: Columns of the index, in order.
        type: list
        elements: str
        required: true
      unique:
        description:
          - A unique index; must include the partition key columns (each shard checks its own rows only, so two
            equal values in two partitions would both be accepted otherwise), refused with the reason.
          - Needs O(indexes[].method=btree).
        type: bool
        default: false
      where:
        description: The predicate of a partial index, an SQL expression (checked as O(columns[].default_expression)).
        type: str
      method:
        description: Index access method.
        type: str
        choices: [btree, hash, gist, gin, brin, spgist]
        default: btree
  checks:
    description:
      - C(CHECK) constraints, on every shard table and on the coordinator's parent (its local partitions enforce
        them, foreign partitions carry them as declarations) and with O(side=plain).
      - On a table that holds rows (a shard table, or on the coordinator a parent with a local partition) a new or
        changed constraint is added C(NOT VALID), so only new rows are checked and the lock is short, and
        validated with C(VALIDATE CONSTRAINT) after the commit, which lets writes through. A validation that fails
        (rows violate it) fails the task and leaves the constraint C(NOT VALID); the next run validates it again.
      - Like indexes, what the module made is dropped once taken out of the list.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Constraint name.
        type: str
        required: true
      expression:
        description: The condition, an SQL expression (checked as O(columns[].default_expression)).
        type: str
        required: true
  foreign_keys:
    description:
      - Foreign keys from this table to another, such as a reference table copied to every shard. On each shard
        table the key references the shard's own copy, so the shard checks every row written through the
        coordinator. The coordinator's parent gets them only while every partition is local (PostgreSQL refuses
        foreign keys on foreign tables).
      - Added C(NOT VALID) and validated after the commit on a shard table that holds rows, as O(checks).
      - Rows of the referenced copy are not protected on the shards, whose copies are written by logical
        replication (which fires no foreign key trigger), so deleting a referenced row on the coordinator is not
        refused by the shards.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Constraint name.
        type: str
        required: true
      columns:
        description: Columns of this table.
        type: list
        elements: str
        required: true
      references:
        description: The referenced table and columns (a primary key or unique constraint there).
        type: dict
        required: true
        suboptions:
          table:
            description: The referenced table, optionally schema-qualified (default the table's schema).
            type: str
            required: true
          columns:
            description: Its columns, as many as O(foreign_keys[].columns).
            type: list
            elements: str
            required: true
  route_trigger:
    description:
      - O(partitioning=inheritance) on the coordinator only. The names of the routing trigger and its function, for
        a layout whose own setup named them (the seeds' C(insert_to_child_tg) calling C(insert_to_child), or
        C(booksample_trigger) calling C(booksample_trigger_fn)); the body is the generated one either way.
      - A routing trigger of the table under another name that calls the default or the named function, and the
        default function, are dropped in the same transaction, so rows never pass two routing triggers.
    type: dict
    suboptions:
      name:
        description: The trigger's name; C(pgdist_route) when not given.
        type: str
      function:
        description: The function's name, in the parent's schema; C(<name>_pgdist_route) when not given.
        type: str
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

- name: sysbench's sbtest1 on the coordinator, ids from one sequence there, the k index on every shard
  pgdist.cluster.partitioned_table:
    db: library
    name: sbtest1
    columns:
      - {name: id, type: integer, nullable: false, sequence: true}
      - {name: k, type: integer, nullable: false, default: 0}
      - {name: c, type: "char(120)", nullable: false, default: ""}
      - {name: pad, type: "char(60)", nullable: false, default: ""}
    partition_by: {method: hash, key: id}
    indexes: [{name: k_1, columns: [k]}]
    partitions:
      - {name: sbtest1_p0, modulus: 2, remainder: 0, server: shard1}
      - {name: sbtest1_p1, modulus: 2, remainder: 1, server: shard2}

- name: Orders with a CHECK, a foreign key to the shard's copy of countries and a time set on the coordinator
  pgdist.cluster.partitioned_table:
    db: library
    name: orders
    side: shard
    columns:
      - {name: id, type: bigint, nullable: false}
      - {name: region, type: text}
      - {name: country, type: text}
      - {name: total, type: "numeric(12,2)"}
      - {name: created_at, type: timestamptz, default_expression: "now()"}
    primary_key: [id, region]
    partition_by: {method: list, key: region}
    partitions: [{name: orders_eu, values: [eu]}]
    indexes:
      - {name: by_country, columns: [country], where: country IS NOT NULL}
    checks:
      - {name: total_positive, expression: total > 0}
    foreign_keys:
      - {name: known_country, columns: [country], references: {table: countries, columns: [code]}}

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

from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.argspec import ARGUMENT_SPEC, REQUIRED_IF
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.table import partitioned_table
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module


def main():
    run_module(ARGUMENT_SPEC, partitioned_table, required_if=REQUIRED_IF)


if __name__ == '__main__':
    main()
