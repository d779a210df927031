"""Bad input at the role level (issue 8, point 4): site.yml on a deployed private copy of
inventories/local (clusters pgdist_badin_*, ports 55482-55484) with one bad variable at a time.
Each case must fail with a message naming the field, and leave everything as it was: catalog
snapshots of every host (roles with their verifiers, databases, extensions, servers, mappings,
relations), the checksums of the files the server role writes, and the time PostgreSQL last
loaded its configuration (no reload, no restart)."""

import copy
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.variant import Variant  # noqa: E402

INJECTION = "x'); DROP TABLE parent; --"


def table(name, **extra):
    spec = dict(name=name, columns=[dict(name='id', type='bigint'), dict(name='region', type='text')],
                partition_by=dict(method='list', key='region'),
                partitions=[dict(name=name + '_a', values=['a'], shard='shard1')])
    spec.update(extra)
    return spec


def hash_table(name, **extra):
    spec = dict(name=name, columns=[dict(name='id', type='bigint')], partition_by=dict(method='hash', key='id'),
                partition_count=2)
    spec.update(extra)
    return spec


# (case id, variables (pgdist_tables entries are appended to the inventory's tables), words the error must contain)
CASES = [
    # Wrong types and unknown choices: the roles' argument_specs stop them before any task.
    ('ssl-not-a-bool', {'pgdist_ssl': 'maybe'}, ["'pgdist_ssl'", 'bool']),
    ('port-not-an-int', {'pgdist_port': '55a'}, ["'pgdist_port'", 'int']),
    ('password-encryption-unknown-choice', {'pgdist_password_encryption': 'plain'},
     ["pgdist_password_encryption", 'scram-sha-256']),
    ('tables-not-a-list', {'pgdist_tables': 'events'}, ["'pgdist_tables'", 'dict']),
    ('mapped-users-not-a-list', {'pgdist_fdw_mapped_users': {'postgres': 1}}, ["'pgdist_fdw_mapped_users'", 'list']),
    ('hba-rules-not-a-list', {'pgdist_hba_rules': 'host all all 0.0.0.0/0 trust'}, ["'pgdist_hba_rules'"]),
    ('settings-not-a-dict', {'pgdist_postgresql_settings': ['work_mem']}, ["'pgdist_postgresql_settings'", 'dict']),
    ('server-options-not-a-dict', {'pgdist_foreign_server_options': ['fetch_size', '1']},
     ["'pgdist_foreign_server_options'", 'dict']),
    ('generated-days-not-an-int', {'pgdist_ssl_generated_days': 'forever'}, ["'pgdist_ssl_generated_days'"]),
    # Missing secret.
    ('fdw-password-missing', {'pgdist_fdw_password': None}, ['pgdist_fdw_password']),
    # Placement.
    ('partition-on-a-shard-not-in-the-inventory',
     {'pgdist_tables': [table('bad_place', partitions=[dict(name='bad_place_a', values=['a'], shard='shard9')])]},
     ['bad_place', "shard 'shard9'", 'not in the shards group']),
    ('hash-spread-over-an-unknown-shard', {'pgdist_tables': [hash_table('bad_spread', shards=['shard1', 'shard9'])]},
     ['bad_spread', "'shard9'", 'not in the shards group']),
    ('partition-count-zero', {'pgdist_tables': [hash_table('bad_count', partition_count=0)]},
     ['bad_count', 'partition_count must be a positive integer']),
    ('partition-count-on-a-list-table', {'pgdist_tables': [hash_table('bad_method', partition_by=dict(
        method='list', key='id'))]}, ['bad_method', 'partition_count needs partition_by.method hash']),
    # Table keys: checked against partitioned_table's argument spec in the plan, before any host is touched (issue
    # 27; tests/unit/test_table_spec.py has the other malformed entries).
    ('table-key-typo', {'pgdist_tables': [dict(table('bad_typo'), partiton_count=4)]},
     ['pgdist_tables[4] (bad_typo)', 'unknown key(s) partiton_count', 'known: ', 'partition_count']),
    ('table-listed-twice', {'pgdist_tables': [hash_table('events')]}, ['(events)', 'listed twice']),
    # Tables: identifiers, types, bounds (the partitioned_table module, on the shard first).
    ('type-injection', {'pgdist_tables': [table('bad_type', columns=[
        dict(name='id', type='int); DROP TABLE parent; --'), dict(name='region', type='text')])]},
     ['columns', 'type']),
    ('table-name-too-long', {'pgdist_tables': [table('t' * 70)]}, ['63 bytes']),
    ('column-name-with-nul', {'pgdist_tables': [table('bad_nul', columns=[
        dict(name='id\u0000; --', type='int'), dict(name='region', type='text')])]},
     ['columns', 'NUL']),
    ('overlapping-range-bounds', {'pgdist_tables': [dict(
        name='bad_overlap', columns=[dict(name='id', type='bigint')], partition_by=dict(method='range', key='id'),
        partitions=[dict(name='bad_overlap_a', **{'from': 0, 'to': 100}, shard='shard1'),
                    dict(name='bad_overlap_b', **{'from': 50, 'to': 200}, shard='shard1')])]},
     ['bad_overlap_a', 'bad_overlap_b', 'overlap']),
    ('list-value-of-the-wrong-type', {'pgdist_tables': [table('bad_value', partition_by=dict(method='list', key='id'),
                                                              partitions=[dict(name='bad_value_a', values=[INJECTION],
                                                                               shard='shard1')])]},
     ['partitions', 'key column id (bigint)', 'invalid input syntax']),
    # Option values and configuration text: values stay values, never SQL or configuration lines.
    ('server-option-value-injection', {'pgdist_foreign_server_options': {'fetch_size': "100'); DROP TABLE parent; --"}},
     ['fetch_size']),
    ('server-option-unknown', {'pgdist_foreign_server_options': {'fetch_sise': '100'}}, ['fetch_sise']),
    ('hba-address-injection', {'pgdist_hba_rules': [dict(type='host', database='all', user='all', method='scram-sha-256',
                                                         address='10.0.0.1/32 trust\nhost all all 0.0.0.0/0')]},
     ['pgdist_hba_rules[0]', 'address']),
    ('hba-trust-over-tcp', {'pgdist_hba_rules': [dict(type='hostssl', database='all', user='all', method='trust',
                                                      address='10.0.0.0/8')]},
     ['pgdist_hba_rules[0]', 'method trust is refused']),
    ('setting-name-injection', {'pgdist_postgresql_settings': {"work_mem = '1MB'\nssl": 'off'}},
     ['not a valid PostgreSQL setting name']),
    ('setting-value-injection', {'pgdist_postgresql_settings': {'work_mem': "1MB'\nssl = off"}},
     ['setting work_mem', 'one line']),
    # Monitoring: refused in the plan, before any host installs or changes anything.
    ('monitoring-port-out-of-range', {'pgdist_monitoring_enabled': True, 'pgdist_monitoring_password': 'Mon-pw_1',
                                      'pgdist_monitoring_port': 70000},
     ['pgdist_monitoring_port must be a TCP port (1-65535), got 70000']),
    ('monitoring-without-password', {'pgdist_monitoring_enabled': True},
     ['pgdist_monitoring_password is required when a node has pgdist_monitoring_enabled']),
    ('monitoring-password-the-exporter-cannot-use', {'pgdist_monitoring_enabled': True,
                                                     'pgdist_monitoring_password': "it's secret"},
     ['pgdist_monitoring_password: the exporter cannot use a password with a quote']),
    # TLS files.
    ('ssl-cert-without-key', {'pgdist_ssl_cert_file': '/etc/ssl/certs/ssl-cert-snakeoil.pem'},
     ['pgdist_ssl_cert_file and pgdist_ssl_key_file go together']),
    ('ssl-ca-without-certificates', {'pgdist_ssl_ca_file': '/etc/ssl/certs/ca-certificates.crt'},
     ['pgdist_ssl_ca_file needs pgdist_ssl_cert_file']),
    ('ssl-cert-file-missing', {'pgdist_ssl_cert_file': '/nonexistent/server.crt', 'pgdist_ssl_key_file': '/nonexistent/server.key'},
     ['pgdist_ssl_cert_file /nonexistent/server.crt is not a file']),
]


@pytest.fixture(scope='module')
def variant():
    variant = Variant('badin', 55482)
    try:
        variant.deploy()
        yield variant
    finally:
        variant.drop()


def check_refused(variant, extra_vars, expected, group_vars=None):
    before = variant.state()
    saved = copy.deepcopy(variant.group_vars)
    try:
        if group_vars is not None:
            variant.group_vars = group_vars
            variant.write_group_vars()
        run = variant.run(extra_vars=extra_vars)
    finally:
        variant.group_vars = saved
        variant.write_group_vars()
    assert not run.ok, 'site.yml accepted it:\n%s' % run.stdout[-3000:]
    failed = []
    for host in variant.hosts:
        for result in run.results(host):
            if result.get('failed') or result.get('unreachable'):
                # A loop's own msg only says that an item failed: the items say why.
                failed += [result.get('msg', '')] + [item.get('msg', '') for item in result.get('results', [])
                                                     if isinstance(item, dict) and item.get('failed')]
    assert failed, run.stdout[-3000:]
    text = '\n'.join(str(message) for message in failed)
    for word in expected:
        assert word in text, 'expected %r in the error:\n%s' % (word, text)
    assert not any(run.changed(host) for host in variant.hosts), variant.changed(run)
    assert variant.state() == before


@pytest.mark.parametrize('case', CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_changes_nothing(variant, case):
    _name, variables, expected = case
    variables = copy.deepcopy(variables)
    group_vars = None
    if 'pgdist_tables' in variables and isinstance(variables['pgdist_tables'], list):
        variables['pgdist_tables'] = variant.group_vars['pgdist_tables'] + variables['pgdist_tables']
    if variables.get('pgdist_fdw_password', '') is None:
        # Extra vars cannot unset a variable: take it out of group_vars instead.
        del variables['pgdist_fdw_password']
        group_vars = dict((key, value) for key, value in variant.group_vars.items() if key != 'pgdist_fdw_password')
    check_refused(variant, variables, expected, group_vars)


def test_private_key_readable_by_others_is_refused(variant):
    directory = tempfile.mkdtemp(prefix='pgdist-badkey-')
    try:
        os.chmod(directory, 0o755)
        for name in ('server.crt', 'server.key'):
            with open(os.path.join(directory, name), 'w') as handle:
                handle.write('not really PEM\n')
            os.chmod(os.path.join(directory, name), 0o644)
        check_refused(variant, {'pgdist_ssl_cert_file': directory + '/server.crt',
                                'pgdist_ssl_key_file': directory + '/server.key'},
                      ['pgdist_ssl_key_file %s/server.key must belong to postgres with mode 0600' % directory])
    finally:
        for name in ('server.crt', 'server.key'):
            os.remove(os.path.join(directory, name))
        os.rmdir(directory)
