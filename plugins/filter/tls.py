# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS between the nodes: what clients ask for and what pg_hba demands.

``peer_ssl_options(ssl, ca_file='')``
    The libpq options a node uses to reach a peer (the coordinator's foreign
    servers, a subscriber's connection): ``{}`` when ``ssl`` is off (libpq's
    default, prefer), ``{sslmode: require}`` when it is on without a CA (the
    peers' certificates are self-signed: the link is encrypted, the peer is
    not authenticated), ``{sslmode: verify-full, sslrootcert: ca_file}`` when a
    CA file is given (the peer's certificate must be signed by that CA and
    name the address used to reach it).

``hba_require_ssl(rules, ssl)``
    ``rules`` with every ``host`` rule turned into ``hostssl`` when ``ssl`` is
    on, so peers cannot connect without TLS; other types stay as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def _flag(value, name):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleFilterError('%s must be a boolean, got %r' % (name, value))


def peer_ssl_options(ssl, ca_file=''):
    """libpq sslmode (and sslrootcert) for connections between the nodes."""
    if not _flag(ssl, 'pgdist_ssl'):
        return {}
    if ca_file:
        ca_file = str(ca_file)
        if not ca_file.startswith('/'):
            raise AnsibleFilterError('pgdist_ssl_ca_file must be an absolute path on the hosts, got %r' % ca_file)
        return {'sslmode': 'verify-full', 'sslrootcert': ca_file}
    return {'sslmode': 'require'}


def hba_require_ssl(rules, ssl):
    """host rules become hostssl when ssl is on."""
    if not isinstance(rules, list):
        raise AnsibleFilterError('pg_hba rules must be a list, got %s' % type(rules).__name__)
    if not _flag(ssl, 'pgdist_ssl'):
        return rules
    return [dict(rule, type='hostssl') if isinstance(rule, dict) and rule.get('type', 'host') == 'host' else rule
            for rule in rules]


class FilterModule(object):
    def filters(self):
        return {
            'peer_ssl_options': peer_ssl_options,
            'hba_require_ssl': hba_require_ssl,
        }
