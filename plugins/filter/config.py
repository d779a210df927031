# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render PostgreSQL configuration for the server role.

``hba_lines(generated, user=[])``
    Validates pg_hba rules (the generated ones of the plan, then the user's
    ``pgdist_hba_rules``) and returns one pg_hba.conf line per rule, in that
    order. A rule
    is a dict: ``type`` (local, host, hostssl, hostnossl, hostgssenc,
    hostnogssenc), ``database`` and ``user`` (a name or a list), ``address``
    (host lines only: an address, CIDR or host name; a bare IP becomes /32 or
    /128), ``method`` and optional ``options``. ``trust`` is refused on every
    TCP line; errors name the rule (``source[index]``) and the field.

``pg_conf_lines(settings)``
    ``name = value`` lines for a conf.d include: strings are single-quoted,
    booleans become on/off, numbers stay bare. Keys are sorted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.errors import AnsibleFilterError

HBA_TYPES = ('local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc')
HBA_METHODS = ('trust', 'reject', 'scram-sha-256', 'md5', 'password', 'gss', 'sspi', 'ident', 'peer', 'pam', 'ldap',
               'radius', 'cert')
HBA_KEYS = ('type', 'database', 'user', 'address', 'method', 'options', 'comment')
SETTING_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_.]*$')
HBA_WORD = re.compile(r'^[^\s#"]+$')


def _names(rule, field, label):
    value = rule.get(field, 'all')
    values = value if isinstance(value, list) else [value]
    if not values:
        raise AnsibleFilterError('%s: %s must not be empty' % (label, field))
    out = []
    for item in values:
        item = str(item)
        if not HBA_WORD.match(item):
            raise AnsibleFilterError('%s: %s %r must be one word without spaces, quotes or #' % (label, field, item))
        out.append(item)
    return ','.join(out)


def _address(value, label):
    text = str(value)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        if not HBA_WORD.match(text):
            raise AnsibleFilterError('%s: address %r is neither an address, a CIDR nor a host name' % (label, text))
        return text
    return network.with_prefixlen


def hba_lines(generated, user=None):
    """Validated pg_hba.conf lines: the generated rules, then the user's."""
    lines = []
    for source, rules in (('generated rules', generated), ('pgdist_hba_rules', user or [])):
        lines.extend(_hba_source_lines(rules, source))
    return lines


def _hba_source_lines(rules, source):
    if not isinstance(rules, list):
        raise AnsibleFilterError('%s must be a list of rules, got %s' % (source, type(rules).__name__))
    lines = []
    for index, rule in enumerate(rules):
        label = '%s[%d]' % (source, index)
        if not isinstance(rule, dict):
            raise AnsibleFilterError('%s: a rule is a dict with type, database, user, address, method' % label)
        unknown = sorted(set(rule) - set(HBA_KEYS))
        if unknown:
            raise AnsibleFilterError('%s: unknown field(s) %s; known: %s' % (label, ', '.join(unknown), ', '.join(HBA_KEYS)))
        kind = rule.get('type', 'host')
        if kind not in HBA_TYPES:
            raise AnsibleFilterError('%s: type %r is not one of %s' % (label, kind, ', '.join(HBA_TYPES)))
        method = rule.get('method')
        if method not in HBA_METHODS:
            raise AnsibleFilterError('%s: method %r is not one of %s' % (label, method, ', '.join(HBA_METHODS)))
        if method == 'trust' and kind != 'local':
            raise AnsibleFilterError('%s: method trust is refused on %s (TCP) lines: anyone who can reach the port '
                                     'would log in without a password; use scram-sha-256' % (label, kind))
        fields = [kind, _names(rule, 'database', label), _names(rule, 'user', label)]
        if kind == 'local':
            if rule.get('address') is not None:
                raise AnsibleFilterError('%s: address is only for host lines, not local ones' % label)
        else:
            if not rule.get('address'):
                raise AnsibleFilterError('%s: address is required on %s lines' % (label, kind))
            fields.append(_address(rule['address'], label))
        fields.append(method)
        if rule.get('options'):
            options = str(rule['options'])
            if '\n' in options or '#' in options:
                raise AnsibleFilterError('%s: options must be one line without #' % label)
            fields.append(options)
        line = ' '.join(fields)
        if rule.get('comment'):
            line = '# %s\n%s' % (str(rule['comment']).replace('\n', ' '), line)
        lines.append(line)
    return lines


def _conf_value(name, value):
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        value = ','.join(str(item) for item in value)
    if not isinstance(value, str):
        raise AnsibleFilterError('setting %s: value must be a string, number, boolean or list, got %s'
                                 % (name, type(value).__name__))
    if '\n' in value:
        raise AnsibleFilterError('setting %s: value must be one line' % name)
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "''")


def pg_conf_lines(settings):
    """name = value lines for postgresql.conf includes."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError('PostgreSQL settings must be a dict of name: value, got %s' % type(settings).__name__)
    lines = []
    for name in sorted(settings):
        if not SETTING_NAME.match(str(name)):
            raise AnsibleFilterError('setting %r: not a valid PostgreSQL setting name' % (name,))
        if settings[name] is None:
            continue
        lines.append('%s = %s' % (name, _conf_value(name, settings[name])))
    return lines


class FilterModule(object):
    def filters(self):
        return {
            'hba_lines': hba_lines,
            'pg_conf_lines': pg_conf_lines,
        }
