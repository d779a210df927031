"""Password verifiers against the ones a real PostgreSQL 15 stores."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.scram import (
    md5_verifier, password_matches, scram_verifier)

PASSWORDS = ['simple-pass', "qu'ote \"and\" spaces", 'p\u00e4ssw\u00f6rd-\u00f1', '\ufb01le-ligature', 'I\u00adX']


@pytest.fixture()
def stored_verifier(coordinator):
    """Create a role with the server hashing the password; return its pg_authid.rolpassword."""
    created = []

    def store(role, password, encryption):
        conn = coordinator.connect()
        with conn.cursor() as cursor:
            cursor.execute("SET password_encryption = %s", (encryption,))
            cursor.execute('DROP ROLE IF EXISTS "%s"' % role)
            cursor.execute('CREATE ROLE "%s" LOGIN PASSWORD %%s' % role, (password,))
            cursor.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
            verifier = cursor.fetchone()[0]
        conn.close()
        created.append(role)
        return verifier

    yield store
    for role in created:
        coordinator.query('DROP ROLE IF EXISTS "%s"' % role)


@pytest.mark.parametrize('password', PASSWORDS)
def test_matches_server_scram_verifier(stored_verifier, password):
    stored = stored_verifier('unit_scram', password, 'scram-sha-256')
    assert stored.startswith('SCRAM-SHA-256$4096:')
    assert password_matches(password, stored, 'unit_scram')
    assert not password_matches(password + 'x', stored, 'unit_scram')


@pytest.mark.parametrize('password', PASSWORDS[:3])
def test_matches_server_md5_verifier(stored_verifier, password):
    stored = stored_verifier('unit_md5', password, 'md5')
    assert stored == md5_verifier(password, 'unit_md5')
    assert password_matches(password, stored, 'unit_md5')
    assert not password_matches(password, stored, 'other_role')
    assert not password_matches('wrong', stored, 'unit_md5')


def test_no_or_unknown_verifier_never_matches():
    assert not password_matches('x', None, 'r')
    assert not password_matches('x', '', 'r')
    assert not password_matches('x', 'SCRAM-SHA-256$garbage', 'r')
    assert not password_matches('x', 'plaintext', 'r')


def test_our_verifier_is_accepted_by_the_server_for_login(coordinator):
    password = 'p\u00e4ss \ufb01 w0rd'
    verifier = scram_verifier(password)
    assert verifier != scram_verifier(password)  # fresh salt every time
    assert password_matches(password, verifier, 'any')
    coordinator.query('DROP ROLE IF EXISTS unit_login')
    coordinator.query('CREATE ROLE unit_login LOGIN PASSWORD %s', (verifier,))
    try:
        assert coordinator.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'unit_login'") == verifier
        conn = coordinator.connect(user='unit_login', password=password)
        with conn.cursor() as cursor:
            cursor.execute('SELECT current_user')
            assert cursor.fetchone() == ('unit_login',)
        conn.close()
    finally:
        coordinator.query('DROP ROLE unit_login')
