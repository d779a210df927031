# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of pgdist.cluster.partitioned_table, and the pgdist_tables entries checked against it.

One spec, two users: the module builds its AnsibleModule from ARGUMENT_SPEC,
and the plan (topology.place_partitions, on the controller, before any host
is touched) checks every pgdist_tables entry against the same spec plus the
keys that only drive placement. An option added to the module is known to
the plan the moment it exists, so the two cannot drift apart.

check_table_entry() reports an unknown key with the table, the path of the
key and the known ones (as pgdist_reference_tables and
pgdist_extension_settings do), then lets ansible's own ArgumentSpecValidator
(the one AnsibleModule runs) judge types, choices and required keys, so a
value the plan accepts is one the module accepts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import parse_layout

INDEX_METHODS = ['btree', 'hash', 'gist', 'gin', 'brin', 'spgist']

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    side=dict(type='str', choices=['coordinator', 'shard', 'plain'], default='coordinator'),
    partitioning=dict(type='str', choices=['declarative', 'inheritance'], default='declarative'),
    columns=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True),
        nullable=dict(type='bool', default=True),
        default=dict(type='raw'),
        default_expression=dict(type='str'),
        sequence=dict(type='bool', default=False),
    )),
    primary_key=dict(type='list', elements='str', no_log=False),
    partition_by=dict(type='dict', options=dict(
        method=dict(type='str', choices=['range', 'list', 'hash'], required=True),
        key=dict(type='list', elements='str', required=True, no_log=False),
    )),
    partitions=dict(type='list', elements='dict', default=[], options={
        'name': dict(type='str', required=True),
        'values': dict(type='list', elements='raw'),
        'from': dict(type='raw'),
        'to': dict(type='raw'),
        'modulus': dict(type='int'),
        'remainder': dict(type='int'),
        'default': dict(type='bool', default=False),
        'server': dict(type='str'),
        'remote_schema': dict(type='str'),
        'remote_table': dict(type='str'),
        'options': dict(type='dict'),
        'elsewhere': dict(type='bool', default=False),
    }),
    route_via=dict(type='dict', options=dict(
        table=dict(type='str', required=True),
        column=dict(type='str', required=True),
        references=dict(type='str', required=True),
    )),
    route_trigger=dict(type='dict', options=dict(
        name=dict(type='str'),
        function=dict(type='str'),
    )),
    indexes=dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='str', required=True),
        columns=dict(type='list', elements='str', required=True),
        unique=dict(type='bool', default=False),
        where=dict(type='str'),
        method=dict(type='str', choices=INDEX_METHODS, default='btree'),
    )),
    checks=dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='str', required=True),
        expression=dict(type='str', required=True),
    )),
    foreign_keys=dict(type='list', elements='dict', default=[], no_log=False, options=dict(
        name=dict(type='str', required=True),
        columns=dict(type='list', elements='str', required=True),
        references=dict(type='dict', required=True, options=dict(
            table=dict(type='str', required=True),
            columns=dict(type='list', elements='str', required=True),
        )),
    )),
    key_update=dict(type='str', choices=['refuse', 'move'], default='refuse'),
    prune_partitions=dict(type='bool', default=False),
    drop_data=dict(type='bool', default=False),
    analyze=dict(type='bool', default=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)
REQUIRED_IF = [('state', 'present', ('columns',))]

# What a pgdist_tables entry adds to the module's options (placement: topology.py), and what it leaves out:
# the plan decides the side of each host's copy, and which partitions another shard holds.
PLACEMENT_OPTIONS = dict(
    partition_count=dict(type='int'),
    shards=dict(type='list', elements='str'),
    partition_options=dict(type='dict'),
)
PARTITION_PLACEMENT_OPTIONS = dict(shard=dict(type='str'))
PLAN_DECIDES = ('side',)
PARTITION_PLAN_DECIDES = ('elsewhere',)


def table_entry_spec():
    """The spec of one pgdist_tables entry: the module's, with placement keys instead of what the plan decides."""
    spec = copy.deepcopy(ARGUMENT_SPEC)
    for key in PLAN_DECIDES:
        del spec[key]
    spec.update(copy.deepcopy(PLACEMENT_OPTIONS))
    partitions = spec['partitions']['options']
    for key in PARTITION_PLAN_DECIDES:
        del partitions[key]
    partitions.update(copy.deepcopy(PARTITION_PLACEMENT_OPTIONS))
    return spec


def _item_label(item, index):
    name = item.get('name') if isinstance(item, dict) else None
    return '[%d] (%s)' % (index, name) if isinstance(name, str) and name else '[%d]' % index


def _unknown_keys(value, spec, path):
    """'path: unknown key(s) a; known: b, c' for the first dict of value (nested as spec says) with unknown keys."""
    if not isinstance(value, dict):
        return None
    unknown = sorted(str(key) for key in set(value) - set(spec))
    if unknown:
        return '%sunknown key(s) %s; known: %s' % (path and path + ': ', ', '.join(unknown), ', '.join(sorted(spec)))
    for key in sorted(spec):
        options, item = spec[key].get('options'), value.get(key)
        if not options or item is None:
            continue
        if spec[key].get('type') == 'list' and isinstance(item, list):
            for index, element in enumerate(item):
                found = _unknown_keys(element, options, '%s%s%s' % (path and path + '.', key, _item_label(element, index)))
                if found:
                    return found
        else:
            found = _unknown_keys(item, options, '%s%s' % (path and path + '.', key))
            if found:
                return found
    return None


def check_table_entry(table, label):
    """Refuse a pgdist_tables entry the module would refuse by its spec, naming label, the field and why."""
    spec = table_entry_spec()
    unknown = _unknown_keys(table, spec, '')
    if unknown:
        raise InvalidInput('%s: %s' % (label, unknown))
    result = ArgumentSpecValidator(spec, required_if=REQUIRED_IF).validate(copy.deepcopy(table))
    errors = [error for error in result.errors.errors if not isinstance(error, UnsupportedError)]
    if errors:
        raise InvalidInput('%s: %s' % (label, '; '.join(str(error) for error in errors)))


def check_layout(spec, label):
    """Refuse module arguments (one side of a placed table) that parse_layout refuses, prefixed with label.

    The checks of the module that need no server (bounds of the wrong kind, a primary key without the
    partition key, index columns that are not columns, ...) then fail in the plan, before any host is touched.
    """
    result = ArgumentSpecValidator(ARGUMENT_SPEC, required_if=REQUIRED_IF).validate(copy.deepcopy(spec))
    errors = [str(error) for error in result.errors.errors]
    if errors:
        raise InvalidInput('%s: %s' % (label, '; '.join(errors)))
    try:
        parse_layout(result.validated_parameters)
    except InvalidInput as exc:
        raise InvalidInput('%s: %s' % (label, exc))
