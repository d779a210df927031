# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health verdict of playbooks/status.yml: a thin adapter over plugins/module_utils/health.py
(its documentation is in health_problems.yml beside this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgdist.cluster.plugins.filter.topology import _plain
from ansible_collections.pgdist.cluster.plugins.module_utils import health
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput


def health_problems(nodes, thresholds):
    try:
        return health.health_problems(_plain(nodes), _plain(thresholds))
    except InvalidInput as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'health_problems': health_problems}
