"""Unit tests of the configuration filters (plugins/filter/config.py): pg_hba and conf.d lines."""

import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location('pgdist_filter_config', os.path.join(ROOT, 'plugins', 'filter', 'config.py'))
config = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(config)


@pytest.mark.parametrize('rule, message', [
    (dict(type='host', address='0.0.0.0/0', method='trust'), r'pgdist_hba_rules\[0\]: method trust is refused'),
    (dict(type='host', method='scram-sha-256'), 'address is required'),
    (dict(type='local', address='1.2.3.4', method='peer'), 'address is only for host lines'),
    (dict(type='host', address='::1', method='scram'), "method 'scram' is not one of"),
    (dict(type='hots', address='::1', method='md5'), "type 'hots'"),
    (dict(type='host', address='::1', method='md5', user='a b'), "user 'a b' must be one word"),
    (dict(type='host', address='::1', method='md5', adress='x'), 'unknown field'),
])
def test_hba_rules_are_validated(rule, message):
    with pytest.raises(AnsibleFilterError, match=message):
        config.hba_lines([], [rule])


def test_hba_lines_and_conf_lines():
    assert config.hba_lines([], [dict(type='hostssl', database=['a', 'b'], user='u', address='10.1.2.3',
                                      method='scram-sha-256')]) == ['hostssl a,b u 10.1.2.3/32 scram-sha-256']
    assert config.hba_lines([dict(type='local', user='postgres', method='trust', comment='admin')]) == [
        '# admin\nlocal all postgres trust']
    assert config.pg_conf_lines({'port': 5432, 'ssl': False, 'listen_addresses': "a'b", 'x.y': ['p', 'q'],
                                 'skip': None}) == ["listen_addresses = 'a''b'", 'port = 5432', 'ssl = off',
                                                    "x.y = 'p,q'"]
    with pytest.raises(AnsibleFilterError, match='not a valid PostgreSQL setting name'):
        config.pg_conf_lines({'bad name': 1})
