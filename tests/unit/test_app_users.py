"""Unit tests of the application users' part of pgdist_plan (plugins/module_utils/app_users.py): logins without
passwords, user mappings, grants that follow the inventory, pg_hba rules on the coordinator only; bad entries
refused naming the user and the field."""

import json

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from test_node_plan import build

SEEDS = [dict(name='booksample', partitioning='inheritance',
              columns=[dict(name='id', type='int'), dict(name='location', type='text')],
              partition_by=dict(method='list', key='location'),
              partitions=[dict(name='booksample_paris', values=['paris'], shard='s1')]),
         dict(name='lend', partitioning='inheritance',
              columns=[dict(name='booksample_id', type='int'), dict(name='location', type='text')],
              partition_by=dict(method='list', key='location'),
              route_via=dict(table='booksample', column='booksample_id', references='id'),
              partitions=[dict(name='lend_paris', values=['paris'], shard='s1')]),
         dict(name='shop.orders', columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
              partition_count=2)]


def plan(users, networks=None, **extra):
    return build(tables=SEEDS, app_users=users, app_networks=networks or [], **extra)


def grants(result):
    return [(g['role'], g['state'], ','.join(g['privileges']), g['tables']) for g in result['hosts']['c1']['app_grants']]


def test_a_writer_of_every_table_is_a_login_mapped_to_every_shard_with_a_hostssl_rule():
    result = plan([dict(name='app', password='secret', privileges='read_write', connection_limit=20)], ['10.1.0.0/24'])
    coordinator = result['hosts']['c1']
    assert coordinator['app_users'] == [dict(name='app', connection_limit=20)]
    assert 'secret' not in json.dumps(result)
    assert [(m['user'], m['server']) for m in coordinator['user_mappings']] == [
        ('postgres', 's1'), ('app', 's1'), ('postgres', 's2'), ('app', 's2')]
    relations = ['public.booksample', 'public.booksample_paris', 'public.countries', 'public.lend',
                 'public.lend_paris', 'shop.orders', 'shop.orders_p0', 'shop.orders_p1']
    assert grants(result) == [('app', 'present', 'SELECT,INSERT,UPDATE,DELETE', relations),
                              ('app', 'absent', 'TRUNCATE,REFERENCES,TRIGGER', relations)]
    assert all(g['with_usage'] for g in coordinator['app_grants'])
    rule = [r for r in coordinator['hba_rules'] if r.get('user') == ['app']]
    assert rule == [dict(type='hostssl', database='library', user=['app'], address='10.1.0.0/24',
                         method='scram-sha-256', comment='applications (pgdist_app_users) from 10.1.0.0/24')]
    for shard in ('s1', 's2', 'r1'):
        assert not result['hosts'][shard]['app_users'] and not result['hosts'][shard]['app_grants']
        assert not [r for r in result['hosts'][shard]['hba_rules'] if r.get('user') == ['app']]


def test_a_reader_of_some_tables_loses_the_others_and_writes():
    result = plan([dict(name='reader', password='x', tables=['lend', 'public.countries'], networks=['10.2.0.7'])],
                  ['10.1.0.0/24'])
    assert grants(result) == [
        ('reader', 'present', 'SELECT', ['public.lend', 'public.lend_paris', 'public.countries']),
        ('reader', 'absent', 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER',
         ['public.lend', 'public.lend_paris', 'public.countries']),
        ('reader', 'absent', 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER',
         ['public.booksample', 'public.booksample_paris', 'shop.orders', 'shop.orders_p0', 'shop.orders_p1'])]
    # Its own networks replace pgdist_app_networks; a bare address is one host.
    assert [r['address'] for r in result['hosts']['c1']['hba_rules'] if r.get('user') == ['reader']] == ['10.2.0.7/32']


def test_a_writer_of_lend_reads_the_table_its_routing_trigger_looks_up():
    result = plan([dict(name='app', password='x', privileges='read_write', tables=['lend'])])
    assert grants(result)[1] == ('app', 'present', 'SELECT', ['public.booksample'])
    # booksample keeps that SELECT: it is not among the tables whose privileges are revoked.
    assert 'public.booksample' not in grants(result)[-1][3]


def test_users_of_one_network_share_its_rule():
    result = plan([dict(name='a', password='x'), dict(name='b', password='y', networks=[]), dict(name='c', password='z')],
                  ['10.1.0.0/24', 'app.example.com'])
    rules = [(r['address'], r['user']) for r in result['hosts']['c1']['hba_rules'] if 'applications' in r.get('comment', '')]
    assert rules == [('10.1.0.0/24', ['a', 'c']), ('app.example.com', ['a', 'c'])]


@pytest.mark.parametrize('users, networks, message', [
    ([dict(name='app', password='x', privileges='admin')], [], "pgdist_app_users[0] (app): privileges 'admin' is not one of"),
    ([dict(name='app', password='x', tabels=['lend'])], [], "pgdist_app_users[0] (app): unknown key(s) tabels; known: name"),
    ([dict(name='app')], [], 'pgdist_app_users[0] (app): password is required'),
    ([dict(name='app', password='')], [], 'pgdist_app_users[0] (app): password is required'),
    ([dict(password='x')], [], 'pgdist_app_users[0]: every user needs a name'),
    ([dict(name='app', password='x', tables=['nosuch'])], [],
     'pgdist_app_users[0] (app): tables[0]: public.nosuch is neither in pgdist_tables nor in pgdist_reference_tables '
     '(known: public.booksample, public.countries, public.lend, shop.orders)'),
    ([dict(name='app', password='x'), dict(name='app', password='y')], [], 'pgdist_app_users[1] (app): the user is listed twice'),
    ([dict(name='pgdist_fdw', password='x')], [], "pgdist_fdw is the collection's own fdw user"),
    ([dict(name='postgres', password='x')], [], "postgres is the collection's own superuser"),
    ([dict(name='app', password='x', connection_limit='many')], [], 'connection_limit must be an integer'),
    ([dict(name='app', password='x')], ['10.0.0.0/8 trust'], "pgdist_app_networks[0]: '10.0.0.0/8 trust' is neither"),
    ([dict(name='app', password='x', networks='10.0.0.0/8')], [], 'pgdist_app_users[0] (app): networks must be a list'),
    ({'name': 'app'}, [], 'pgdist_app_users must be a list'),
])
def test_bad_entries_are_refused_naming_the_user_and_the_field(users, networks, message):
    with pytest.raises(InvalidInput) as error:
        plan(users, networks)
    assert message in str(error.value)
    assert "'x'" not in str(error.value) and 'password=' not in str(error.value)


def test_without_app_users_the_plan_is_as_before():
    result = build(tables=SEEDS)
    assert result['hosts']['c1']['app_users'] == [] and result['hosts']['c1']['app_grants'] == []
    assert [m['user'] for m in result['hosts']['c1']['user_mappings']] == ['postgres', 'postgres']
