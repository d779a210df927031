"""Validation of partitioned_table parameters before any SQL: parse_layout and check_bounds."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import (
    Bound, MAXVALUE, MINVALUE, check_bounds, parse_bound)
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import parse_layout

COLUMNS = [{'name': 'id', 'type': 'int'}, {'name': 'location', 'type': 'varchar'}]


def params(method, key, partitions, **extra):
    base = dict(name='public.t', side='coordinator', partitioning='declarative', state='present', columns=COLUMNS,
                partition_by={'method': method, 'key': key}, partitions=partitions, primary_key=None,
                route_via=None, prune_partitions=False, drop_data=False)
    base.update(extra)
    return base


def layout_of(p):
    """parse_layout, then the key categories resolve() would read from the server."""
    layout = parse_layout(p)
    layout.key_types = [('integer', 'N') if key == 'id' else ('character varying', 'S') for key in layout.key]
    return layout


def refused(p, *words):
    with pytest.raises(InvalidInput) as info:
        check_bounds(layout_of(p))
    for word in words:
        assert word in str(info.value)
    return str(info.value)


def test_overlapping_ranges_name_both_partitions():
    refused(params('range', 'id', [{'name': 'a', 'from': 'MINVALUE', 'to': 100},
                                   {'name': 'b', 'from': 50, 'to': 'MAXVALUE'}]), 'a and b overlap')


def test_ranges_compare_numbers_as_numbers_and_touching_ranges_pass():
    check_bounds(layout_of(params('range', 'id', [{'name': 'a', 'from': 9, 'to': 100},
                                                  {'name': 'b', 'from': 100, 'to': 'MAXVALUE'}])))
    refused(params('range', 'id', [{'name': 'a', 'from': 100, 'to': 9}]), 'a: the range', 'empty')


def test_duplicate_list_values():
    refused(params('list', 'location', [{'name': 'p', 'values': ['paris']},
                                        {'name': 'q', 'values': ['lagos', 'paris']}]), "'paris'", 'p and q')


def test_hash_remainders_duplicated_or_missing():
    refused(params('hash', 'id', [{'name': 'h0', 'modulus': 2, 'remainder': 0},
                                  {'name': 'h1', 'modulus': 4, 'remainder': 2}]), 'h0 and h1')
    refused(params('hash', 'id', [{'name': 'h0', 'modulus': 4, 'remainder': 0},
                                  {'name': 'h1', 'modulus': 4, 'remainder': 1}]), 'remainder 2, 3')
    refused(params('hash', 'id', [{'name': 'h0', 'modulus': 3, 'remainder': 0},
                                  {'name': 'h1', 'modulus': 4, 'remainder': 1}]), '3 does not divide 4')
    # a shard holds only some remainders
    check_bounds(layout_of(params('hash', 'id', [{'name': 'h1', 'modulus': 4, 'remainder': 1}], side='shard')))


def test_mixed_and_wrong_bound_kinds():
    refused(params('list', 'location', [{'name': 'x', 'values': ['a'], 'from': 1, 'to': 2}]), 'x:', 'list, range')
    refused(params('list', 'location', [{'name': 'x', 'modulus': 2, 'remainder': 0}]), 'hash bounds', 'list')
    refused(params('hash', 'id', [{'name': 'd', 'default': True}]), 'd:', 'default')
    refused(params('range', ['id', 'location'], [{'name': 'r', 'from': 1, 'to': [2, 'x']}]), 'r: from has 1 value')


def test_primary_key_rules():
    refused(params('list', 'location', [], primary_key=['id']), 'primary_key', 'location')
    refused(params('list', 'location', [{'name': 'p', 'values': ['paris'], 'server': 's1'}],
                   primary_key=['id', 'location']), 'foreign partitions (p)')


def test_types_are_type_names_only():
    bad = params('list', 'location', [])
    bad['columns'] = [{'name': 'id', 'type': "int; DROP TABLE x"}, {'name': 'location', 'type': 'text'}]
    refused(bad, 'columns: id', 'not a type name')
    good = params('list', 'location', [])
    good['columns'] = [{'name': 'id', 'type': 'numeric(10, 2)'}, {'name': 'location', 'type': 'character varying[]'},
                       {'name': 'at', 'type': 'timestamp(3) with time zone'}]
    parse_layout(good)


def test_catalog_bounds_parse_into_the_same_model():
    assert parse_bound("FOR VALUES IN ('paris', NULL, 'l''x')") == Bound('list', values=[None, "l'x", 'paris'])
    assert parse_bound("FOR VALUES FROM (MINVALUE) TO ('-5')") == Bound('range', lower=[MINVALUE], upper=['-5'])
    assert parse_bound("FOR VALUES FROM (1, 'a') TO (1, MAXVALUE)") == \
        Bound('range', lower=['1', 'a'], upper=['1', MAXVALUE])
    assert parse_bound('FOR VALUES WITH (modulus 4, remainder 3)') == Bound('hash', modulus=4, remainder=3)
    assert parse_bound('DEFAULT') == Bound('default')
    assert parse_bound("FOR VALUES IN ('a')") != Bound('list', values=['b'])
