#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: database
short_description: Manage a PostgreSQL database
version_added: 1.0.0
description:
  - Creates a database, reconciles its owner, or drops it.
  - Encoding and locale are fixed when PostgreSQL creates a database. When an existing database differs
    from O(encoding), O(lc_collate) or O(lc_ctype) the module fails and says so; it never ignores it.
  - C(CREATE DATABASE) and C(DROP DATABASE) cannot run inside a transaction, so this module runs its
    statements one by one.
options:
  name:
    description: Database name.
    type: str
    required: true
  owner:
    description: Role that owns the database.
    type: str
  encoding:
    description: Encoding of a new database, for example C(UTF8).
    type: str
  lc_collate:
    description: Collation order of a new database.
    type: str
  lc_ctype:
    description: Character classification of a new database.
    type: str
  template:
    description: Template of a new database.
    type: str
  state:
    description:
      - Whether the database should exist. V(absent) drops it with all its data; it is only done when
        asked for by name.
    type: str
    choices: [present, absent]
    default: present
  db:
    description: Database to connect to while managing O(name).
    type: str
    default: postgres
    aliases: [login_db]
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: The shard database
  pgdist.cluster.database:
    name: library
    owner: pgdist_fdw
    encoding: UTF8
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ['CREATE DATABASE "library" OWNER "pgdist_fdw"']
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import database
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    owner=dict(type='str'),
    encoding=dict(type='str'),
    lc_collate=dict(type='str'),
    lc_ctype=dict(type='str'),
    template=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    db=dict(type='str', default='postgres', aliases=['login_db']),
)


def main():
    run_module(ARGUMENT_SPEC, database, autocommit=True)


if __name__ == '__main__':
    main()
