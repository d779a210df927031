# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Distributed transactions: what the coordinator extension (extension/pgdist) and the nodes around it need.

Pure Python, used by node_plan: the coordinator's settings (pgdist first in
shared_preload_libraries, pgdist.*), the shards' (prepared transactions,
TCP keepalives), the foreign servers' libpq options, and the bound on how
long a shard keeps the locks of a coordinator that went away:

- a coordinator backend whose client left notices within
  client_connection_check_interval (PostgreSQL 14+) and rolls back, which
  rolls back its shard transactions;
- a coordinator backend that hangs (SIGSTOP) is terminated by the
  extension's worker after pgdist.frozen_backend_timeout;
- a coordinator host that is gone (no FIN, no RST) is noticed by each
  shard session through TCP keepalives: idle + interval * count seconds,
  and a shard backend busy waiting on a lock checks its client socket every
  client_connection_check_interval.

With the defaults that is at most 10 + 5 * 3 + 5 = 30 s. No
idle_in_transaction_session_timeout is set for the fdw user: a coordinator
transaction whose client is itself idle in transaction (a normal
interactive session) holds its shard sessions idle in transaction, and a
timeout there would cut it short.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.topology import flag
from ansible_collections.pgdist.cluster.plugins.module_utils.versions import POSTGRES_FDW_OPTIONS

LIBRARY = 'pgdist'
# The majors the extension suite (tests/extension) passed on, as extension/pgdist/fdw_contract.h lists them
# (PGDIST_VERIFIED_MAJORS): the plan builds the extension on a coordinator of another major only when forced.
TESTED_MAJORS = (13, 14, 15, 16, 17, 18)
# pgdist_coordinator_extension: force builds it on any major, and lets it start where it is not verified.
FORCE = 'force'
# pgdist_extension_settings: the extension's own settings (pgdist.<name>), documented in its README.
EXTENSION_SETTINGS = dict(two_phase_commit=True, read_committed=True, async_insert=True, router=True,
                          consistent_reads='repeatable_read', consistent_reads_timeout='1s',
                          deadlock_check_interval='2s',
                          recovery_interval='10s', frozen_backend_timeout='20s', commit_timeout='10s')
# pgdist.consistent_reads: which reads take their snapshots on every shard at one moment.
CONSISTENT_READS = ('off', 'repeatable_read', 'all')
KEEPALIVES = dict(idle=10, interval=5, count=3)
MANAGED_SETTINGS = (
    'shared_preload_libraries', 'max_prepared_transactions', 'client_connection_check_interval',
    'tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count', 'pgdist.database',
    'pgdist.allow_unverified_major',
) + tuple('pgdist.' + name for name in sorted(EXTENSION_SETTINGS))


def _checked(given, defaults, field):
    given = given or {}
    if not isinstance(given, dict):
        raise InvalidInput('%s must be a dict of name: value' % field)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InvalidInput('%s: unknown key %s; known: %s' % (field, ', '.join(unknown), ', '.join(sorted(defaults))))
    return dict(defaults, **given)


def _wanted(value):
    """pgdist_coordinator_extension: True, False or FORCE."""
    if isinstance(value, str) and value.strip().lower() == FORCE:
        return FORCE
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise InvalidInput("pgdist_coordinator_extension must be a boolean or '%s', got %r" % (FORCE, value))


def extension_settings(variables):
    """The extension's settings with the defaults filled in, or None when the coordinator goes without it.

    Forced, allow_unverified_major lets it start on a major its contract with postgres_fdw is not verified on."""
    wanted = _wanted(variables['coordinator_extension'])
    if not wanted:
        return None
    settings = _checked(variables['extension_settings'], EXTENSION_SETTINGS, 'pgdist_extension_settings')
    for name in ('two_phase_commit', 'read_committed', 'async_insert', 'router'):
        settings[name] = flag(settings[name], 'pgdist_extension_settings.' + name)
    if settings['consistent_reads'] is False:       # YAML's unquoted off
        settings['consistent_reads'] = 'off'
    if settings['consistent_reads'] not in CONSISTENT_READS:
        raise InvalidInput('pgdist_extension_settings.consistent_reads must be one of %s, got %r'
                           % (', '.join(CONSISTENT_READS), settings['consistent_reads']))
    if wanted == FORCE:
        settings['allow_unverified_major'] = True
    return settings


def coordinator_extension(variables, host, major):
    """extension_settings on a coordinator host of this major, refused outside TESTED_MAJORS unless forced."""
    settings = extension_settings(variables)
    major = int(major)
    if settings is not None and major not in TESTED_MAJORS and not settings.get('allow_unverified_major'):
        tested = '%d to %d' % (min(TESTED_MAJORS), max(TESTED_MAJORS))
        raise InvalidInput(
            '%s: the coordinator extension is tested on PostgreSQL %s only, not on this host\'s %d '
            '(pgdist_postgresql_version): set pgdist_coordinator_extension: false to deploy without it, or %s to '
            'build and start it on %d anyway' % (host, tested, major, FORCE, major))
    return settings


def keepalives(variables):
    values = _checked(variables['keepalives'], KEEPALIVES, 'pgdist_keepalives')
    for name, value in values.items():
        if isinstance(value, bool) or not str(value).isdigit() or int(value) <= 0:
            raise InvalidInput('pgdist_keepalives.%s must be a positive number of seconds, got %r' % (name, value))
        values[name] = int(value)
    return values


def preload_first(value):
    """shared_preload_libraries with pgdist first (it must load before postgres_fdw), the others kept in order."""
    others = [name.strip().strip('"') for name in str(value or '').split(',')]
    return ','.join([LIBRARY] + [name for name in others if name and name != LIBRARY])


def node_settings(variables, host, roles, major, database):
    """The settings of a host with these roles (coordinator, shard) on this major, before the user's."""
    extension = extension_settings(variables)
    alive = keepalives(variables)
    settings = {}
    check = variables['client_connection_check_interval']
    if major >= 14 and str(check) not in ('', '0', 'None') and ('coordinator' in roles or 'shard' in roles):
        settings['client_connection_check_interval'] = str(check)
    if 'coordinator' in roles and coordinator_extension(variables, host, major):
        settings['shared_preload_libraries'] = LIBRARY
        settings['pgdist.database'] = database
        settings.update(('pgdist.' + name, value) for name, value in extension.items())
    if 'shard' in roles:
        settings.update(('tcp_keepalives_' + name, value) for name, value in alive.items())
        if extension and extension['two_phase_commit']:
            settings['max_prepared_transactions'] = int(variables['max_prepared_transactions'])
    return settings


# postgres_fdw options of every foreign server, tuned (measured by `make bench`, see README): its default batch_size
# of 1 makes inserts through the coordinator one round trip per row; fetch_size 10000 (default 100) cuts round
# trips on scans; async_capable lets an Append over several shards wait on all of them at once. use_remote_estimate
# stays off: it costs a remote EXPLAIN per foreign partition at every planning; ANALYZE the distributed tables
# after loading instead.
TUNED_SERVER_OPTIONS = dict(batch_size='1000', fetch_size='10000', async_capable='true')


def foreign_server_options(variables, coordinator_major):
    """libpq and postgres_fdw options of every foreign server, each where the coordinator's postgres_fdw has it:
    keepalives, TUNED_SERVER_OPTIONS (batch_size and async_capable 14+), parallel commit and abort (15, 16)."""
    alive = keepalives(variables)
    options = dict(keepalives='1', keepalives_idle=str(alive['idle']), keepalives_interval=str(alive['interval']),
                   keepalives_count=str(alive['count']))
    first = POSTGRES_FDW_OPTIONS['pg_catalog.pg_foreign_server']
    options.update((name, value) for name, value in TUNED_SERVER_OPTIONS.items()
                   if first.get(name, 0) <= coordinator_major)
    if coordinator_major >= 15:
        options['parallel_commit'] = 'true'
    if coordinator_major >= 16:
        options['parallel_abort'] = 'true'
    return options
