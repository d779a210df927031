"""No password given to user, user_mapping or the connection options appears anywhere:
-vvv output, results, queries, diffs, error messages, including failing tasks.

Passwords come from variables, as they would from a vault: ansible-core
itself prints the playbook source around a failed task, so a password
written literally into a playbook file would be shown by Ansible, not by
our modules.
"""

import json

import pytest

from support.ansible import run_tasks
from support.pgcluster import SUPERUSER_PASSWORD
from support.tasks import by_name, task

USER_PASSWORD = 'Us3r-pw-Zq81'
NEW_USER_PASSWORD = 'Us3r-pw-Kx22'
MAPPING_PASSWORD = 'M4p-pw-Lw93'
NEW_MAPPING_PASSWORD = 'M4p-pw-Vb47'
WRONG_LOGIN_PASSWORD = 'Wr0ng-login-Pq55'
ALL_SECRETS = (USER_PASSWORD, NEW_USER_PASSWORD, MAPPING_PASSWORD, NEW_MAPPING_PASSWORD, WRONG_LOGIN_PASSWORD,
               SUPERUSER_PASSWORD)


def tasks(coordinator):
    ignore = {'ignore_errors': True}
    cluster = Login(dict(coordinator.login, login_password='{{ login_password }}'))
    wrong_login = dict(cluster.login, login_password='{{ wrong_login_password }}')
    user_password, mapping_password = '{{ user_password }}', '{{ mapping_password }}'
    return [
        task('fdw', 'extension', cluster, db='postgres', name='postgres_fdw'),
        task('server', 'foreign_server', cluster, db='postgres', name='sec_srv',
             options=dict(host='127.0.0.1', port=coordinator.port, dbname='postgres')),
        task('user', 'user', cluster, name='sec_user', password=user_password),
        task('mapping', 'user_mapping', cluster, db='postgres', user='sec_user', server='sec_srv',
             options=dict(user='sec_user', password=mapping_password)),
        # Failing tasks, each carrying passwords.
        task('mapping with an unknown option', 'user_mapping', cluster, db='postgres', user='sec_user',
             server='sec_srv', options=dict(user='x', password=mapping_password, bogus_opt='1'), _task=ignore),
        task('mapping on a missing server', 'user_mapping', cluster, db='postgres', user='sec_user',
             server='no_such_srv', options=dict(password=mapping_password), _task=ignore),
        dict(task('mapping with a wrong login password', 'user_mapping', None, db='postgres', user='sec_user',
                  server='sec_srv', options=dict(password=mapping_password), **wrong_login), **ignore),
        dict(task('user with a wrong login password', 'user', None, name='sec_user', password=user_password,
                  **wrong_login), **ignore),
        task('user refused by the server', 'user', cluster, name='pg_reserved_name', password=user_password,
             _task=ignore),
    ]


class Login(object):
    def __init__(self, login):
        self.login = login


def secrets(user_password, mapping_password):
    return dict(login_password=SUPERUSER_PASSWORD, wrong_login_password=WRONG_LOGIN_PASSWORD,
                user_password=user_password, mapping_password=mapping_password)


@pytest.fixture(scope='module')
def runs(coordinator):
    first = run_tasks(tasks(coordinator), verbosity=3, diff=True, callback='ansible.builtin.default',
                      extra_vars=secrets(USER_PASSWORD, MAPPING_PASSWORD))
    changed = run_tasks(tasks(coordinator), verbosity=3, diff=True,
                        extra_vars=secrets(NEW_USER_PASSWORD, NEW_MAPPING_PASSWORD))
    return dict(first=first, changed=changed)


def assert_no_secret(text, where):
    for secret in ALL_SECRETS:
        assert secret not in text, '%s shows a password' % where


def test_passwords_never_in_output_at_vvv(runs):
    for name, run in runs.items():
        assert run.returncode == 0, run.stdout + run.stderr
        assert_no_secret(run.stdout, name + ' stdout')
        assert_no_secret(run.stderr, name + ' stderr')
    assert 'sec_user' in runs['first'].stdout  # the output was really produced at -vvv
    assert '<127.0.0.1>' in runs['first'].stdout or 'ESTABLISH LOCAL CONNECTION' in runs['first'].stdout


def test_results_queries_diffs_and_errors_hold_no_password(runs, coordinator):
    results = by_name(runs['changed'])
    assert_no_secret(json.dumps(runs['changed'].data), 'JSON results')
    user_result, mapping_result = results['user'], results['mapping']
    assert user_result['changed'] and user_result['password_changed']
    assert user_result['queries'] == ['ALTER ROLE "sec_user" PASSWORD \'********\'']
    assert mapping_result['changed']
    assert mapping_result['queries'] == [
        'ALTER USER MAPPING FOR "sec_user" SERVER "sec_srv" OPTIONS (SET "password" \'********\')']
    assert mapping_result['diff']['before']['options']['password'] == '********'
    assert mapping_result['diff']['after']['options']['password'] == '******** (changed)'
    failures = dict((name, results[name]['msg']) for name in (
        'mapping with an unknown option', 'mapping on a missing server', 'mapping with a wrong login password',
        'user with a wrong login password', 'user refused by the server'))
    for name, message in failures.items():
        assert results[name]['failed'], name
    assert 'bogus_opt' in failures['mapping with an unknown option']
    assert 'no_such_srv' in failures['mapping on a missing server']
    assert 'password authentication failed' in failures['mapping with a wrong login password']
    assert 'reserved' in failures['user refused by the server']
    # The changed passwords really are in place, so the redaction hid real values.
    stored = coordinator.scalar("SELECT umoptions FROM pg_user_mappings WHERE srvname = 'sec_srv'")
    assert 'password=' + NEW_MAPPING_PASSWORD in stored
