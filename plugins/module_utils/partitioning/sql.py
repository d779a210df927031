# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL builders of partitioned tables: bound clauses and predicates, partition and child DDL,
the trigger functions (routing, row mover, key guard) and the row checks.

Like sqlbuild.py (which keeps the generic table and column DDL), everything
is composed with psycopg2.sql: Identifier for names, Literal for values.
A PL/pgSQL body is composed the same way and then rendered to text by the
caller, which compares it with the source the catalog holds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the runner
    sql = None

from ansible_collections.pgdist.cluster.plugins.module_utils.plan import create_options_clause

UNBOUNDED_KEYWORDS = ('MINVALUE', 'MAXVALUE')


def _join(items, separator=', '):
    return sql.SQL(separator).join(items)


def _row(items):
    return sql.SQL('ROW({})').format(_join(items))


def column_ref(name, record=None):
    """A key column in an expression: name, or record.name in PL/pgSQL."""
    if record:
        return sql.SQL(record + '.{}').format(sql.Identifier(name))
    return sql.Identifier(name)


# -- bounds -------------------------------------------------------------------------

def bound_value(value):
    """One partition bound datum: canonical text as a literal, NULL, MINVALUE or MAXVALUE."""
    if value is None:
        return sql.SQL('NULL')
    if getattr(value, 'keyword', None) in UNBOUNDED_KEYWORDS:
        return sql.SQL(value.keyword)
    return sql.Literal(value)


def bound_clause(bound):
    """FOR VALUES ... / DEFAULT for a bounds.Bound."""
    if bound.kind == 'default':
        return sql.SQL('DEFAULT')
    if bound.kind == 'list':
        return sql.SQL('FOR VALUES IN ({})').format(_join(map(bound_value, bound.values)))
    if bound.kind == 'range':
        return sql.SQL('FOR VALUES FROM ({}) TO ({})').format(
            _join(map(bound_value, bound.lower)), _join(map(bound_value, bound.upper)))
    return sql.SQL('FOR VALUES WITH (MODULUS {}, REMAINDER {})').format(
        sql.Literal(int(bound.modulus)), sql.Literal(int(bound.remainder)))


def _range_side(refs, values, lower):
    """The row comparison of one range bound, cut at its first MINVALUE/MAXVALUE."""
    cut = len(values)
    for index, value in enumerate(values):
        if getattr(value, 'keyword', None) in UNBOUNDED_KEYWORDS:
            cut = index
            break
    if cut == 0:
        # MINVALUE as lower or MAXVALUE as upper: no limit on this side.
        return None
    if cut == len(values):
        operator = '>=' if lower else '<'
    else:
        keyword = values[cut].keyword
        operator = {(True, 'MINVALUE'): '>=', (True, 'MAXVALUE'): '>',
                    (False, 'MAXVALUE'): '<=', (False, 'MINVALUE'): '<'}[(lower, keyword)]
    return sql.SQL('{} ' + operator + ' {}').format(_row(refs[:cut]), _row([sql.Literal(v) for v in values[:cut]]))


def _list_predicate(bound, refs):
    values = [value for value in bound.values if value is not None]
    parts = []
    if values:
        parts.append(sql.SQL('{} IN ({})').format(refs[0], _join(map(sql.Literal, values))))
    if len(values) != len(bound.values):
        parts.append(sql.SQL('{} IS NULL').format(refs[0]))
    return sql.SQL('({})').format(_join(parts, ' OR '))


def _range_predicate(bound, refs):
    parts = [sql.SQL('{} IS NOT NULL').format(ref) for ref in refs]
    for values, lower in ((bound.lower, True), (bound.upper, False)):
        side = _range_side(refs, values, lower)
        if side is not None:
            parts.append(side)
    return _join(parts, ' AND ')


def bound_predicate(bound, refs, others=(), hash_shape=None):
    """A boolean expression true exactly for the rows a partition with bound accepts.

    refs are the composed references to the key columns (a column, or NEW.column
    in a trigger); others are the bounds of the sibling partitions (for DEFAULT;
    a DEFAULT without siblings accepts every row, which is true); hash_shape is
    the text of the partitioned table whose key satisfies_hash_partition uses.
    """
    if bound.kind == 'default':
        if not others:
            return sql.SQL('true')
        return sql.SQL('NOT COALESCE({}, false)').format(
            _join([sql.SQL('({})').format(bound_predicate(other, refs)) for other in others], ' OR '))
    if bound.kind == 'hash':
        return sql.SQL('satisfies_hash_partition({}::regclass::oid, {}, {}, {})').format(
            sql.Literal(hash_shape), sql.Literal(int(bound.modulus)), sql.Literal(int(bound.remainder)),
            _join(refs))
    if bound.kind == 'list':
        return _list_predicate(bound, refs)
    return _range_predicate(bound, refs)


# -- partitions and children -----------------------------------------------------------

def foreign_clause(server, options):
    return sql.SQL(' SERVER {}{}').format(sql.Identifier(server), create_options_clause(options))


def create_partition(table, parent, bound, server=None, options=None):
    """CREATE [FOREIGN] TABLE table PARTITION OF parent <bound> [SERVER s OPTIONS (...)]."""
    if server is None:
        return sql.SQL('CREATE TABLE {} PARTITION OF {} {}').format(table, parent, bound_clause(bound))
    return sql.SQL('CREATE FOREIGN TABLE {} PARTITION OF {} {}{}').format(
        table, parent, bound_clause(bound), foreign_clause(server, options))


def create_inheriting_child(table, parent, constraints, server=None, options=None):
    """CREATE [FOREIGN] TABLE table (constraints) INHERITS (parent) [SERVER s OPTIONS (...)]."""
    query = sql.SQL('CREATE {}TABLE {} ({}) INHERITS ({})').format(
        sql.SQL('FOREIGN ' if server else ''), table, _join(constraints), parent)
    if server:
        query += foreign_clause(server, options)
    return query


def attach_partition(parent, table, bound):
    return sql.SQL('ALTER TABLE {} ATTACH PARTITION {} {}').format(parent, table, bound_clause(bound))


def detach_partition(parent, table):
    return sql.SQL('ALTER TABLE {} DETACH PARTITION {}').format(parent, table)


def no_inherit(table, parent):
    return sql.SQL('ALTER TABLE {} NO INHERIT {}').format(table, parent)


# -- trigger functions and triggers ----------------------------------------------------

def raise_text(text):
    """text inside a RAISE format string, where % is the placeholder."""
    return text.replace('%', '%%')


def raise_arguments(message, refs):
    """RAISE arguments: the message (one % placeholder) with the row of refs, as a check violation."""
    return sql.SQL("{}, ROW({}) USING ERRCODE = 'check_violation'").format(sql.Literal(message), _join(refs))


def routing_body(branches, failure, lookup=None):
    """The PL/pgSQL body of a routing trigger function.

    branches: [(predicate, child table)]; failure: composed RAISE arguments;
    lookup: (table, column, references, key columns) when rows route through
    another table's row, read into the record variable routed_via.
    """
    lines = [sql.SQL('DECLARE routed_via record;'), sql.SQL('BEGIN')]
    if lookup:
        table, column, references, key = lookup
        lines.append(sql.SQL('  SELECT {} INTO routed_via FROM {} WHERE {} = NEW.{};').format(
            _join(map(sql.Identifier, key)), table, sql.Identifier(references), sql.Identifier(column)))
    for index, (predicate, child) in enumerate(branches):
        lines.append(sql.SQL('  {} {} THEN').format(sql.SQL('IF' if index == 0 else 'ELSIF'), predicate))
        lines.append(sql.SQL('    INSERT INTO {} VALUES (NEW.*);').format(child))
    lines.append(sql.SQL('  ELSE' if branches else '  IF true THEN'))
    lines.append(sql.SQL('    RAISE EXCEPTION {};').format(failure))
    lines.append(sql.SQL('  END IF;'))
    lines.append(sql.SQL('  RETURN NULL;'))
    lines.append(sql.SQL('END'))
    return _join(lines, '\n')


def mover_body(render, parent, columns, key):
    """PL/pgSQL of the BEFORE UPDATE trigger that moves rows out of foreign partitions (key_update: move).

    PostgreSQL does not move a row whose partition key changes out of a foreign
    partition (postgres_fdw would update it in place, on the wrong shard). For a
    foreign partition whose row changes its key, this deletes the old row there
    (matching every column) and inserts the new row through the parent, which
    routes it; local partitions keep PostgreSQL's own row movement. The DELETE
    is a format() template: the % of quoted column names are doubled.
    """
    matches = _join([sql.SQL('{} IS NOT DISTINCT FROM ${}').format(sql.Identifier(name), sql.SQL(str(index + 1)))
                     for index, name in enumerate(columns)], ' AND ')
    template = 'DELETE FROM %I.%I WHERE ' + render(matches).replace('%', '%%')
    lines = [
        sql.SQL('BEGIN'),
        sql.SQL('  IF ROW({}) IS NOT DISTINCT FROM ROW({})').format(
            _join([column_ref(name, 'NEW') for name in key]), _join([column_ref(name, 'OLD') for name in key])),
        sql.SQL("     OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID) <> 'f' THEN"),
        sql.SQL('    RETURN NEW;'),
        sql.SQL('  END IF;'),
        sql.SQL('  EXECUTE pg_catalog.format({}, TG_TABLE_SCHEMA, TG_TABLE_NAME) USING {};').format(
            sql.Literal(template), _join([column_ref(name, 'OLD') for name in columns])),
        sql.SQL('  INSERT INTO {} VALUES (NEW.*);').format(parent),
        sql.SQL('  RETURN NULL;'),
        sql.SQL('END'),
    ]
    return _join(lines, '\n')


def key_guard_body(message, key, hint):
    """PL/pgSQL of the shard's guard: refuse an UPDATE that puts a row outside its table's bounds.

    message is a RAISE format with three placeholders: the new key, the
    table's schema and its name.
    """
    return _join([
        sql.SQL('BEGIN'),
        sql.SQL("  RAISE EXCEPTION {}, ROW({}), TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'check_violation',"
                ).format(sql.Literal(message), _join([column_ref(name, 'NEW') for name in key])),
        sql.SQL('    HINT = {};').format(sql.Literal(hint)),
        sql.SQL('END'),
    ], '\n')


def create_trigger_function(function, body_text):
    return sql.SQL('CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}').format(
        function, sql.Literal(body_text))


def drop_function(function):
    return sql.SQL('DROP FUNCTION {}()').format(function)


def create_trigger(name, timing, table, function):
    """CREATE TRIGGER name <timing> ON table FOR EACH ROW ...; timing is one of our fixed phrases."""
    return sql.SQL('CREATE TRIGGER {} ' + timing + ' ON {} FOR EACH ROW EXECUTE FUNCTION {}()').format(
        sql.Identifier(name), table, function)


def create_key_guard(name, table, key, predicate, function):
    """A BEFORE UPDATE OF <key> row trigger calling function when the new row fails predicate."""
    return sql.SQL('CREATE TRIGGER {} BEFORE UPDATE OF {} ON {} FOR EACH ROW WHEN (NOT COALESCE({}, false)) '
                   'EXECUTE FUNCTION {}()').format(
        sql.Identifier(name), _join(map(sql.Identifier, key)), table, predicate, function)


def drop_trigger(name, table):
    return sql.SQL('DROP TRIGGER {} ON {}').format(sql.Identifier(name), table)


# -- rows --------------------------------------------------------------------------------

def rows_outside(table, key, predicate, fence=False):
    """How many rows of table fail predicate, with their smallest and largest key (as text).

    Each part is a query of its own, so postgres_fdw sends a foreign table's
    count and its ORDER BY ... LIMIT 1 to the shard. fence (OFFSET 0) keeps a
    predicate that must run here, such as satisfies_hash_partition() on the
    coordinator's parent, from being sent along.
    """
    source = sql.SQL('ONLY {}').format(table)
    if fence:
        source = sql.SQL('(SELECT * FROM ONLY {} OFFSET 0) AS r').format(table)
    names = [sql.Identifier(name) for name in key]
    shown = names[0] if len(names) == 1 else _row(names)
    where = sql.SQL('NOT COALESCE({}, false)').format(predicate)

    def edge(direction):
        order = _join([sql.SQL('{} ' + direction + ' NULLS LAST').format(name) for name in names])
        return sql.SQL('(SELECT {}::text FROM {} WHERE {} ORDER BY {} LIMIT 1)').format(shown, source, where, order)
    return sql.SQL('SELECT (SELECT count(*) FROM {} WHERE {}), {}, {}').format(
        source, where, edge('ASC'), edge('DESC'))


def has_rows(table):
    return sql.SQL('SELECT EXISTS (SELECT 1 FROM {})').format(table)


def analyze(tables):
    return sql.SQL('ANALYZE {}').format(_join(tables))


# -- partition moves (partitioning/move.py) -------------------------------------------------

def pause_writes(parent, table):
    """SHARE ROW EXCLUSIVE locks until the transaction ends, on the parent and its foreign partition table: readers
    go on, writers wait.

    The parent first: a writer through the parent holds its ROW EXCLUSIVE lock while it waits for the
    partition's, so a pause of the partition alone would deadlock with the DETACH, which needs the parent ACCESS
    EXCLUSIVE. PostgreSQL refuses LOCK TABLE on a foreign table; ENABLE TRIGGER takes the same lock (for writes
    made on the partition directly). USER enables the table's own triggers, a change of no consequence here: the
    switch drops this foreign table in the same transaction, or rolls it back.
    """
    return [sql.SQL('LOCK TABLE ONLY {} IN SHARE ROW EXCLUSIVE MODE').format(parent),
            sql.SQL('ALTER FOREIGN TABLE {} ENABLE TRIGGER USER').format(table)]


def create_foreign_partition(table, parent, bound_text, server, options):
    """CREATE FOREIGN TABLE table PARTITION OF parent <bound> SERVER s OPTIONS (...).

    bound_text is the server's own pg_get_expr() of the partition being
    replaced (FOR VALUES ... or DEFAULT), the one piece of SQL here not built
    from Identifier or Literal: it re-creates exactly the bound it read.
    """
    return sql.SQL('CREATE FOREIGN TABLE {} PARTITION OF {} {}{}').format(
        table, parent, sql.SQL(bound_text), foreign_clause(server, options))


def comment_on_foreign_table(table, text):
    return sql.SQL('COMMENT ON FOREIGN TABLE {} IS {}').format(table, sql.Literal(text))


def rename_table(table, new_name):
    return sql.SQL('ALTER TABLE {} RENAME TO {}').format(table, sql.Identifier(new_name))
