# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every pgdist.cluster module.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host to connect to. Without it libpq uses its unix socket (see O(login_unix_socket)) or E(PGHOST).
    type: str
    aliases: [host]
  login_port:
    description:
      - Port to connect to. Defaults to E(PGPORT) or 5432.
    type: int
    aliases: [port]
  login_user:
    description:
      - Role to connect as. Defaults to E(PGUSER) or the operating system user.
    type: str
  login_password:
    description:
      - Password of O(login_user). Never shown in output, results or error messages.
      - Without it libpq may still use E(PGPASSWORD) or a C(~/.pgpass) file.
    type: str
  login_unix_socket:
    description:
      - Directory of the unix socket, used when O(login_host) is not set.
    type: str
  db:
    description:
      - Database to connect to, and where database-level objects are managed.
    type: str
    aliases: [login_db]
  ssl_mode:
    description:
      - libpq C(sslmode) of the connection. Defaults to E(PGSSLMODE) or C(prefer).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file used to verify the server (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for the connection before failing with a message that names host and port.
    type: int
    default: 10
requirements:
  - psycopg2 on the managed host
notes:
  - All changes of one task run in one transaction; a failure rolls everything back.
  - Check mode plans and returns the statements in RV(queries) without running any.
  - Set the connection options once for every module with
    C(module_defaults) and the action group C(group/pgdist.cluster.all).
'''
