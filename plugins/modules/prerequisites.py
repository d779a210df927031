#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: prerequisites
short_description: Check that a host has the commands, Python modules, files and server headers the roles need
version_added: 1.0.0
description:
  - Looks for each requirement on the managed host, changes nothing, and fails naming every package that is
    missing, what of it is missing and what needs it, before any role changes anything.
  - Needs nothing beyond Python on the host; in particular not psycopg2, whose absence it reports. Python modules
    are looked for in the interpreter the modules run with (C(ansible_python_interpreter)).
  - The server role runs it first on every host with C(pgdist_install_packages=false) (hosts prepared another
    way), for python3-psycopg2, the PostgreSQL server and C(pg_createcluster), the coordinator extension's build
    tools and server headers, pgBackRest on nodes with backups.
options:
  requirements:
    description: What to look for.
    type: list
    elements: dict
    required: true
    suboptions:
      package:
        description: The package that provides it (named in the failure).
        type: str
        required: true
      executable:
        description: A command, looked for on C(PATH) and in the sbin directories.
        type: str
      python_module:
        description: A module the interpreter running this module must be able to import.
        type: str
      file:
        description: A path that must exist.
        type: str
      pg_config:
        description: A pg_config whose server headers (C(postgres.h) in C(--includedir-server)) and PGXS makefile
          (C(--pgxs)) must exist, as building an extension with PGXS needs.
        type: path
      purpose:
        description: What needs it, for the failure message.
        type: str
  fail:
    description: Fail when something is missing; V(false) only reports it in RV(missing).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: It changes nothing, and looks the same in check mode.
  diff_mode:
    support: none
    description: Nothing to show a difference of.
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: A host prepared without apt has what the roles need
  pgdist.cluster.prerequisites:
    requirements:
      - {package: python3-psycopg2, python_module: psycopg2, purpose: the modules' PostgreSQL driver}
      - {package: postgresql-server-dev-15, pg_config: /usr/lib/postgresql/15/bin/pg_config, purpose: building pgdist}
      - {package: pgbackrest, executable: pgbackrest, purpose: backups}
'''

RETURN = r'''
missing:
  description: The requirements not found, each with C(package), C(kind), C(name), C(purpose) and C(detail).
  returned: always
  type: list
  elements: dict
msg:
  description: Every missing package in one sentence, or that nothing is missing.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgdist.cluster.plugins.module_utils.prerequisites import (
    BadRequirement, message, missing, real_probes)

ARGUMENT_SPEC = dict(
    requirements=dict(type='list', elements='dict', required=True, options=dict(
        package=dict(type='str', required=True),
        executable=dict(type='str'),
        python_module=dict(type='str'),
        file=dict(type='str'),
        pg_config=dict(type='path'),
        purpose=dict(type='str'),
    )),
    fail=dict(type='bool', default=True),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    requirements = [dict((key, value) for key, value in requirement.items() if value is not None)
                    for requirement in module.params['requirements']]
    try:
        found = missing(requirements, real_probes(module.get_bin_path))
    except BadRequirement as exc:
        module.fail_json(msg=str(exc), missing=[])
    if found and module.params['fail']:
        module.fail_json(msg=message(found), missing=found)
    module.exit_json(changed=False, missing=found, msg=message(found) if found else 'nothing is missing')


if __name__ == '__main__':
    main()
