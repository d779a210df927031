#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: table_privileges
short_description: Grant or revoke privileges on tables to a role
version_added: 1.0.0
description:
  - Grants O(privileges) on each of O(tables) to O(role) when the role does not hold them yet
    (C(has_table_privilege), so privileges it holds as owner, through membership or through C(PUBLIC) count),
    or revokes the ones granted to the role itself.
  - The replication role uses it for the readers of published tables (the replication user copies the rows
    with C(SELECT)) and for the fdw user on the shards' copies of reference tables; the coordinator role for
    the application users (C(pgdist_app_users)) on the distributed and reference tables.
options:
  role:
    description: Role that receives or loses the privileges.
    type: str
    required: true
  tables:
    description: Tables or views (V(schema.table), or V(table) in C(public)).
    type: list
    elements: str
    required: true
  privileges:
    description: Table privileges.
    type: list
    elements: str
    choices: [SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER]
    default: [SELECT]
  with_usage:
    description:
      - Also what the table privileges need to be usable. V(present) grants C(USAGE) on the tables' schemas
        when the role lacks it (never revoked by V(absent), since other objects live there).
      - With C(INSERT) or C(UPDATE) among O(privileges), C(USAGE) on the sequences the tables' column defaults
        call (C(serial) columns, C(nextval()) defaults), granted with them and revoked with them; identity
        columns need no privilege on their sequence.
    type: bool
    default: false
  state:
    description:
      - V(present) grants what is missing. V(absent) revokes what was granted to O(role) directly (privileges it
        holds otherwise stay, and are shown in the diff).
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
- name: The replication user reads the published tables
  pgdist.cluster.table_privileges:
    db: library
    role: pgdist_replication
    tables: [public.child1, public.orders_p0]

- name: An application reads and writes a table, its schema and the sequence of its serial column
  pgdist.cluster.table_privileges:
    db: library
    role: library_app
    tables: [shop.orders]
    privileges: [SELECT, INSERT, UPDATE, DELETE]
    with_usage: true
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ['GRANT SELECT ON TABLE "public"."child1" TO "pgdist_replication"']
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import table_privileges
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module
from ansible_collections.pgdist.cluster.plugins.module_utils.sqlbuild import TABLE_PRIVILEGES

ARGUMENT_SPEC = dict(
    role=dict(type='str', required=True),
    tables=dict(type='list', elements='str', required=True),
    privileges=dict(type='list', elements='str', choices=list(TABLE_PRIVILEGES), default=['SELECT']),
    with_usage=dict(type='bool', default=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, table_privileges)


if __name__ == '__main__':
    main()
