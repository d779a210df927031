# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Every module that changes something: plans first, so check mode and diff mode are complete.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and return the statements it would run (C(queries)) without running them.
      - A database, login role, foreign server or table that an earlier task of the same check run would have
        created is planned through (the result key C(missing_parents) names it, with a warning) instead of failing.
    support: full
  diff_mode:
    description: Returns the object before and after the change (secrets replaced) in diff mode.
    support: full
  action_group:
    description: Use C(group/pgdist.cluster.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - pgdist.cluster.all
'''

    # Read-only modules.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    description: Runs in check mode as in a normal run; it never changes anything.
    support: full
  diff_mode:
    description: Changes nothing, so there is nothing to show.
    support: N/A
  action_group:
    description: Use C(group/pgdist.cluster.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - pgdist.cluster.all
'''
