# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection handling shared by every pgdist.cluster module.

Options left unset are not passed to libpq, so its environment defaults
(PGHOST, PGPORT, PGUSER, PGPASSFILE, ...) still apply. Without a host libpq
uses its unix socket, in ``login_unix_socket`` when given.

Also here: savepoint(), for the probes and row checks that may fail without
aborting the module's transaction, and pg_message(), the one way an error of
the server becomes part of one of our messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from contextlib import contextmanager

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild

try:
    import psycopg2
    import psycopg2.extensions
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the managed host
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc


def connection_argument_spec():
    """The connection options of the doc fragment pgdist.cluster.connection."""
    return dict(
        login_host=dict(type='str', aliases=['host']),
        login_port=dict(type='int', aliases=['port']),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        login_unix_socket=dict(type='str'),
        db=dict(type='str', aliases=['login_db']),
        ssl_mode=dict(type='str', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        connect_timeout=dict(type='int', default=10),
    )


class ConnectionFailure(Exception):
    """Raised with a message that names the target and never the password."""


def libpq_params(params, dbname=None):
    """Map module parameters to psycopg2.connect() keyword arguments."""
    host = params.get('login_host') or params.get('login_unix_socket')
    mapping = dict(
        host=host,
        port=params.get('login_port'),
        user=params.get('login_user'),
        password=params.get('login_password'),
        dbname=dbname or params.get('db'),
        sslmode=params.get('ssl_mode'),
        sslrootcert=params.get('ca_cert'),
        connect_timeout=params.get('connect_timeout'),
        application_name='pgdist.cluster',
    )
    return dict((key, value) for key, value in mapping.items() if value is not None)


def describe_target(kwargs):
    """host:port/db as libpq will resolve it, for error messages."""
    host = kwargs.get('host') or 'local socket'
    port = kwargs.get('port') or 'default port'
    return '%s port %s, database %s, user %s' % (
        host, port, kwargs.get('dbname', 'default'), kwargs.get('user', 'default'))


def scrub(text, secrets):
    """Replace every secret in text by ********."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def connect(params, dbname=None, autocommit=False):
    """Open a psycopg2 connection; raise ConnectionFailure naming the target."""
    kwargs = libpq_params(params, dbname)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        reason = scrub(str(exc).strip(), [kwargs.get('password')])
        raise ConnectionFailure('unable to connect to PostgreSQL at %s: %s' % (describe_target(kwargs), reason))
    conn.autocommit = autocommit
    return conn


def pg_message(exc, with_hint=False):
    """The primary message of a server error (without the ERROR: prefix), optionally with its hint."""
    diag = getattr(exc, 'diag', None)
    message = ((diag and diag.message_primary) or str(exc)).strip()
    if with_hint and diag is not None and diag.message_hint:
        message += ' (%s)' % diag.message_hint
    return message


# libpq keywords a postgres_fdw server or user mapping may hold; its other options (fetch_size, batch_size,
# use_remote_estimate, ...) are postgres_fdw's own and are not passed to libpq.
LIBPQ_OPTIONS = ('host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'passfile', 'channel_binding',
                 'connect_timeout', 'options', 'keepalives', 'keepalives_idle', 'keepalives_interval',
                 'keepalives_count', 'tcp_user_timeout', 'sslmode', 'sslcompression', 'sslcert', 'sslkey',
                 'sslpassword', 'sslrootcert', 'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version',
                 'ssl_max_protocol_version', 'gssencmode', 'krbsrvname', 'gsslib', 'target_session_attrs',
                 'require_auth', 'sslcertmode', 'sslnegotiation', 'load_balance_hosts')


def connect_as_foreign_server(server_options, mapping_options, connect_timeout=None):
    """A connection to the server a postgres_fdw foreign server names, as its user mapping logs in.

    This is the path, the address and the login postgres_fdw uses, so the
    shard's pg_hba.conf rule for the coordinator admits it. Raises
    ConnectionFailure naming the target, never the password.
    """
    kwargs = dict((name, value) for name, value in list(server_options.items()) + list(mapping_options.items())
                  if name in LIBPQ_OPTIONS)
    if connect_timeout and 'connect_timeout' not in kwargs:
        kwargs['connect_timeout'] = str(connect_timeout)
    kwargs['application_name'] = 'pgdist.cluster'
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        reason = scrub(str(exc).strip(), [kwargs.get('password'), kwargs.get('sslpassword')])
        raise ConnectionFailure('unable to connect to PostgreSQL at %s: %s' % (describe_target(kwargs), reason))
    conn.autocommit = True
    return conn


@contextmanager
def savepoint(conn, name, keep=True):
    """Run the block inside SAVEPOINT name, so a failure in it leaves the transaction usable.

    On an exception the savepoint is rolled back (and released) and the
    exception goes on. At the end of the block it is released (keep=True) or
    rolled back first (keep=False: a probe whose effects must not stay).
    """
    def run(*queries):
        with conn.cursor() as cursor:
            for query in queries:
                cursor.execute(query)
    run(sqlbuild.savepoint(name))
    try:
        yield
    except Exception:
        run(sqlbuild.rollback_to_savepoint(name), sqlbuild.release_savepoint(name))
        raise
    if not keep:
        run(sqlbuild.rollback_to_savepoint(name))
    run(sqlbuild.release_savepoint(name))
