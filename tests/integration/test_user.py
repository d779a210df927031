"""pgdist.cluster.user on shard2: attributes, connection limit, SCRAM/MD5 password comparison, on_create, absent."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.snapshot import snapshot
from support.tasks import by_name, task

PASSWORD = 'T2-user-pw-1'


def verifier(cluster, name):
    return cluster.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,))


def attributes(cluster, name):
    return cluster.query("SELECT rolcanlogin, rolcreatedb, rolreplication, rolsuper, rolconnlimit FROM pg_roles "
                         "WHERE rolname = %s", (name,))


def can_login(cluster, name, password):
    try:
        cluster.connect(user=name, password=password).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_user_lifecycle(shard2):
    wanted = dict(name='t2_app', password=PASSWORD, attributes=['CREATEDB', 'replication', 'NOSUPERUSER'],
                  connection_limit=5)
    first = run_tasks([task('user', 'user', shard2, **wanted)], diff=True)
    assert first.ok, first.stdout
    result = by_name(first)['user']
    assert result['changed'] and result['password_changed']
    assert result['queries'] == ['CREATE ROLE "t2_app" LOGIN CREATEDB REPLICATION NOSUPERUSER CONNECTION LIMIT 5 '
                                 'PASSWORD \'********\'']
    assert result['diff']['before'] == {} and result['diff']['after']['rolcreatedb'] is True
    assert attributes(shard2, 't2_app') == [(True, True, True, False, 5)]
    assert verifier(shard2, 't2_app').startswith('SCRAM-SHA-256$4096:')
    assert can_login(shard2, 't2_app', PASSWORD)

    again = run_tasks([task('user', 'user', shard2, **wanted)])
    assert again.ok and again.changed('localhost') == 0
    assert not by_name(again)['user']['password_changed']

    # Check mode: limit and login change planned, catalog untouched.
    before = snapshot(shard2)
    changes = dict(wanted)
    changes.update(connection_limit=-1, login=False)
    check = run_tasks([task('user', 'user', shard2, **changes)], check=True, diff=True)
    result = by_name(check)['user']
    assert check.ok and result['changed'] and not result['password_changed']
    assert result['queries'] == ['ALTER ROLE "t2_app" NOLOGIN CONNECTION LIMIT  -1']
    assert result['diff']['before']['connection_limit'] == 5 and result['diff']['after']['connection_limit'] == -1
    assert result['diff']['before']['rolcanlogin'] is True and result['diff']['after']['rolcanlogin'] is False
    assert snapshot(shard2) == before

    applied = run_tasks([task('user', 'user', shard2, **changes)])
    assert applied.ok and applied.changed('localhost') == 1
    assert attributes(shard2, 't2_app') == [(False, True, True, False, -1)]


@pytest.mark.parametrize('encryption, prefix', [('scram-sha-256', 'SCRAM-SHA-256$'), ('md5', 'md5')])
def test_password_compared_with_server_stored_verifier(shard2, encryption, prefix):
    role = 't2_pw_' + encryption.replace('-', '_')
    conn = shard2.connect()
    with conn.cursor() as cursor:
        cursor.execute("SET password_encryption = %s", (encryption,))
        cursor.execute('CREATE ROLE %s LOGIN PASSWORD %%s' % role, (PASSWORD,))
    conn.close()
    stored = verifier(shard2, role)
    assert stored.startswith(prefix)
    run = run_tasks([
        task('same', 'user', shard2, name=role, password=PASSWORD),
        task('on_create', 'user', shard2, name=role, password='other-pw-1', update_password='on_create'),
    ])
    results = by_name(run)
    assert run.ok and not results['on_create']['changed'] and not results['on_create']['password_changed']
    if prefix == 'md5' and shard2.major >= 18:
        # PostgreSQL 18 deprecates MD5: the same password is stored again as SCRAM-SHA-256, once
        assert results['same']['changed'] and results['same']['password_changed']
        assert any('MD5, which PostgreSQL 18 deprecates' in warning for warning in results['same']['warnings'])
        assert verifier(shard2, role).startswith('SCRAM-SHA-256$') and can_login(shard2, role, PASSWORD)
        stored = verifier(shard2, role)
        again = run_tasks([task('same', 'user', shard2, name=role, password=PASSWORD)])
        assert again.ok and again.changed('localhost') == 0
    else:
        assert run.changed('localhost') == 0 and not results['same']['password_changed']
    assert verifier(shard2, role) == stored

    changed = run_tasks([task('new', 'user', shard2, name=role, password='other-pw-2')])
    assert changed.ok and changed.changed('localhost') == 1
    assert verifier(shard2, role).startswith('SCRAM-SHA-256$')  # new passwords are stored as SCRAM
    assert can_login(shard2, role, 'other-pw-2') and not can_login(shard2, role, PASSWORD)


def test_bad_attribute_and_absent(shard2):
    shard2.query('CREATE ROLE t2_gone')
    before = snapshot(shard2)
    run = run_tasks([
        task('bad', 'user', shard2, name='t2_gone', attributes=['CREATEDB', 'SUPERPOWERS'],
             _task={'ignore_errors': True}),
        task('contradiction', 'user', shard2, name='t2_gone', attributes=['NOLOGIN'],
             _task={'ignore_errors': True}),
        task('drop', 'user', shard2, name='t2_gone', state='absent', _task={'check_mode': True}),
    ])
    results = by_name(run)
    assert results['bad']['failed'] and "attributes: unknown role attribute 'SUPERPOWERS'" in results['bad']['msg']
    assert results['contradiction']['failed'] and 'login' in results['contradiction']['msg']
    assert results['drop']['changed']
    assert snapshot(shard2) == before
    run = run_tasks([task('drop', 'user', shard2, name='t2_gone', state='absent'),
                     task('again', 'user', shard2, name='t2_gone', state='absent')])
    results = by_name(run)
    assert results['drop']['changed'] and not results['again']['changed']
    assert shard2.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 't2_gone'") == 0


def test_createrole_alone_alters_only_the_roles_it_administers_from_16(shard2):
    """Up to 15 CREATEROLE alters any role that is not a superuser; from 16 on it needs ADMIN OPTION on the
    role (which it gets on the roles it creates), and the module refuses without it, in check mode too."""
    shard2.query("CREATE ROLE t2_admin LOGIN CREATEROLE PASSWORD 'Adm1n-pw-x'")
    shard2.query("CREATE ROLE t2_others LOGIN")
    login = dict(shard2.login, login_user='t2_admin', login_password='Adm1n-pw-x', db='postgres')
    ignore = {'ignore_errors': True}

    def tasks(check=False):
        """As t2_admin: create and alter a role of its own, alter one of others, plan dropping it."""
        return [task('own', 'user', None, name='t2_own', connection_limit=3, _task=dict(ignore, check_mode=check)),
                task('others', 'user', None, name='t2_others', connection_limit=2,
                     _task=dict(ignore, check_mode=check)),
                task('drop others', 'user', None, name='t2_others', state='absent',
                     _task=dict(ignore, check_mode=True))]
    refusal = ('name: t2_admin may not alter or drop role t2_others: from PostgreSQL 16 on that needs the ADMIN '
               'OPTION on t2_others, CREATEROLE alone no longer suffices (as a superuser or a role holding it: '
               'GRANT t2_others TO t2_admin WITH ADMIN OPTION)')
    before = snapshot(shard2)
    for check in (True, False):
        results = by_name(run_tasks(tasks(check), module_defaults=login))
        assert results['own']['changed'] and not results['own'].get('failed'), results['own']
        for name in ('others', 'drop others'):
            if shard2.major >= 16:
                assert results[name]['failed'] and results[name]['msg'] == refusal, results[name]
            else:
                assert results[name]['changed'] and not results[name].get('failed'), results[name]
        if check:
            assert snapshot(shard2) == before
    assert shard2.scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = 't2_own'") == 3
    assert shard2.scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = 't2_others'") == (
        -1 if shard2.major >= 16 else 2)
    if shard2.major >= 16:
        shard2.query("GRANT t2_others TO t2_admin WITH ADMIN OPTION")
        granted = by_name(run_tasks(tasks(), module_defaults=login))
        assert granted['others']['changed'] and not granted['others'].get('failed'), granted['others']
        assert shard2.scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = 't2_others'") == 2
    for role in ('t2_own', 't2_others', 't2_admin'):
        shard2.query('DROP ROLE %s' % role)


def test_member_of_grants_the_missing_memberships_only(shard2):
    wanted = dict(name='t2_monitor', password=PASSWORD, member_of=['pg_monitor'])
    first = run_tasks([task('user', 'user', shard2, **wanted)], diff=True)
    result = by_name(first)['user']
    assert first.ok and result['queries'][1:] == ['GRANT "pg_monitor" TO "t2_monitor"'], result['queries']
    assert result['diff']['after']['member_of'] == ['pg_monitor']
    assert shard2.scalar("SELECT pg_has_role('t2_monitor', 'pg_monitor', 'MEMBER')") is True
    # Check mode plans the GRANT, and a membership granted by hand is not revoked.
    shard2.connect().cursor().execute('GRANT pg_read_all_settings TO t2_monitor')
    more = dict(wanted)
    more['member_of'] = ['pg_monitor', 'pg_signal_backend']
    check = run_tasks([task('user', 'user', shard2, **more)], check=True, diff=True)
    result = by_name(check)['user']
    assert check.ok and result['queries'] == ['GRANT "pg_signal_backend" TO "t2_monitor"'], result['queries']
    assert result['diff']['before']['member_of'] == ['pg_monitor', 'pg_read_all_settings']
    assert shard2.scalar("SELECT pg_has_role('t2_monitor', 'pg_signal_backend', 'MEMBER')") is False
    again = run_tasks([task('user', 'user', shard2, **wanted)])
    assert again.ok and again.changed('localhost') == 0
    # A role that does not exist is named, and nothing is created.
    bad = run_tasks([task('user', 'user', shard2, name='t2_nobody', member_of=['no_such_role'])])
    assert not bad.ok and "member_of: role 'no_such_role' does not exist" in bad.stdout, bad.stdout
    assert shard2.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 't2_nobody'") == 0
