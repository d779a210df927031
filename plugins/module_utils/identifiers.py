# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of identifiers before any of them reaches SQL.

Identifiers are always quoted with psycopg2.sql.Identifier, so quotes,
semicolons, spaces, upper case and unicode are kept verbatim and cannot
inject anything. What is refused: empty names, NUL bytes and names over
63 bytes, which PostgreSQL would silently truncate (NAMEDATALEN - 1).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MAX_IDENTIFIER_BYTES = 63


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
