# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The coordinator's modules reading a shard: a connection as the coordinator's foreign server describes it.

A module running on the coordinator (local socket, as postgres) opens a libpq
connection with the foreign server's options and the user mapping of its own
login (else PUBLIC's): the address, login and pg_hba rule postgres_fdw itself
uses, so no other login is needed on the shards.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import catalog
from ansible_collections.pgdist.cluster.plugins.module_utils.connection import (
    ConnectionFailure, connect_as_foreign_server, pg_message)

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the runner
    pass


class Shard(object):
    """A connection to one shard through its foreign server (None when it cannot be opened, error says why)."""

    def __init__(self, request, server):
        self.server = server
        self.conn = None
        self.error = None
        self.renames = False
        found = catalog.foreign_server(request.conn, server)
        mapping = (catalog.user_mapping(request.conn, server, catalog.current_user(request.conn))
                   or catalog.user_mapping(request.conn, server, 'public'))
        if found is None or mapping is None:
            self.error = 'no foreign server %s or no user mapping of %s for it' % (
                server, catalog.current_user(request.conn))
            return
        request.secret(mapping['options'].get('password'))
        try:
            self.conn = connect_as_foreign_server(found['options'], mapping['options'],
                                                  request.params['connect_timeout'])
        except ConnectionFailure as exc:
            self.error = str(exc)

    def read(self, reader, failed):
        """reader(conn); when the shard cannot be reached or the read fails, failed(the reason)."""
        if self.conn is None:
            return failed(self.error)
        try:
            return reader(self.conn)
        except psycopg2.Error as exc:
            return failed(pg_message(exc))

    def close(self):
        if self.conn is not None:
            self.conn.close()


def read_remote_tables(request, layout, snapshot):
    """The shard tables behind the listed foreign partitions, read through their servers, into the snapshot.

    snapshot.remote_tables gets {(server, schema, name): catalog.relations() row, or None when the table is
    missing (left out in check mode)}; snapshot.remote_errors {server: why it could not be read}. Servers that
    do not exist yet (check mode) are left out.
    """
    wanted = {}
    for part in layout.partitions:
        if part.server and part.server in snapshot.servers:
            wanted.setdefault(part.server, []).append(part.remote)
    for server, remotes in sorted(wanted.items()):
        shard = Shard(request, server)
        try:
            found = shard.read(lambda conn: catalog.relations(conn, remotes), lambda error: error)
        finally:
            shard.close()
        if not isinstance(found, dict):
            snapshot.remote_errors[server] = found
            continue
        for remote in remotes:
            # In check mode a missing table is one the shard's own task of this run would create.
            if remote in found or not request.check_mode:
                snapshot.remote_tables[(server,) + remote] = found.get(remote)
    snapshot.key_updates_refused = catalog.setting(request.conn, 'pgdist.refuse_key_updates') == 'on'
