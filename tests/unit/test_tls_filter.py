"""Unit tests of the TLS filters (plugins/filter/tls.py)."""

import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location('pgdist_filter_tls', os.path.join(ROOT, 'plugins', 'filter', 'tls.py'))
tls = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tls)


def test_peer_ssl_options():
    assert tls.peer_ssl_options(False) == {}
    assert tls.peer_ssl_options('false', '/ca.crt') == {}
    assert tls.peer_ssl_options(True) == {'sslmode': 'require'}
    assert tls.peer_ssl_options(True, '') == {'sslmode': 'require'}
    assert tls.peer_ssl_options(True, '/etc/pki/ca.crt') == {'sslmode': 'verify-full', 'sslrootcert': '/etc/pki/ca.crt'}


def test_peer_ssl_options_refuses_bad_values():
    with pytest.raises(AnsibleFilterError, match='pgdist_ssl must be a boolean'):
        tls.peer_ssl_options('maybe')
    with pytest.raises(AnsibleFilterError, match='pgdist_ssl_ca_file must be an absolute path'):
        tls.peer_ssl_options(True, 'ca.crt')


def test_hba_require_ssl():
    rules = [{'type': 'local', 'method': 'peer'}, {'type': 'host', 'address': '10.0.0.1', 'method': 'scram-sha-256'},
             {'address': '10.0.0.2', 'method': 'scram-sha-256'}, {'type': 'hostnossl', 'address': '10.0.0.3', 'method': 'reject'}]
    assert tls.hba_require_ssl(rules, False) == rules
    assert [rule.get('type') for rule in tls.hba_require_ssl(rules, True)] == ['local', 'hostssl', 'hostssl', 'hostnossl']
    assert rules[1]['type'] == 'host'
    with pytest.raises(AnsibleFilterError, match='must be a list'):
        tls.hba_require_ssl({'type': 'host'}, True)
