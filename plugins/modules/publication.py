#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: publication
short_description: Manage a logical replication publication (CREATE/ALTER/DROP PUBLICATION)
version_added: 1.0.0
description:
  - Creates a publication in O(db), reconciles its tables (with PostgreSQL 15 row filters and column lists),
    schemas, published actions, C(publish_via_partition_root) and owner, or drops it.
  - Row filters (C(where)), column lists (C(columns)) and O(tables_in_schema) need PostgreSQL 15; on 13 and 14
    they are refused before any change, naming the field and the version. Plain table lists, O(all_tables),
    O(publish) and O(publish_via_partition_root) work on every supported version (13 and later).
  - Every option is compared with the catalogs (C(pg_publication), C(pg_publication_rel) with C(prqual) and
    C(prattrs), C(pg_publication_namespace)), so a second run reports no change.
  - Changes are made with C(ALTER PUBLICATION ... ADD/DROP) for tables and schemas that appear or disappear,
    C(ALTER PUBLICATION ... SET TABLE ...) when a row filter or column list changes, and
    C(ALTER PUBLICATION ... SET (publish = ..., publish_via_partition_root = ...)).
  - A publication holds no rows. Switching between O(all_tables) and a list of tables, which PostgreSQL cannot
    alter, drops and creates the publication again in the same transaction, with a warning.
  - The publisher needs C(wal_level=logical) for subscribers to use the publication; see the
    C(pgdist.cluster.replication) role.
options:
  name:
    description: Name of the publication.
    type: str
    required: true
  tables:
    description:
      - Tables to publish, the whole wanted list; tables published but not listed are removed.
      - Each item is a table name (V(schema.table), or V(table) in C(public)) or a dict with C(name), an optional
        C(where) row filter and an optional C(columns) list.
      - C(where) is an SQL expression on the table's columns (PostgreSQL 15 and later). It is the one piece of SQL this
        collection takes as text, so only give it from trusted input. It is refused when it contains C(;),
        comments, backslashes, C($) or unbalanced quotes or parentheses, and it is parsed by the server (in
        check mode too) before any change; it is compared in the form C(pg_get_expr) prints.
        With a row filter, UPDATE and DELETE need the filtered columns in the table's replica identity.
      - Leave O(tables), O(tables_in_schema) and O(all_tables) unset to keep the tables the publication has.
    type: list
    elements: raw
  tables_in_schema:
    description:
      - Schemas whose tables are all published (C(TABLES IN SCHEMA), PostgreSQL 15), the whole wanted list.
      - Can be combined with O(tables) but not with column lists.
    type: list
    elements: str
  all_tables:
    description: Publish every table of the database, present and future (C(FOR ALL TABLES)). Needs a superuser.
    type: bool
    default: false
  publish:
    description: DML operations published.
    type: list
    elements: str
    choices: [insert, update, delete, truncate]
    default: [insert, update, delete, truncate]
  publish_via_partition_root:
    description:
      - Publish changes of partitions as changes of their partitioned root table, so a subscriber can hold
        the rows in a table partitioned differently (or not at all).
    type: bool
    default: false
  keyless_identity:
    description:
      - What to do with listed plain tables that have neither a primary key nor a replica identity index.
        PostgreSQL refuses UPDATE and DELETE on such a table once it is published with those actions.
      - V(full) sets C(REPLICA IDENTITY FULL) on them (each replicated UPDATE or DELETE then compares whole
        rows; give the table a primary key where you can), in the same transaction as the publication change.
      - V(keep) leaves their replica identity as it is.
    type: str
    choices: [keep, full]
    default: keep
  owner:
    description: Role that owns the publication.
    type: str
  state:
    description: Whether the publication should exist. Dropping it stops the subscribers that use it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: Publish the shard's tables to its replica
  pgdist.cluster.publication:
    db: library
    name: shard_paris_pub
    tables:
      - public.booksample_paris
      - name: public.loans
        where: "returned IS NOT TRUE"
        columns: [id, book_id, borrower]
    publish: [insert, update, delete, truncate]
    publish_via_partition_root: true

- name: Every table of one schema
  pgdist.cluster.publication:
    db: library
    name: reference_pub
    tables_in_schema: [reference]
'''

RETURN = r'''
replica_identity_full:
  description: Tables set to C(REPLICA IDENTITY FULL) by O(keyless_identity=full), or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [public.child1]
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ["ALTER PUBLICATION \"shard_paris_pub\" ADD TABLE \"public\".\"loans\""]
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.replication import PUBLISH_ACTIONS, publication
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    tables=dict(type='list', elements='raw'),
    tables_in_schema=dict(type='list', elements='str'),
    all_tables=dict(type='bool', default=False),
    publish=dict(type='list', elements='str', choices=list(PUBLISH_ACTIONS), default=list(PUBLISH_ACTIONS)),
    publish_via_partition_root=dict(type='bool', default=False),
    keyless_identity=dict(type='str', choices=['keep', 'full'], default='keep'),
    owner=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, publication)


if __name__ == '__main__':
    main()
