#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: extension
short_description: Manage a PostgreSQL extension in a database
version_added: 1.0.0
description:
  - Creates an extension, updates its version, moves its schema, or drops it.
options:
  name:
    description: Extension name, for example C(postgres_fdw).
    type: str
    required: true
  schema:
    description: Schema to install the extension objects in.
    type: str
  version:
    description:
      - Version to install or update to.
      - Unset creates the extension at its default version and leaves the version of an installed one alone.
      - V(latest) does the same on create and updates an installed one to the default version of the files
        installed now (C(ALTER EXTENSION ... UPDATE TO), running the extension's upgrade scripts), as after a new
        build or package of the extension.
    type: str
  cascade:
    description:
      - On create, also create extensions this one requires.
      - On O(state=absent), also drop the objects that depend on the extension (for C(postgres_fdw), its
        servers, user mappings and foreign tables). Without it such a drop fails.
    type: bool
    default: false
  state:
    description: Whether the extension should exist.
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
- name: postgres_fdw on the coordinator
  pgdist.cluster.extension:
    db: library
    name: postgres_fdw
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ['CREATE EXTENSION "postgres_fdw"']
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import extension
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    schema=dict(type='str'),
    version=dict(type='str'),
    cascade=dict(type='bool', default=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, extension)


if __name__ == '__main__':
    main()
