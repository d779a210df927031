"""pgdist_tables entries checked against partitioned_table's own argument spec (issue 27, item 2), in the plan,
before any host is touched: unknown keys (also nested), wrong types, bad choices, missing required keys and what
the module's parse_layout refuses, each naming the table and the field. One spec for module and plan, and the
tables role forwards every option of it."""

import os

import pytest
import yaml

from ansible_collections.pgdist.cluster.plugins.module_utils import topology
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.argspec import (
    ARGUMENT_SPEC, PLAN_DECIDES, table_entry_spec)
from support.ansible import REPO

COLUMNS = [dict(name='id', type='bigint', nullable=False), dict(name='k', type='int'), dict(name='c', type='text')]


def table(**extra):
    spec = dict(name='sbtest1', columns=COLUMNS, partition_by=dict(method='hash', key='id'), partition_count=2)
    spec.update(extra)
    return spec


def listed(**extra):
    spec = dict(name='orders', columns=COLUMNS, partition_by=dict(method='list', key='k'),
                partitions=[dict(name='orders_a', values=[1], shard='s1'), dict(name='orders_b', values=[2])])
    spec.update(extra)
    return spec


def refused(entry, shards=('s1', 's2')):
    with pytest.raises(InvalidInput) as raised:
        topology.place_partitions([entry], list(shards))
    return str(raised.value)


def test_the_typo_of_the_issue_is_refused_naming_it_and_the_known_keys():
    message = refused(table(partiton_count=4))
    assert message.startswith('pgdist_tables[0] (sbtest1): unknown key(s) partiton_count; known: ')
    assert 'partition_count' in message.split('known: ')[1] and 'indexes' in message


@pytest.mark.parametrize('entry, words', [
    # unknown nested keys, with the path of the entry they are in
    (listed(partitions=[dict(name='orders_a', values=[1], shrad='s1')]),
     ['pgdist_tables[0] (orders)', 'partitions[0] (orders_a): unknown key(s) shrad', 'known: ', 'shard']),
    (table(columns=[dict(name='id', type='bigint', nulable=False)]),
     ['columns[0] (id): unknown key(s) nulable', 'nullable']),
    (table(partition_by=dict(method='hash', key='id', keys=['id'])), ['partition_by: unknown key(s) keys']),
    (table(indexes=[dict(name='k_1', columns=['k'], uniqe=True)]), ['indexes[0] (k_1): unknown key(s) uniqe']),
    (table(foreign_keys=[dict(name='fk', columns=['k'], references=dict(table='t', column=['id']))]),
     ['foreign_keys[0] (fk).references: unknown key(s) column', 'known: columns, table']),
    # what the plan decides is not a table key
    (table(side='plain'), ['unknown key(s) side']),
    # wrong types
    (table(partition_count='four'), ['partition_count', 'int']),
    (table(columns=[dict(name='id', type='bigint', nullable='sometimes')]), ['nullable', 'bool']),
    (table(indexes=[dict(name='k_1', columns='k', unique='yes please')]), ['unique', 'bool']),
    # bad choices
    (table(partition_by=dict(method='rnage', key='id')), ['method must be one of: range, list, hash', 'rnage']),
    (table(indexes=[dict(name='k_1', columns=['k'], method='bree')]), ['method must be one of', 'bree']),
    (table(key_update='moved'), ['key_update must be one of: refuse, move', 'moved']),
    # missing required keys
    (table(partition_by=dict(method='hash')), ['missing required arguments: key', 'partition_by']),
    (table(columns=[dict(name='id')]), ['missing required arguments: type', 'columns']),
    (table(checks=[dict(name='k_positive')]), ['missing required arguments: expression', 'checks']),
    (table(columns=None), ['columns']),
    # what the module refuses without a server
    (listed(partitions=[dict(name='orders_a', **{'from': 1, 'to': 2}, shard='s1')]),
     ['pgdist_tables[0] (orders)', 'orders_a: range bounds given for a table partitioned by list']),
    (table(primary_key=['k']), ['primary_key: must include the partition key column(s) id']),
    (table(indexes=[dict(name='k_1', columns=['missing'])]), ['indexes: k_1: missing is not in columns']),
    (table(indexes=[dict(name='c_1', columns=['c'], unique=True)]), ['c_1', 'must include the partition key']),
    (table(columns=[dict(name='id', type='bigint', sequence=True, default=1)]), ['columns: id', 'sequence']),
])
def test_malformed_entries_are_refused_naming_the_field(entry, words):
    message = refused(entry)
    assert message.startswith('pgdist_tables[0] ('), message
    for word in words:
        assert word in message, 'expected %r in %r' % (word, message)


def test_the_table_spec_is_the_modules_with_the_placement_keys():
    spec = table_entry_spec()
    assert set(spec) == (set(ARGUMENT_SPEC) - set(PLAN_DECIDES)) | set(topology.TOPOLOGY_KEYS)
    assert 'shard' in spec['partitions']['options'] and 'elsewhere' not in spec['partitions']['options']
    assert spec['columns'] == ARGUMENT_SPEC['columns']


def test_the_tables_role_forwards_every_option_of_the_module():
    with open(os.path.join(REPO, 'roles', 'tables', 'tasks', 'main.yml')) as handle:
        tasks = yaml.safe_load(handle)
    calls = [inner['pgdist.cluster.partitioned_table'] for task in tasks for inner in task.get('block', [])
             if 'pgdist.cluster.partitioned_table' in inner]
    assert len(calls) == 2 and calls[0] == calls[1]  # one anchor: reference tables, then the others
    connection = {'db', 'login_user', 'login_password'}
    assert set(calls[0]) - connection == set(ARGUMENT_SPEC)


def test_foreign_keys_of_tables_on_shards_reference_reference_tables_only():
    placed = topology.place_partitions([listed(foreign_keys=[dict(
        name='known', columns=['c'], references=dict(table='countries', columns=['code']))])], ['s1'])
    assert topology.referenced_tables(placed) == ['public.countries']
    topology.check_foreign_keys(placed, ['public.countries'])
    with pytest.raises(InvalidInput, match=r'pgdist_tables\[0\] \(orders\): foreign_keys: public.countries is not in '
                                           r'pgdist_reference_tables \(none\)'):
        topology.check_foreign_keys(placed, [])
    # All partitions local: the coordinator itself enforces it, against any table.
    local = topology.place_partitions([listed(partitions=[dict(name='orders_b', values=[2])], foreign_keys=[dict(
        name='known', columns=['c'], references=dict(table='other.things', columns=['code']))])], ['s1'])
    topology.check_foreign_keys(local, [])
