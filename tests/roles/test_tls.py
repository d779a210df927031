"""TLS between the nodes (server role pgdist_ssl, on by default): a private copy of inventories/local
(clusters pgdist_tls_*, ports 55462-55464) deployed with site.yml, first with the generated self-signed
certificates, then with certificates signed by a CA of the test's own (verify-full)."""

import os
import pwd
import subprocess
import sys
import tempfile

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.variant import FDW_USER, Variant  # noqa: E402

# The coordinator extension names each fdw session pgdist:<system id>:<coordinator pid>:<backend start>.
FDW_SESSIONS = """SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                   WHERE a.usename = 'pgdist_fdw' AND a.client_addr = '127.0.0.1' AND a.application_name LIKE 'pgdist:%'"""


@pytest.fixture(scope='module')
def variant():
    variant = Variant('tls', 55462)
    try:
        variant.deploy()
        yield variant
    finally:
        variant.drop()


def fdw_session_on(variant, shard, table):
    """Read table through the coordinator and, while that session (and its fdw connection) is open,
    return how the shard sees the coordinator's fdw backend in pg_stat_ssl."""
    session = subprocess.Popen(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                                '-p', str(variant.port('coordinator1')), '-d', 'library'],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        session.stdin.write('SELECT count(*) FROM %s;\n' % table)
        session.stdin.flush()
        count = session.stdout.readline().strip()
        assert count.isdigit(), 'query through the coordinator failed: %s' % session.stderr.read()
        return variant.psql(shard, FDW_SESSIONS)
    finally:
        session.stdin.close()
        session.wait(timeout=30)


# The coordinator role's tuned defaults (pgdist_foreign_server_options), keepalives and parallel commit.
TUNED = dict(async_capable='true', batch_size='1000', fetch_size='10000', dbname='library', keepalives='1',
             keepalives_idle='10', keepalives_interval='5', keepalives_count='3', parallel_commit='true')


def server_options(address, port, **tls):
    """A foreign server's options as servers() shows them."""
    return ','.join('%s=%s' % item for item in sorted(dict(TUNED, host=address, port=str(port), **tls).items()))


SELF_SIGNED = dict(sslmode='require', channel_binding='require')


def servers(variant):
    """Foreign server name -> its options, sorted, comma-separated."""
    return dict(line.split('|', 1) for line in variant.psql(
        'coordinator1', "SELECT srvname, (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(srvoptions) o) "
                        "FROM pg_foreign_server").splitlines())


def test_ssl_is_on_with_generated_certificates(variant):
    for host in variant.hosts:
        assert variant.psql(host, 'SHOW ssl', 'postgres') == 'on'
        assert variant.psql(host, 'SHOW ssl_cert_file', 'postgres') == variant.config_dir(host) + '/pgdist-server.crt'
        key = os.stat(variant.config_dir(host) + '/pgdist-server.key')
        assert (pwd.getpwuid(key.st_uid).pw_name, oct(key.st_mode & 0o777)) == ('postgres', '0o600')
    subject = subprocess.run(['openssl', 'x509', '-noout', '-subject', '-ext', 'subjectAltName', '-in',
                              variant.config_dir('shard1') + '/pgdist-server.crt'], check=True, stdout=subprocess.PIPE,
                             text=True).stdout
    assert 'CN = 127.0.0.2' in subject and 'IP Address:127.0.0.2' in subject, subject


def test_foreign_servers_require_ssl_and_the_fdw_link_is_encrypted(variant):
    assert servers(variant) == {'shard1': server_options('127.0.0.2', 55463, **SELF_SIGNED),
                                'shard2': server_options('127.0.0.3', 55464, **SELF_SIGNED)}
    # child1 lives on shard1, child2 on shard2: the coordinator's fdw backend on each is encrypted.
    assert fdw_session_on(variant, 'shard1', 'child1') == 't|TLSv1.3'
    assert fdw_session_on(variant, 'shard2', 'child2') == 't|TLSv1.3'


@pytest.mark.parametrize('shard', ['shard1', 'shard2'])
def test_peer_rules_are_hostssl_and_plain_tcp_is_refused(variant, shard):
    rules = variant.psql(shard, "SELECT type || ' ' || array_to_string(user_name, ',') || ' ' || coalesce(address, '') "
                                "FROM pg_hba_file_rules WHERE type <> 'local'", 'postgres').splitlines()
    assert rules == ['hostssl pgdist_fdw 127.0.0.1']
    login = dict(host=variant.address(shard), port=variant.port(shard), user=FDW_USER, password=variant.fdw_password,
                 dbname='library', connect_timeout=10)
    # Without TLS from the coordinator's address (an unbound client to 127.0.0.x leaves from 127.0.0.1):
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(sslmode='disable', **login)
    assert ('no pg_hba.conf entry for host "127.0.0.1", user "pgdist_fdw", database "library", no encryption'
            in str(refused.value)), str(refused.value)
    # With TLS the same login works, and the server sees an encrypted session.
    conn = psycopg2.connect(sslmode='require', **login)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def test_a_shard_that_does_not_ask_for_scram_is_refused(variant):
    """channel_binding=require: a shard (or a machine in the middle) answering the fdw user with plain
    password authentication never gets the password, and the coordinator says why."""
    hba = variant.config_dir('shard1') + '/pg_hba.conf'
    with open(hba) as handle:
        original = handle.read()
    assert 'pgdist_fdw' in original and 'scram-sha-256' in original
    try:
        with open(hba, 'w') as handle:
            handle.write(original.replace('scram-sha-256', 'password'))
        variant.psql('shard1', 'SELECT pg_reload_conf()', 'postgres')
        refused = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-p',
                                  str(variant.port('coordinator1')), '-d', 'library', '-c', 'SELECT count(*) FROM child1'],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        assert refused.returncode != 0
        assert 'channel binding required' in refused.stdout, \
            refused.stdout
    finally:
        with open(hba, 'w') as handle:
            handle.write(original)
        variant.psql('shard1', 'SELECT pg_reload_conf()', 'postgres')
    assert fdw_session_on(variant, 'shard1', 'child1') == 't|TLSv1.3'


def test_second_run_changes_nothing(variant):
    assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)


def openssl(*args):
    subprocess.run(('openssl',) + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def ca_dir():
    """A CA and one certificate per host (CN and IP SAN = its address), readable by postgres."""
    path = tempfile.mkdtemp(prefix='pgdist-tls-ca-')
    os.chmod(path, 0o755)
    postgres = pwd.getpwnam('postgres')
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pgdist test CA',
            '-keyout', os.path.join(path, 'ca.key'), '-out', os.path.join(path, 'ca.crt'))
    for host, address in (('coordinator1', '127.0.0.1'), ('shard1', '127.0.0.2'), ('shard2', '127.0.0.3')):
        base = os.path.join(path, host)
        with open(base + '.ext', 'w') as handle:
            handle.write('subjectAltName=IP:%s\n' % address)
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=%s' % address, '-keyout', base + '.key',
                '-out', base + '.csr')
        openssl('x509', '-req', '-in', base + '.csr', '-CA', os.path.join(path, 'ca.crt'), '-CAkey',
                os.path.join(path, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', base + '.ext', '-out', base + '.crt')
        os.chown(base + '.key', postgres.pw_uid, postgres.pw_gid)
        os.chmod(base + '.key', 0o600)
    yield path
    subprocess.run(['rm', '-rf', path], check=False)


def test_given_ca_makes_the_coordinator_verify_the_shards(variant, ca_dir):
    given = {'pgdist_ssl_cert_file': ca_dir + '/{{ inventory_hostname }}.crt',
             'pgdist_ssl_key_file': ca_dir + '/{{ inventory_hostname }}.key',
             'pgdist_ssl_ca_file': ca_dir + '/ca.crt'}
    try:
        run = variant.deploy(extra_vars=given)
        # The servers' settings change (reload) and, on the coordinator, the foreign servers' options.
        assert all(count > 0 for count in variant.changed(run).values()), variant.changed(run)
        assert variant.psql('shard1', 'SHOW ssl_cert_file', 'postgres') == ca_dir + '/shard1.crt'
        # The certificate authenticates the shard: no channel binding needed.
        assert servers(variant)['shard1'] == server_options('127.0.0.2', 55463, sslmode='verify-full',
                                                            sslrootcert='%s/ca.crt' % ca_dir)
        # verify-full succeeds only if the shard now presents the CA-signed certificate naming 127.0.0.2.
        assert fdw_session_on(variant, 'shard1', 'child1') == 't|TLSv1.3'
        assert fdw_session_on(variant, 'shard2', 'child2') == 't|TLSv1.3'
        assert variant.changed(variant.deploy(extra_vars=given)) == dict.fromkeys(variant.hosts, 0)
    finally:
        variant.deploy()
    assert servers(variant)['shard1'] == server_options('127.0.0.2', 55463, **SELF_SIGNED)
    assert variant.psql('shard1', 'SHOW ssl_cert_file', 'postgres') == variant.config_dir('shard1') + '/pgdist-server.crt'


def changed_tasks(run, host):
    return [result['_task'].split(' : ')[-1] for result in run.results(host) if result.get('changed')]


def test_rotating_the_fdw_password_changes_only_the_user_and_the_mappings(variant):
    old = variant.group_vars['pgdist_fdw_password']
    try:
        variant.group_vars['pgdist_fdw_password'] = 'rotated-' + old
        variant.write_group_vars()
        run = variant.deploy()
        assert changed_tasks(run, 'shard1') == ['The login user the coordinator connects as']
        assert changed_tasks(run, 'shard2') == ['The login user the coordinator connects as']
        assert changed_tasks(run, 'coordinator1') == ['User mappings to the shards\' fdw user']
        assert 'rotated-' + old not in run.stdout
        # A new coordinator session reaches both shards with the new password, over TLS.
        assert fdw_session_on(variant, 'shard1', 'child1') == 't|TLSv1.3'
        assert fdw_session_on(variant, 'shard2', 'child2') == 't|TLSv1.3'
        with pytest.raises(psycopg2.OperationalError, match='password authentication failed'):
            psycopg2.connect(host='127.0.0.2', port=variant.port('shard1'), user=FDW_USER, password=old,
                             dbname='library', sslmode='require', connect_timeout=10)
        assert variant.changed(variant.deploy()) == dict.fromkeys(variant.hosts, 0)
    finally:
        variant.group_vars['pgdist_fdw_password'] = old
        variant.write_group_vars()
    run = variant.deploy()
    assert changed_tasks(run, 'coordinator1') == ['User mappings to the shards\' fdw user']
