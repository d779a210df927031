# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which PostgreSQL major a feature needs: the modules support 13 to 18.

Where a wanted option or statement needs a newer server than the one the
module is connected to, the module refuses before changing anything, with a
message naming the field and the minimum version, instead of letting the
server fail with a syntax error or an unknown option. Catalog readers use
has() to read columns that older majors lack.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

# postgres_fdw's options that are newer than 13, per catalog they are set in: {option: first major}.
# Options of libpq (sslnegotiation, require_auth, ...) are left to the wrapper's validator: they depend on
# the libpq the server was built with, not on its major.
POSTGRES_FDW_OPTIONS = {
    'pg_catalog.pg_foreign_server': dict(
        async_capable=14, batch_size=14, keep_connections=14, truncatable=14, parallel_commit=15,
        parallel_abort=16, analyze_sampling=16, use_scram_passthrough=18),
    'pg_catalog.pg_foreign_table': dict(async_capable=14, batch_size=14, truncatable=14, analyze_sampling=16),
    'pg_catalog.pg_user_mapping': dict(use_scram_passthrough=18),
}


def major(conn):
    """The server's major version (13, 14, ...)."""
    return conn.server_version // 10000


def has(conn, first_major):
    return major(conn) >= first_major


def server_text(conn):
    return '%d.%d' % (conn.server_version // 10000, conn.server_version % 10000)


def require(conn, first_major, what):
    """Refuse `what` (a field and what it asks for) on a server older than first_major."""
    if not has(conn, first_major):
        raise InvalidInput('%s needs PostgreSQL %d or later; this server runs %s'
                           % (what, first_major, server_text(conn)))


def require_fdw_options(conn, fdw, catalog_table, options, field):
    """Refuse postgres_fdw options that the server's postgres_fdw does not have yet."""
    if fdw != 'postgres_fdw':
        return
    known = POSTGRES_FDW_OPTIONS.get(catalog_table, {})
    for name in sorted(options or {}):
        if name in known:
            require(conn, known[name], '%s: postgres_fdw option %s' % (field, name))
