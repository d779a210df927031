# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Plan is the ordered list of statements a module wants to run.

Reconcilers add psycopg2.sql statements to a Plan, naming the secret values
each statement carries. The Plan renders them for the `queries` result with
every secret replaced by ********, and executes them (or not, in check mode).
A statement that alters nothing a user manages (ANALYZE: statistics only)
runs and is shown like the others but does not make the task changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    sql = None

REDACTED = '********'

# Generic options (and conninfo keywords) whose values are secrets wherever they appear.
SECRET_OPTIONS = ('password', 'sslpassword')


class Refusal(Exception):
    """A wanted change that would lose or hide data, or is impossible; nothing is run."""


class Plan(object):
    def __init__(self):
        self.statements = []
        self.secrets = set()
        self.warnings = []
        self.outside_transaction = set()
        self.maintenance = set()
        self.committed = 0

    def add(self, query, secrets=(), in_transaction=True, alters=True):
        """Queue one statement; secrets are values that must never be shown.

        in_transaction=False marks a statement PostgreSQL refuses in a
        transaction block (CREATE SUBSCRIPTION with a slot, ...): see apply().
        alters=False marks one that changes no managed state (see above).
        """
        self.statements.append(query)
        self.secrets.update(s for s in secrets if s)
        if not in_transaction:
            self.outside_transaction.add(len(self.statements) - 1)
        if not alters:
            self.maintenance.add(len(self.statements) - 1)
        return query

    def extend(self, other):
        """Append another plan's statements (with their marks), secrets and warnings."""
        offset = len(self.statements)
        self.statements.extend(other.statements)
        self.secrets.update(other.secrets)
        self.warnings.extend(other.warnings)
        self.outside_transaction.update(index + offset for index in other.outside_transaction)
        self.maintenance.update(index + offset for index in other.maintenance)

    def warn(self, message):
        self.warnings.append(message)

    @property
    def changes(self):
        """Whether a statement that alters something is planned: the task's `changed`."""
        return len(self.maintenance) < len(self.statements)

    def __bool__(self):
        return bool(self.statements)

    __nonzero__ = __bool__

    def redact(self, text, conn):
        for secret in self.secrets:
            text = text.replace(sql.Literal(secret).as_string(conn), "'%s'" % REDACTED)
            text = text.replace(secret, REDACTED)
        return text

    def rendered(self, conn):
        """The statements as SQL text, secrets replaced."""
        return [self.redact(query.as_string(conn), conn) for query in self.statements]

    def apply(self, conn):
        """Execute every statement on conn; the caller owns the transaction.

        At the first statement marked in_transaction=False the transaction so
        far is committed and that statement and every later one run in
        autocommit, in the order they were added.
        """
        with conn.cursor() as cursor:
            for index, query in enumerate(self.statements):
                if index in self.outside_transaction and not conn.autocommit:
                    conn.commit()
                    conn.autocommit = True
                    self.committed = index
                cursor.execute(query)
                if conn.autocommit:
                    self.committed = index + 1


def option_text(value):
    """PostgreSQL stores generic options as text; normalise what YAML gives us."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def options_diff(current, wanted):
    """Actions that turn the option dict current into wanted.

    The wanted dict is the whole wanted set: options not in it are dropped.
    Returns a list of (action, name, value) with action ADD, SET or DROP,
    drops first so a renamed option never collides.
    """
    wanted = dict((name, option_text(value)) for name, value in (wanted or {}).items())
    current = current or {}
    actions = [('DROP', name, None) for name in sorted(current) if name not in wanted]
    for name in sorted(wanted):
        if name not in current:
            actions.append(('ADD', name, wanted[name]))
        elif current[name] != wanted[name]:
            actions.append(('SET', name, wanted[name]))
    return actions


def options_clause(actions):
    """OPTIONS (ADD a 'x', SET b 'y', DROP c) for the actions of options_diff."""
    items = []
    for action, name, value in actions:
        if action == 'DROP':
            items.append(sql.SQL('DROP {}').format(sql.Identifier(name)))
        else:
            items.append(sql.SQL(action + ' {} {}').format(sql.Identifier(name), sql.Literal(value)))
    return sql.SQL('OPTIONS ({})').format(sql.SQL(', ').join(items))


def create_options_clause(options):
    """OPTIONS (a 'x', b 'y') for a CREATE statement, or empty when no options."""
    if not options:
        return sql.SQL('')
    items = [sql.SQL('{} {}').format(sql.Identifier(name), sql.Literal(option_text(value)))
             for name, value in sorted(options.items())]
    return sql.SQL(' OPTIONS ({})').format(sql.SQL(', ').join(items))


def redact_options(options, secret_names=SECRET_OPTIONS):
    """A copy of options safe to show: secret values replaced."""
    if options is None:
        return None
    return dict((name, REDACTED if name in secret_names else option_text(value))
                for name, value in options.items())
