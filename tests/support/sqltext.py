"""SQL text of a psycopg2.sql composition without a connection, for unit tests of the planners.

psycopg2 needs a connection to quote; the planners' statements only hold SQL,
Identifier, Literal (text, int, bool, float, None) and Placeholder, whose
quoting under standard_conforming_strings is this.
"""

from psycopg2 import sql


def _literal(value):
    if value is None:
        return 'NULL'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value) if value >= 0 else ' %s' % value
    return "'%s'" % str(value).replace("'", "''")


def render(query):
    if isinstance(query, sql.Composed):
        return ''.join(render(part) for part in query.seq)
    if isinstance(query, sql.SQL):
        return query.string
    if isinstance(query, sql.Identifier):
        return '.'.join('"%s"' % part.replace('"', '""') for part in query.strings)
    if isinstance(query, sql.Literal):
        return _literal(query.wrapped)
    if isinstance(query, sql.Placeholder):
        return '%%(%s)s' % query.name if query.name else '%s'
    raise TypeError('cannot render %r' % (query,))
