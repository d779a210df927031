# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partition bounds: the model, the text PostgreSQL prints for it, and the checks between partitions.

A Bound is what one partition accepts: list values, a range, a hash modulus
and remainder, or DEFAULT. Values are text (canonical once the server has
resolved them), None for NULL, or MINVALUE/MAXVALUE in a range. Pure Python:
no database access here.

Bound CHECK constraints are named ``pgdist_bounds_<hash>``, the hash taken
over the key and the canonical bounds, so comparing a table's bounds with the
wanted ones is comparing a constraint name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput

BOUND_CHECK_PREFIX = 'pgdist_bounds_'


class Unbounded(object):
    """MINVALUE or MAXVALUE in a range bound."""

    def __init__(self, keyword, rank):
        self.keyword = keyword
        self.rank = rank

    def __repr__(self):
        return self.keyword


MINVALUE = Unbounded('MINVALUE', -1)
MAXVALUE = Unbounded('MAXVALUE', 1)


def _show(value):
    if value is None:
        return 'NULL'
    if isinstance(value, Unbounded):
        return value.keyword
    return "'%s'" % value.replace("'", "''")


def _norm(items):
    return tuple(item.keyword if isinstance(item, Unbounded) else ('v', item) for item in items)


class Bound(object):
    """The bounds of one partition: kind is list, range, hash or default."""

    def __init__(self, kind, values=None, lower=None, upper=None, modulus=None, remainder=None):
        self.kind = kind
        self.values = list(values or [])
        self.lower = list(lower or [])
        self.upper = list(upper or [])
        self.modulus = modulus
        self.remainder = remainder

    @property
    def is_default(self):
        return self.kind == 'default'

    def signature(self):
        """A comparable form: list values as a set, unbounded values by keyword."""
        return {
            'list': lambda: ('list', tuple(sorted(_norm(self.values), key=repr))),
            'range': lambda: ('range', _norm(self.lower), _norm(self.upper)),
            'hash': lambda: ('hash', int(self.modulus), int(self.remainder)),
            'default': lambda: ('default',),
        }[self.kind]()

    def __eq__(self, other):
        return isinstance(other, Bound) and self.signature() == other.signature()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.signature())

    def text(self):
        """The bound as PostgreSQL prints it (pg_get_expr), values quoted."""
        return {
            'list': lambda: 'FOR VALUES IN (%s)' % ', '.join(map(_show, self.values)),
            'range': lambda: 'FOR VALUES FROM (%s) TO (%s)' % (', '.join(map(_show, self.lower)),
                                                               ', '.join(map(_show, self.upper))),
            'hash': lambda: 'FOR VALUES WITH (modulus %d, remainder %d)' % (self.modulus, self.remainder),
            'default': lambda: 'DEFAULT',
        }[self.kind]()

    def value_slots(self, position):
        """(list, index) of every bound value of key column `position`, for the server to canonicalise."""
        if self.kind == 'list':
            return [(self.values, index) for index, value in enumerate(self.values) if value is not None]
        if self.kind == 'range':
            return [(side, position) for side in (self.lower, self.upper) if not isinstance(side[position], Unbounded)]
        return []


BOUND_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|[^,\s()]+)\s*(,|$)")


def _parse_datums(text):
    values = []
    for match in BOUND_TOKEN.finditer(text):
        token = match.group(1)
        if token.startswith("'"):
            values.append(token[1:-1].replace("''", "'"))
        elif token == 'NULL':
            values.append(None)
        elif token in ('MINVALUE', 'MAXVALUE'):
            values.append(MINVALUE if token == 'MINVALUE' else MAXVALUE)
        else:
            values.append(token)
        if match.end() == len(text):
            break
    return values


def parse_bound(text):
    """A Bound from pg_get_expr(relpartbound, oid); None for an unrecognised text."""
    if text is None:
        return None
    if text == 'DEFAULT':
        return Bound('default')
    match = re.match(r'^FOR VALUES IN \((.*)\)$', text, re.S)
    if match:
        return Bound('list', values=_parse_datums(match.group(1)))
    match = re.match(r"^FOR VALUES FROM \((.*)\) TO \((.*)\)$", text, re.S)
    if match:
        return Bound('range', lower=_parse_datums(match.group(1)), upper=_parse_datums(match.group(2)))
    match = re.match(r'^FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)$', text)
    if match:
        return Bound('hash', modulus=int(match.group(1)), remainder=int(match.group(2)))
    return None


# -- checks between the partitions of one layout -------------------------------------

def _typed(value, category):
    if isinstance(value, Unbounded):
        return (value.rank, 0)
    if category == 'N':
        try:
            return (0, Decimal(value))
        except InvalidOperation:
            pass
    return (0, value)


def _check_list(layout, parts):
    owners = {}
    for part in parts:
        for value in part.bound.values:
            if value in owners and owners[value] != part.name:
                raise InvalidInput('partitions: value %s is listed in both %s and %s'
                                   % ('NULL' if value is None else repr(value), owners[value], part.name))
            if value in owners:
                raise InvalidInput('partitions: %s lists value %r twice' % (part.name, value))
            owners[value] = part.name


def _check_range(layout, parts):
    categories = [category for type_sql, category in layout.key_types] or ['S'] * len(layout.key)

    def key(values):
        return tuple(_typed(value, category) for value, category in zip(values, categories))
    ranges = []
    for part in parts:
        lower, upper = key(part.bound.lower), key(part.bound.upper)
        if lower >= upper:
            raise InvalidInput('partitions: %s: the range %s is empty (from must be below to)'
                               % (part.name, part.bound.text()))
        ranges.append((lower, upper, part))
    ranges.sort(key=lambda item: item[0])
    for first, second in zip(ranges, ranges[1:]):
        if second[0] < first[1]:
            raise InvalidInput('partitions: %s and %s overlap (%s; %s)'
                               % (first[2].name, second[2].name, first[2].bound.text(), second[2].bound.text()))


def _check_hash(layout, parts):
    if not parts:
        return
    moduli = sorted(set(part.bound.modulus for part in parts))
    for smaller, larger in zip(moduli, moduli[1:]):
        if larger % smaller:
            raise InvalidInput('partitions: hash moduli must each divide the next larger one; %d does not '
                               'divide %d' % (smaller, larger))
    top = moduli[-1]
    owners = {}
    for part in parts:
        for residue in range(part.bound.remainder, top, part.bound.modulus):
            if residue in owners:
                raise InvalidInput('partitions: %s and %s take the same hash values (modulus %d, remainder %d)'
                                   % (owners[residue], part.name, top, residue))
            owners[residue] = part.name
    missing = [str(residue) for residue in range(top) if residue not in owners]
    # A shard holds some of the partitions only: coverage is the coordinator's concern.
    if missing and layout.side == 'coordinator':
        raise InvalidInput('partitions: the hash partitions do not cover modulus %d: no partition takes '
                           'remainder %s' % (top, ', '.join(missing)))


def check_bounds(layout):
    """Refuse overlapping ranges, duplicate list values and hash remainders that clash or leave gaps.

    Range values are compared as numbers for numeric keys and as text
    otherwise (ISO dates and timestamps sort right; for collated text
    PostgreSQL's own overlap check at CREATE time still applies).
    """
    check = dict(list=_check_list, range=_check_range, hash=_check_hash).get(layout.method)
    if check:
        check(layout, [part for part in layout.partitions if not part.bound.is_default])


def sibling_bounds(layout):
    """The bounds a DEFAULT partition of layout excludes."""
    return [part.bound for part in layout.partitions if not part.bound.is_default]


def bound_check_identifier(layout, bound, hash_shape=None):
    """pgdist_bounds_<hash of the key and canonical bounds>."""
    others = ()
    if bound.is_default:
        others = sorted(repr(other.signature()) for other in sibling_bounds(layout))
    digest = hashlib.sha256(repr((layout.key, bound.signature(), others, hash_shape)).encode('utf-8')).hexdigest()
    return BOUND_CHECK_PREFIX + digest[:16]
