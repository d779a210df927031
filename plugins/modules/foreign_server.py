#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: foreign_server
short_description: Manage a foreign server (CREATE/ALTER/DROP SERVER)
version_added: 1.0.0
description:
  - Creates a foreign server, reconciles its options and owner, or drops it.
  - An existing server is altered in place (C(ALTER SERVER ... OPTIONS (ADD/SET/DROP)), C(OWNER TO)) and never
    dropped and recreated, because that would drop its user mappings and foreign tables.
options:
  name:
    description: Name of the foreign server.
    type: str
    required: true
  fdw:
    description: Foreign-data wrapper of the server. Its extension must exist in O(db).
    type: str
    default: postgres_fdw
  options:
    description:
      - Server options, such as C(host), C(port), C(dbname), C(batch_size), C(fetch_size).
      - These are the whole wanted set; options present on the server but not listed are dropped.
        Leave O(options) unset to keep whatever the server has.
      - Option names are checked with the wrapper's own validator before any change, in check mode too.
      - postgres_fdw options newer than PostgreSQL 13 are refused on an older server, naming the option and
        the version it needs. C(async_capable), C(batch_size), C(keep_connections) and C(truncatable) need 14,
        C(parallel_commit) 15, C(parallel_abort) and C(analyze_sampling) 16, C(use_scram_passthrough) 18.
        libpq connection options (C(sslnegotiation), C(require_auth), ...) come with the libpq the server was
        built with; the validator checks them.
    type: dict
  owner:
    description: Role that owns the server.
    type: str
  state:
    description: Whether the server should exist.
    type: str
    choices: [present, absent]
    default: present
  cascade:
    description:
      - With O(state=absent), also drop the foreign tables that use the server.
      - Without it, dropping a server that foreign tables use fails and names them. User mappings of the
        server are always dropped with it.
    type: bool
    default: false
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: A shard as a foreign server
  pgdist.cluster.foreign_server:
    db: library
    name: shard_paris
    options:
      host: 10.0.0.11
      port: 5432
      dbname: library
      batch_size: 1000
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ["ALTER SERVER \"shard_paris\" OPTIONS (SET \"batch_size\" '1000')"]
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.reconcile import foreign_server
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    fdw=dict(type='str', default='postgres_fdw'),
    options=dict(type='dict'),
    owner=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    cascade=dict(type='bool', default=False),
)


def main():
    run_module(ARGUMENT_SPEC, foreign_server)


if __name__ == '__main__':
    main()
