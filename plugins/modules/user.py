#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: user
short_description: Manage a PostgreSQL role, its attributes and password
version_added: 1.0.0
description:
  - Creates, alters or drops a role.
  - Passwords are sent as a SCRAM-SHA-256 verifier computed on the managed host, so the clear text never
    reaches the server or its logs. An unchanged password does not report a change; it is compared with
    the SCRAM-SHA-256 or MD5 verifier stored in C(pg_authid) (reading it needs superuser).
  - PostgreSQL 18 deprecates MD5 passwords. There a role whose stored MD5 verifier matches O(password) gets
    it stored again as SCRAM-SHA-256 (a change, with a warning; the password itself stays the same). Older
    servers keep a matching MD5 verifier as it is.
  - When the module logs in as a non-superuser with C(CREATEROLE), up to PostgreSQL 15 that attribute lets it
    alter and drop any role that is not a superuser. From 16 on it needs the ADMIN OPTION on the role as well
    (a role gets it on the roles it creates); the module refuses such a change without it before running
    anything, naming the C(GRANT ... WITH ADMIN OPTION) that allows it. Which attributes such a role may
    give also differs (up to 15 C(REPLICATION) and C(BYPASSRLS) need a superuser, from 16 on any attribute the
    role has itself); PostgreSQL's own error names the attribute.
options:
  name:
    description: Role name.
    type: str
    required: true
  password:
    description:
      - Password of the role. An empty string removes the password.
    type: str
  login:
    description: Whether the role can log in.
    type: bool
    default: true
  attributes:
    description:
      - Role attributes such as C(REPLICATION), C(CREATEDB), C(NOSUPERUSER). Attributes not listed are
        left as they are.
    type: list
    elements: str
    default: []
  connection_limit:
    description: Maximum concurrent connections; -1 for no limit. Unset keeps the current limit.
    type: int
  member_of:
    description:
      - Roles this role is made a member of (C(GRANT role TO name)), for example V(pg_monitor) for a
        monitoring login. Memberships not listed are left as they are.
    type: list
    elements: str
    default: []
    version_added: 1.1.0
  update_password:
    description:
      - V(always) sets the password when it differs from the stored one; V(on_create) only sets it on a
        new role.
    type: str
    choices: [always, on_create]
    default: always
  state:
    description: Whether the role should exist.
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
- name: The role the coordinator connects to a shard as
  pgdist.cluster.user:
    name: pgdist_fdw
    password: "{{ vault_fdw_password }}"
    attributes: [NOSUPERUSER, NOCREATEDB]

- name: A monitoring login that reads the statistics views without superuser
  pgdist.cluster.user:
    name: pgdist_monitor
    password: "{{ vault_monitoring_password }}"
    member_of: [pg_monitor]
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode; password verifiers replaced by C(********).
  returned: always
  type: list
  elements: str
password_changed:
  description: Whether the password was (or would be) set.
  returned: when O(state=present)
  type: bool
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import user
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    password=dict(type='str', no_log=True),
    login=dict(type='bool', default=True),
    attributes=dict(type='list', elements='str', default=[]),
    connection_limit=dict(type='int'),
    member_of=dict(type='list', elements='str', default=[]),
    update_password=dict(type='str', choices=['always', 'on_create'], default='always', no_log=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, user)


if __name__ == '__main__':
    main()
