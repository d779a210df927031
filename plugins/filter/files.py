# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters about files on the controller.

``tree_digest(path)``
    The SHA-256 of every regular file under a directory of the controller (relative names and contents, in name
    order). The server role compares it with the digest it recorded beside the extension's build on a host, so a
    run with nothing new copies nothing: copying a directory costs one remote round trip per file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible.errors import AnsibleFilterError


def tree_digest(path):
    if not os.path.isdir(path):
        raise AnsibleFilterError('tree_digest: %s is not a directory on the controller' % path)
    digest = hashlib.sha256()
    for folder, subfolders, files in sorted(os.walk(path)):
        subfolders.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                continue
            digest.update(os.path.relpath(full, path).encode('utf-8') + b'\0')
            with open(full, 'rb') as handle:
                digest.update(handle.read())
            digest.update(b'\0')
    return digest.hexdigest()


class FilterModule(object):
    def filters(self):
        return {'tree_digest': tree_digest}
