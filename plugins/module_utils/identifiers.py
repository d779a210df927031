# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of identifiers before any of them reaches SQL.

Identifiers are always quoted with psycopg2.sql.Identifier, so quotes,
semicolons, spaces, upper case and unicode are kept verbatim and cannot
inject anything. What is refused: empty names, NUL bytes and names over
63 bytes, which PostgreSQL would silently truncate (NAMEDATALEN - 1).

SQL expressions (publication row filters, CHECK constraints, partial index
predicates, column default expressions) are the one kind of user text that
reaches SQL unquoted: check_expression() refuses what could leave the
expression or hide a second statement, and each caller then has the server
parse it (and print it back) before it is compared or run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MAX_IDENTIFIER_BYTES = 63
FORBIDDEN_IN_EXPRESSION = (';', '--', '/*', '*/', '\\', '$')


class InvalidInput(ValueError):
    """Bad user input; the message names the field."""


def check_identifier(value, field):
    """Return value when it is a usable identifier, else raise InvalidInput naming field."""
    if not isinstance(value, str) or value == '':
        raise InvalidInput('%s must be a non-empty name' % field)
    if '\x00' in value:
        raise InvalidInput('%s must not contain a NUL character' % field)
    size = len(value.encode('utf-8'))
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidInput(
            '%s %r is %d bytes long; PostgreSQL truncates identifiers over %d bytes, '
            'so it is refused' % (field, value, size, MAX_IDENTIFIER_BYTES))
    return value


def split_qualified(value, field, default_schema='public'):
    """Split 'schema.name' (or 'name') into a checked (schema, name) pair.

    The first dot separates the schema; a name that itself contains a dot
    needs its schema given explicitly ('public.my.name').
    """
    if not isinstance(value, str) or value == '':
        raise InvalidInput('%s must be a non-empty name' % field)
    if '.' in value:
        schema, name = value.split('.', 1)
    else:
        schema, name = default_schema, value
    return check_identifier(schema, field + ' (schema)'), check_identifier(name, field)


def check_expression(text, field, kind='expressions'):
    """Refuse an SQL expression that could leave its parentheses or hide a second statement: no ;, comments,
    backslashes or $ (dollar quoting), balanced parentheses outside quotes."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput('%s must be a non-empty SQL expression' % field)
    for token in FORBIDDEN_IN_EXPRESSION:
        if token in text:
            raise InvalidInput('%s must not contain %r (%s are plain expressions)' % (field, token, kind))
    depth, quote = 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
            if depth < 0:
                break
    if quote or depth:
        raise InvalidInput('%s has unbalanced quotes or parentheses' % field)
    return text
