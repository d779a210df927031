# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection handling shared by every pgdist.cluster module.

Options left unset are not passed to libpq, so its environment defaults
(PGHOST, PGPORT, PGUSER, PGPASSFILE, ...) still apply. Without a host libpq
uses its unix socket, in ``login_unix_socket`` when given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
