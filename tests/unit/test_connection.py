import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.connection import (
    ConnectionFailure, connect, connection_argument_spec, libpq_params, scrub)


def params(**values):
    base = dict((name, spec.get('default')) for name, spec in connection_argument_spec().items())
    base.update(values)
    return base


def test_unset_options_are_left_to_libpq_environment():
    assert libpq_params(params()) == dict(connect_timeout=10, application_name='pgdist.cluster')


def test_socket_directory_used_without_host_and_db_override():
    kwargs = libpq_params(params(login_unix_socket='/run/pg', db='a', ssl_mode='require', ca_cert='/ca'), 'b')
    assert kwargs['host'] == '/run/pg' and kwargs['dbname'] == 'b'
    assert kwargs['sslmode'] == 'require' and kwargs['sslrootcert'] == '/ca'
    assert libpq_params(params(login_host='h', login_unix_socket='/run/pg'))['host'] == 'h'


def test_scrub():
    assert scrub('a pw b pw', ['pw', None, '']) == 'a ******** b ********'


def test_connect_and_wrong_password_message(coordinator):
    login = dict(coordinator.login)
    conn = connect(params(db='postgres', **login))
    assert conn.autocommit is False
    conn.close()
    login['login_password'] = 'Wr0ng-pw-7'
    with pytest.raises(ConnectionFailure) as raised:
        connect(params(db='postgres', **login))
    message = str(raised.value)
    assert '127.0.0.1 port %d' % coordinator.port in message and 'user postgres' in message
    assert 'password authentication failed' in message
    assert 'Wr0ng-pw-7' not in message
