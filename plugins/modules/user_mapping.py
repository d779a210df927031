#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: user_mapping
short_description: Manage a user mapping for a foreign server
version_added: 1.0.0
description:
  - Creates, alters or drops the user mapping of one local role on one foreign server.
  - The C(password) option is a secret. It is compared with the stored one without being shown, and is
    replaced by C(********) in RV(queries), diffs and messages.
options:
  user:
    description: Local role the mapping is for; a role name, C(PUBLIC) or C(CURRENT_USER).
    type: str
    required: true
  server:
    description: Foreign server of the mapping. It must exist.
    type: str
    required: true
  options:
    description:
      - Mapping options, usually C(user) and C(password) on the remote server.
      - Checked with the wrapper's validator before any change; postgres_fdw's C(use_scram_passthrough) needs
        PostgreSQL 18 and is refused on older servers, naming the version.
      - These are the whole wanted set; options not listed are dropped. Leave unset to keep them.
    type: dict
  state:
    description: Whether the mapping should exist.
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
- name: Map the application role to the shard's fdw user
  pgdist.cluster.user_mapping:
    db: library
    user: app
    server: shard_paris
    options:
      user: pgdist_fdw
      password: "{{ vault_fdw_password }}"
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode; passwords replaced by C(********).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import user_mapping
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    user=dict(type='str', required=True),
    server=dict(type='str', required=True),
    options=dict(type='dict', no_log=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, user_mapping)


if __name__ == '__main__':
    main()
