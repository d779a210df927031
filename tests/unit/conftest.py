"""Unit tests import module_utils as Ansible does, from ansible_collections.pgdist.cluster."""

import sys

from support.ansible import collections_path

sys.path.insert(0, collections_path())
