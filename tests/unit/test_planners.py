"""The planners on hand-built snapshots: every branch, no server.

Each test states the catalog as a Snapshot, plans the wanted layout with
partitioning.table.plan() and reads the statements (rendered by
support.sqltext) and the refusals. Row checks are answered by Rows, which
records what it was asked.
"""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.bounds import bound_check_identifier
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import parse_layout
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import Snapshot
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.table import plan
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal, option_text
from support.sqltext import render

TYPES = {'int': 'integer', 'bigint': 'bigint', 'text': 'text', 'varchar': 'character varying', 'bool': 'boolean'}
COLUMNS = [{'name': 'id', 'type': 'int', 'nullable': False}, {'name': 'city', 'type': 'text'}]
PARTS = [{'name': 'r_paris', 'values': ['paris']},
         {'name': 'r_lagos', 'values': ['lagos'], 'server': 's1'}]


class Rows(object):
    """Row checks: held tables hold rows; outside maps a table to (count, smallest, largest)."""

    def __init__(self, held=(), outside=None):
        self.held = set(held)
        self.outside_rows = dict(outside or {})
        self.asked = []

    def any(self, schema, name):
        self.asked.append(('any', schema, name))
        return (schema, name) in self.held

    def outside(self, schema, name, query):
        self.asked.append(('outside', schema, name, render(query)))
        return self.outside_rows.get((schema, name), (0, None, None))


def layout_of(**params):
    """parse_layout, then what resolve() would set from the server (canonical types and defaults)."""
    base = dict(name='public.r', side='coordinator', partitioning='declarative', state='present', columns=COLUMNS,
                partition_by={'method': 'list', 'key': 'city'}, partitions=PARTS, primary_key=None, route_via=None,
                prune_partitions=False, drop_data=False, key_update='refuse', analyze=False)
    base.update(params)
    layout = parse_layout(base)
    for column in layout.columns:
        column.type_sql = TYPES[column.type_text]
        column.default_value = None if column.default is None else option_text(column.default)
    layout.key_types = [(layout.column(name).type_sql, 'N' if name == 'id' else 'S') for name in layout.key
                        if layout.column(name)]
    return layout


def relation(schema, name, kind='r', server=None, bound=None, checks=(), primary_key=None, strategy=None,
             remote=None):
    options = {}
    if server:
        options = dict(schema_name=(remote or (schema, name))[0], table_name=(remote or (schema, name))[1])
    return dict(schema=schema, name=name, kind=kind, is_partition=bound is not None, strategy=strategy,
                bound=bound, server=server, options=options, bound_checks=list(checks), primary_key=primary_key)


def column(name, type_sql, not_null=False, default=None, value=None):
    return dict(name=name, type=type_sql, not_null=not_null, default=default, value=value)


CURRENT_COLUMNS = [column('id', 'integer', True), column('city', 'text')]


def coordinator_snapshot(children=(), parent_kind='p', columns=None, **extra):
    """The parent public.r (list by city) with children [(relation)], servers s1, s2."""
    relations = dict(((child['schema'], child['name']), child) for child in children)
    relations[('public', 'r')] = relation('public', 'r', kind=parent_kind, strategy='l' if parent_kind == 'p' else None)
    values = dict(relations=relations, children=[(child['schema'], child['name']) for child in children],
                  columns={('public', 'r'): columns or [dict(c) for c in CURRENT_COLUMNS]}, schemas={'public'},
                  servers={'s1', 's2'}, database='lib')
    values.update(extra)
    return Snapshot(**values)


def converged_children():
    return [relation('public', 'r_lagos', kind='f', server='s1', bound="FOR VALUES IN ('lagos')"),
            relation('public', 'r_paris', bound="FOR VALUES IN ('paris')")]


def planned(layout, snapshot, rows=None):
    """(statements as text, outcome, the plan)."""
    result, outcome = plan(layout, snapshot, rows or Rows(), render)
    return [render(statement) for statement in result.statements], outcome, result


def sql_of(layout, snapshot, rows=None):
    """The planned statements as text."""
    return planned(layout, snapshot, rows)[0]


def refusal(layout, snapshot, rows=None, error=Refusal):
    with pytest.raises(error) as info:
        plan(layout, snapshot, rows or Rows(), render)
    return str(info.value)


# -- declarative coordinator ------------------------------------------------------------

def test_new_table_creates_parent_and_partitions_and_no_row_trigger():
    statements, outcome, result = planned(layout_of(), Snapshot(schemas={'public'}, servers={'s1'}))
    assert statements == [
        'CREATE TABLE "public"."r" ("id" integer NOT NULL, "city" text) PARTITION BY LIST ("city")',
        'CREATE TABLE "public"."r_paris" PARTITION OF "public"."r" FOR VALUES IN (\'paris\')',
        'CREATE FOREIGN TABLE "public"."r_lagos" PARTITION OF "public"."r" FOR VALUES IN (\'lagos\') SERVER "s1" '
        'OPTIONS ("schema_name" \'public\', "table_name" \'r_lagos\')']
    assert outcome['before'] == {} and outcome['unlisted_partitions'] == []
    assert outcome['partitions']['r_lagos'] == {'bounds': "FOR VALUES IN ('lagos')", 'server': 's1',
                                                'remote': 'public.r_lagos'}


def test_missing_schema_and_unknown_server():
    statements = sql_of(layout_of(name='app.r', partitions=[]), Snapshot(schemas=set()))
    assert statements[0] == 'CREATE SCHEMA "app"'
    message = refusal(layout_of(), Snapshot(schemas={'public'}), error=InvalidInput)
    assert message.startswith('partitions: r_lagos: foreign server s1 does not exist in database ')


def test_converged_table_plans_nothing_and_asks_no_rows():
    rows = Rows()
    statements, outcome, result = planned(layout_of(), coordinator_snapshot(converged_children()), rows)
    assert statements == [] and rows.asked == []
    assert dict(outcome['before'], method='list', key=['city']) == outcome['after'] == {
        'table': 'public.r', 'partitioning': 'declarative', 'method': 'list', 'key': ['city'],
        'columns': {'id': {'type': 'integer', 'nullable': False, 'default': None},
                    'city': {'type': 'text', 'nullable': True, 'default': None}},
        'partitions': {'r_paris': {'bounds': "FOR VALUES IN ('paris')", 'server': None, 'remote': None},
                       'r_lagos': {'bounds': "FOR VALUES IN ('lagos')", 'server': 's1', 'remote': 'public.r_lagos'}}}


def test_added_partition_and_column_default_compared_as_value():
    parts = PARTS + [{'name': 'r_oslo', 'values': ['oslo'], 'server': 's2', 'options': {'fetch_size': 50}}]
    columns = COLUMNS + [{'name': 'n', 'type': 'int', 'default': 5}]
    current = CURRENT_COLUMNS + [column('n', 'integer', default='5', value='5')]
    statements = sql_of(layout_of(partitions=parts, columns=columns),
                        coordinator_snapshot(converged_children(), columns=current))
    assert statements == ['CREATE FOREIGN TABLE "public"."r_oslo" PARTITION OF "public"."r" FOR VALUES IN (\'oslo\') '
                          'SERVER "s2" OPTIONS ("fetch_size" \'50\', "schema_name" \'public\', '
                          '"table_name" \'r_oslo\')']
    current[2] = column('n', 'integer', default='7', value='7')
    statements = sql_of(layout_of(columns=columns), coordinator_snapshot(converged_children(), columns=current))
    assert statements == ['ALTER TABLE "public"."r" ALTER COLUMN "n" SET DEFAULT 5']


def test_bound_change_with_every_row_inside_detaches_all_then_attaches():
    parts = [dict(PARTS[0], values=['paris', 'lyon']), dict(PARTS[1], values=['lagos', 'abuja'])]
    rows = Rows(held={('public', 'r_paris'), ('public', 'r_lagos')})
    statements = sql_of(layout_of(partitions=parts), coordinator_snapshot(converged_children()), rows)
    assert statements == [
        'ALTER TABLE "public"."r" DETACH PARTITION "public"."r_paris"',
        'ALTER TABLE "public"."r" DETACH PARTITION "public"."r_lagos"',
        'ALTER TABLE "public"."r" ATTACH PARTITION "public"."r_paris" FOR VALUES IN (\'paris\', \'lyon\')',
        'ALTER TABLE "public"."r" ATTACH PARTITION "public"."r_lagos" FOR VALUES IN (\'lagos\', \'abuja\')']
    # one query per partition: how many rows fall outside the new bounds, with their smallest and largest key
    assert [ask[:3] for ask in rows.asked] == [('outside', 'public', 'r_paris'), ('outside', 'public', 'r_lagos')]
    assert rows.asked[0][3] == (
        'SELECT (SELECT count(*) FROM ONLY "public"."r_paris" WHERE NOT COALESCE(("city" IN (\'paris\', \'lyon\')), '
        'false)), (SELECT "city"::text FROM ONLY "public"."r_paris" WHERE NOT COALESCE(("city" IN (\'paris\', '
        '\'lyon\')), false) ORDER BY "city" ASC NULLS LAST LIMIT 1), (SELECT "city"::text FROM ONLY "public".'
        '"r_paris" WHERE NOT COALESCE(("city" IN (\'paris\', \'lyon\')), false) ORDER BY "city" DESC NULLS LAST '
        'LIMIT 1)')


def test_values_pass_to_a_new_partition_in_one_run():
    parts = [dict(PARTS[0], values=['paris']), PARTS[1], {'name': 'r_lyon', 'values': ['lyon']}]
    children = [converged_children()[0], relation('public', 'r_paris', bound="FOR VALUES IN ('paris', 'lyon')")]
    assert sql_of(layout_of(partitions=parts), coordinator_snapshot(children)) == [
        'ALTER TABLE "public"."r" DETACH PARTITION "public"."r_paris"',
        'CREATE TABLE "public"."r_lyon" PARTITION OF "public"."r" FOR VALUES IN (\'lyon\')',
        'ALTER TABLE "public"."r" ATTACH PARTITION "public"."r_paris" FOR VALUES IN (\'paris\')']


def test_bound_change_with_rows_outside_is_refused_with_count_and_keys():
    parts = [dict(PARTS[0], values=['lyon']), PARTS[1]]
    rows = Rows(outside={('public', 'r_paris'): (3, 'nice', 'paris')})
    message = refusal(layout_of(partitions=parts), coordinator_snapshot(converged_children()), rows)
    assert message == ("partitions: r_paris: public.r_paris holds 3 row(s) outside its new bounds FOR VALUES IN "
                       "('lyon') (smallest key nice, largest key paris): changing the bounds would hide them, so it "
                       "is refused and nothing "
                       "was changed; move or delete those rows first")


def test_range_shift_between_neighbours_and_hash_checks_run_on_the_coordinator():
    by = {'method': 'range', 'key': 'id'}
    parts = [{'name': 'lo', 'from': 'MINVALUE', 'to': 10, 'server': 's1'}, {'name': 'hi', 'from': 10, 'to': 200}]
    children = [relation('public', 'hi', bound="FOR VALUES FROM ('100') TO ('200')"),
                relation('public', 'lo', kind='f', server='s1', bound="FOR VALUES FROM (MINVALUE) TO ('100')")]
    snapshot = coordinator_snapshot(children)
    snapshot.relations[('public', 'r')]['strategy'] = 'r'
    statements = sql_of(layout_of(partition_by=by, partitions=parts), snapshot)
    assert [s.split(' PARTITION ')[0] for s in statements] == ['ALTER TABLE "public"."r" DETACH'] * 2 + [
        'ALTER TABLE "public"."r" ATTACH'] * 2
    # a hash predicate names the coordinator's parent: fenced (OFFSET 0), so postgres_fdw does not ship it
    hash_parts = [{'name': 'h%d' % r, 'modulus': 2, 'remainder': r, 'server': 's1'} for r in range(2)]
    hash_children = [relation('public', 'h%d' % r, kind='f', server='s1',
                              bound='FOR VALUES WITH (modulus 2, remainder %d)' % (1 - r)) for r in range(2)]
    snapshot = coordinator_snapshot(hash_children)
    snapshot.relations[('public', 'r')]['strategy'] = 'h'
    rows = Rows()
    planned(layout_of(partition_by={'method': 'hash', 'key': 'id'}, partitions=hash_parts), snapshot, rows)
    assert 'FROM (SELECT * FROM ONLY "public"."h0" OFFSET 0) AS r WHERE NOT COALESCE(satisfies_hash_partition(' \
           '\'"public"."r"\'::regclass::oid, 2, 0, "id"), false)' in rows.asked[0][3]


def test_new_partition_is_checked_against_the_rows_of_the_default_partition():
    parts = PARTS + [{'name': 'r_other', 'default': True, 'server': 's2'}]
    children = converged_children() + [relation('public', 'r_other', kind='f', server='s2', bound='DEFAULT')]
    with_oslo = parts + [{'name': 'r_oslo', 'values': ['oslo']}]
    rows = Rows(outside={('public', 'r_other'): (2, 'oslo', 'oslo')})
    message = refusal(layout_of(partitions=with_oslo), coordinator_snapshot(children), rows)
    assert message.startswith('partitions: r_other: public.r_other holds 2 row(s) outside its new bounds DEFAULT '
                              '(smallest key oslo')
    statements = sql_of(layout_of(partitions=parts), coordinator_snapshot(children), rows)
    assert statements == []  # the default is checked only when the other partitions change


def test_repointed_partition_recreated_when_empty_refused_with_rows():
    parts = [PARTS[0], dict(PARTS[1], server='s2')]
    statements = sql_of(layout_of(partitions=parts), coordinator_snapshot(converged_children()))
    assert statements == [
        'ALTER TABLE "public"."r" DETACH PARTITION "public"."r_lagos"', 'DROP FOREIGN TABLE "public"."r_lagos"',
        'CREATE FOREIGN TABLE "public"."r_lagos" PARTITION OF "public"."r" FOR VALUES IN (\'lagos\') SERVER "s2" '
        'OPTIONS ("schema_name" \'public\', "table_name" \'r_lagos\')']
    message = refusal(layout_of(partitions=parts), coordinator_snapshot(converged_children()),
                      Rows(held={('public', 'r_lagos')}))
    assert message == ('public.r_lagos holds rows: re-pointing partition r_lagos from its foreign table on s1 '
                       '(public.r_lagos) to server s2 (public.r_lagos) would lose or hide them, so it is refused '
                       'and nothing was changed')


def test_unlisted_partitions_are_kept_or_pruned():
    children = converged_children() + [relation('public', 'r_old', kind='f', server='s2', bound="FOR VALUES IN ('x')")]
    statements, outcome, result = planned(layout_of(), coordinator_snapshot(children))
    assert statements == [] and outcome['unlisted_partitions'] == ['public.r_old']
    assert 'r_old' in outcome['after']['partitions'] and 'prune_partitions: true' in result.warnings[0]
    statements = sql_of(layout_of(prune_partitions=True, drop_data=True), coordinator_snapshot(children))
    assert statements == ['ALTER TABLE "public"."r" DETACH PARTITION "public"."r_old"',
                          'DROP FOREIGN TABLE "public"."r_old"']


def test_pruned_table_is_attached_again_after_a_row_check():
    snapshot = coordinator_snapshot([converged_children()[0]])
    snapshot.relations[('public', 'r_paris')] = relation('public', 'r_paris')
    rows = Rows()
    statements = sql_of(layout_of(), snapshot, rows)
    assert statements == ['ALTER TABLE "public"."r" ATTACH PARTITION "public"."r_paris" FOR VALUES IN (\'paris\')']
    assert rows.asked[0][:3] == ('outside', 'public', 'r_paris')
    # a new hash parent: its key does not exist yet to check hash bounds, so only an empty table is attached
    hashed = layout_of(partition_by={'method': 'hash', 'key': 'id'}, partitions=[
        {'name': 'h0', 'modulus': 1, 'remainder': 0, 'server': 's1'}])
    existing = Snapshot(relations={('public', 'h0'): relation('public', 'h0', kind='f', server='s1')},
                        schemas={'public'}, servers={'s1'})
    assert 'attaching h0 to the new table public.r' in refusal(hashed, existing, Rows(held={('public', 'h0')}))
    assert sql_of(hashed, existing)[1] == 'ALTER TABLE "public"."r" ATTACH PARTITION "public"."h0" FOR VALUES ' \
                                          'WITH (MODULUS 1, REMAINDER 0)'


@pytest.mark.parametrize('change, words', [
    (dict(parent_kind='r'), 'public.r exists as a plain table; it cannot become a partitioned table'),
    (dict(strategy='h'), 'partition_by: public.r is partitioned by hash, not list'),
    (dict(columns=[column('id', 'integer', True), column('city', 'character varying')]),
     'columns: city: public.r is partitioned by city, whose type (character varying)'),
])
def test_refusals_on_the_parent(change, words):
    strategy = change.pop('strategy', None)
    snapshot = coordinator_snapshot(converged_children(), **change)
    if strategy:
        snapshot.relations[('public', 'r')]['strategy'] = strategy
    assert words in refusal(layout_of(), snapshot)


def test_column_changes_are_refused_on_tables_with_rows_and_done_on_empty_ones():
    columns = [COLUMNS[0], dict(COLUMNS[1]), {'name': 'note', 'type': 'int'}]
    current = CURRENT_COLUMNS + [column('note', 'text')]
    snapshot = coordinator_snapshot(converged_children(), columns=current)
    assert 'changing the type of column note from text to integer' in refusal(
        layout_of(columns=columns), snapshot, Rows(held={('public', 'r')}))
    statements = sql_of(layout_of(columns=columns[:2]), snapshot)
    assert statements == ['ALTER TABLE "public"."r" DROP COLUMN "note"']


def test_absent_needs_drop_data_then_drops_everything():
    snapshot = coordinator_snapshot(converged_children())
    assert 'set drop_data: true' in refusal(layout_of(state='absent'), snapshot)
    statements, outcome, result = planned(layout_of(state='absent', drop_data=True), snapshot)
    assert statements == ['ALTER TABLE "public"."r" DETACH PARTITION "public"."r_lagos"',
                          'DROP FOREIGN TABLE "public"."r_lagos"',
                          'ALTER TABLE "public"."r" DETACH PARTITION "public"."r_paris"',
                          'DROP TABLE "public"."r_paris"',
                          'DROP TABLE "public"."r"']
    assert outcome['after'] == {}


# -- key_update ----------------------------------------------------------------------------

def test_key_update_move_adds_the_mover_and_refuse_removes_it():
    statements = sql_of(layout_of(key_update='move'), coordinator_snapshot(converged_children()))
    assert statements[0].startswith('CREATE OR REPLACE FUNCTION "public"."r_pgdist_move"() RETURNS trigger')
    assert statements[1] == ('CREATE TRIGGER "pgdist_move" BEFORE UPDATE ON "public"."r" FOR EACH ROW EXECUTE '
                             'FUNCTION "public"."r_pgdist_move"()')
    source = statements[0].split(' AS ', 1)[1][1:-1].replace("''", "'")
    installed = coordinator_snapshot(converged_children(), functions={('public', 'r_pgdist_move'): source},
                                     triggers={('public', 'r'): {'pgdist_move': 'public.r_pgdist_move'}})
    assert sql_of(layout_of(key_update='move'), installed) == []
    # an existing deployment converges to the default: no row trigger on the partitions
    assert sql_of(layout_of(), installed) == ['DROP TRIGGER "pgdist_move" ON "public"."r"',
                                              'DROP FUNCTION "public"."r_pgdist_move"()']
    # without a foreign partition there is nothing to move
    assert sql_of(layout_of(key_update='move', partitions=PARTS[:1]),
                  coordinator_snapshot(converged_children()[1:])) == []


def remote_snapshot(checks=None, error=None, refused=False, **extra):
    """The converged coordinator with what the shard of r_lagos (server s1) was read to hold."""
    remote = {}
    if checks is not None:
        remote[('s1', 'public', 'r_lagos')] = relation('public', 'r_lagos', checks=checks) if checks != 'missing' else None
    return coordinator_snapshot(converged_children(), remote_tables=remote, key_updates_refused=refused,
                                remote_errors={'s1': error} if error else {}, **extra)


def lagos_check():
    layout = layout_of()
    return bound_check_identifier(layout, layout.partitions[1].bound)


def test_shard_table_with_its_bounds_check_is_trusted_silently():
    statements, outcome, result = planned(layout_of(), remote_snapshot(checks=[lagos_check()]))
    assert statements == [] and result.warnings == []


def test_shard_table_without_bounds_check_refused_for_key_update_refuse():
    message = refusal(layout_of(), remote_snapshot(checks=[]))
    assert message.startswith('key_update: refuse cannot be honoured: the shard table of r_lagos (public.r_lagos on '
                              's1) has no pgdist bounds CHECK')
    assert 'side: shard for public.r on those shards' in message and message.endswith('nothing was changed')
    # a CHECK for other bounds (the partition was re-bounded since) does not count
    other = bound_check_identifier(layout_of(), layout_of(partitions=[dict(PARTS[1], values=['oslo'])]).partitions[0].bound)
    assert refusal(layout_of(), remote_snapshot(checks=[other])).startswith('key_update: refuse cannot be honoured')


@pytest.mark.parametrize('params, refused, words', [
    ({}, True, 'refused by the coordinator extension'),
    ({'key_update': 'move'}, False, 'moved (key_update: move)')])
def test_shard_table_without_bounds_check_is_a_warning_when_updates_are_covered(params, refused, words):
    statements, outcome, result = planned(layout_of(**params), remote_snapshot(checks=[], refused=refused))
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith('the shard table of r_lagos (public.r_lagos on s1) has no pgdist bounds CHECK')
    assert 'rows written into those partitions by name, or on the shard, are not checked' in result.warnings[0]
    assert words in result.warnings[0]


def test_shard_table_that_cannot_be_read_or_is_missing_is_a_warning():
    for snapshot, reason in ((remote_snapshot(error='connection refused'), 'connection refused'),
                             (remote_snapshot(checks='missing'), 'no such table there')):
        statements, outcome, result = planned(layout_of(), snapshot)
        assert result.warnings == ['cannot tell whether the shard tables behind these foreign partitions refuse rows '
                                   'outside their bounds: r_lagos (public.r_lagos on s1): %s' % reason]
    # not read (check mode: the shard's task of this run creates it), nothing to say
    assert planned(layout_of(), remote_snapshot())[2].warnings == []


def test_key_update_move_needs_declarative_partitioning():
    with pytest.raises(InvalidInput, match='key_update: move needs partitioning: declarative'):
        layout_of(partitioning='inheritance', key_update='move')


# -- inheritance ---------------------------------------------------------------------------

def inheritance_layout(**params):
    return layout_of(partitioning='inheritance', **params)


def test_inheritance_new_table_children_with_checks_and_routing():
    statements = sql_of(inheritance_layout(), Snapshot(schemas={'public'}, servers={'s1'}))
    check = bound_check_identifier(inheritance_layout(), inheritance_layout().partitions[0].bound)
    assert statements[0] == 'CREATE TABLE "public"."r" ("id" integer NOT NULL, "city" text)'
    assert statements[1] == ('CREATE TABLE "public"."r_paris" (CONSTRAINT "%s" CHECK (("city" IN (\'paris\')))) '
                             'INHERITS ("public"."r")' % check)
    assert statements[2].startswith('CREATE FOREIGN TABLE "public"."r_lagos" (CONSTRAINT "pgdist_bounds_')
    assert statements[3].startswith('CREATE OR REPLACE FUNCTION "public"."r_pgdist_route"()')
    assert 'IF ("NEW"."city" IN' not in statements[3] and 'IF (NEW."city" IN (\'\'paris\'\')) THEN' in statements[3]
    assert statements[4] == ('CREATE TRIGGER "pgdist_route" BEFORE INSERT ON "public"."r" FOR EACH ROW EXECUTE '
                             'FUNCTION "public"."r_pgdist_route"()')


def inheritance_snapshot(layout, source, **extra):
    children = [relation('public', part.name, kind='f' if part.server else 'r', server=part.server,
                         checks=[bound_check_identifier(layout, part.bound)]) for part in layout.partitions]
    return coordinator_snapshot(children, parent_kind='r', functions={('public', 'r_pgdist_route'): source},
                                triggers={('public', 'r'): {'pgdist_route': 'public.r_pgdist_route'}}, **extra)


def routing_source(layout):
    statements = sql_of(layout, Snapshot(schemas={'public'}, servers={'s1', 's2'}))
    return [s for s in statements if 'FUNCTION' in s][0].split(' AS ', 1)[1][1:-1].replace("''", "'")


def test_inheritance_converged_then_a_new_child_replaces_only_the_function():
    layout = inheritance_layout()
    snapshot = inheritance_snapshot(layout, routing_source(layout))
    assert sql_of(layout, snapshot) == []
    tokyo = inheritance_layout(partitions=PARTS + [{'name': 'r_tokyo', 'values': ['tokyo']}])
    statements = sql_of(tokyo, snapshot)
    assert statements[0].startswith('CREATE TABLE "public"."r_tokyo" (CONSTRAINT')
    assert statements[1].startswith('CREATE OR REPLACE FUNCTION "public"."r_pgdist_route"()')
    assert len(statements) == 2  # the trigger already calls that function


def test_inheritance_bound_change_prune_and_existing_table():
    layout = inheritance_layout()
    snapshot = inheritance_snapshot(layout, routing_source(layout))
    wider = inheritance_layout(partitions=[dict(PARTS[0], values=['paris', 'lyon']), PARTS[1]])
    statements = sql_of(wider, snapshot, Rows(held={('public', 'r_paris')}))
    assert statements[0] == 'ALTER TABLE "public"."r_paris" DROP CONSTRAINT "%s"' % snapshot.relations[
        ('public', 'r_paris')]['bound_checks'][0]
    assert statements[1].startswith('ALTER TABLE "public"."r_paris" ADD CONSTRAINT "pgdist_bounds_')
    assert 'holds 1 row(s) outside' in refusal(wider, snapshot, Rows(outside={('public', 'r_paris'): (1, 'a', 'a')}))
    pruned = inheritance_layout(partitions=PARTS[:1], prune_partitions=True)
    statements = sql_of(pruned, snapshot)
    assert statements[0] == 'ALTER TABLE "public"."r_lagos" NO INHERIT "public"."r"'
    snapshot.relations[('public', 'r_oslo')] = relation('public', 'r_oslo')
    oslo = inheritance_layout(partitions=PARTS + [{'name': 'r_oslo', 'values': ['oslo']}])
    assert 'r_oslo: public.r_oslo exists but is not a child of public.r' in refusal(oslo, snapshot)


def test_inheritance_route_via_children_have_no_checks():
    layout = inheritance_layout(route_via={'table': 'b', 'column': 'id', 'references': 'id'},
                                partition_by={'method': 'list', 'key': 'location'})
    statements = sql_of(layout, Snapshot(schemas={'public'}, servers={'s1'}))
    assert statements[1] == 'CREATE TABLE "public"."r_paris" () INHERITS ("public"."r")'
    assert 'SELECT "location" INTO routed_via FROM "public"."b" WHERE "id" = NEW."id";' in statements[3]


# -- shard side ----------------------------------------------------------------------------

def shard_layout(**params):
    params.setdefault('partitions', [{'name': 'r_lagos', 'values': ['lagos']}])
    params.setdefault('primary_key', ['id', 'city'])
    return layout_of(side='shard', **params)


def test_shard_new_table_gets_bounds_check_and_key_guard():
    layout = shard_layout()
    check = bound_check_identifier(layout, layout.partitions[0].bound)
    statements, outcome, result = planned(layout, Snapshot(schemas={'public'}))
    assert statements[0] == ('CREATE TABLE "public"."r_lagos" ("id" integer NOT NULL, "city" text NOT NULL, PRIMARY '
                             'KEY ("id", "city"), CONSTRAINT "%s" CHECK (("city" IN (\'lagos\'))))' % check)
    assert statements[1].startswith('CREATE OR REPLACE FUNCTION "public"."r_pgdist_key_guard"() RETURNS trigger')
    assert "the new key (city) = % does not belong in %.% on this shard" in statements[1]
    assert 'set key_update: move for public.r' in statements[1]
    assert statements[2] == (
        'CREATE TRIGGER "pgdist_key_%s" BEFORE UPDATE OF "city" ON "public"."r_lagos" FOR EACH ROW WHEN (NOT '
        'COALESCE((NEW."city" IN (\'lagos\')), false)) EXECUTE FUNCTION "public"."r_pgdist_key_guard"()' % check[14:])
    assert outcome['after'] == {'public.r_lagos': {'bounds': [check], 'columns': {
        'id': {'type': 'integer', 'nullable': False, 'default': None},
        'city': {'type': 'text', 'nullable': False, 'default': None}}}}


def shard_snapshot(layout, guard_source, check=None, triggers=None):
    check = check or bound_check_identifier(layout, layout.partitions[0].bound)
    table = relation('public', 'r_lagos', checks=[check], primary_key=['id', 'city'])
    return Snapshot(relations={('public', 'r_lagos'): table}, schemas={'public'},
                    columns={('public', 'r_lagos'): [column('id', 'integer', True), column('city', 'text', True)]},
                    functions={('public', 'r_pgdist_key_guard'): guard_source},
                    triggers={('public', 'r_lagos'): triggers if triggers is not None else {
                        'pgdist_key_' + check[14:]: 'public.r_pgdist_key_guard'}})


def guard_source(layout):
    statements = sql_of(layout, Snapshot(schemas={'public'}))
    return statements[1].split(' AS ', 1)[1][1:-1].replace("''", "'")


def test_shard_converged_then_existing_deployment_gets_its_guard():
    layout = shard_layout()
    assert sql_of(layout, shard_snapshot(layout, guard_source(layout))) == []
    # a shard table made before key guards existed: the guard is added, rows untouched
    statements = sql_of(layout, shard_snapshot(layout, None, triggers={}))
    check = bound_check_identifier(layout, layout.partitions[0].bound)
    assert [s.split(' ')[:3] for s in statements] == [['CREATE', 'OR', 'REPLACE'],
                                                      ['CREATE', 'TRIGGER', '"pgdist_key_%s"' % check[14:]]]


def test_shard_bound_change_checks_rows_and_replaces_check_and_guard():
    layout = shard_layout()
    old = shard_snapshot(layout, guard_source(layout))
    wider = shard_layout(partitions=[{'name': 'r_lagos', 'values': ['lagos', 'abuja']}])
    rows = Rows(held={('public', 'r_lagos')})
    statements = sql_of(wider, old, rows)
    old_check = old.relations[('public', 'r_lagos')]['bound_checks'][0]
    new_check = bound_check_identifier(wider, wider.partitions[0].bound)
    assert [s.split(' (')[0] for s in statements] == [
        'ALTER TABLE "public"."r_lagos" DROP CONSTRAINT "%s"' % old_check,
        'ALTER TABLE "public"."r_lagos" ADD CONSTRAINT "%s" CHECK' % new_check,
        'DROP TRIGGER "pgdist_key_%s" ON "public"."r_lagos"' % old_check[14:],
        'CREATE TRIGGER "pgdist_key_%s" BEFORE UPDATE OF "city" ON "public"."r_lagos" FOR EACH ROW WHEN'
        % new_check[14:]]
    assert rows.asked[0][:3] == ('outside', 'public', 'r_lagos')
    assert 'holds 4 row(s) outside its new bounds' in refusal(
        wider, old, Rows(outside={('public', 'r_lagos'): (4, 'a', 'b')}))


def test_shard_hash_table_uses_its_shape_table():
    layout = shard_layout(partition_by={'method': 'hash', 'key': 'id'}, primary_key=['id'],
                          partitions=[{'name': 'h1', 'modulus': 2, 'remainder': 1}])
    statements = sql_of(layout, Snapshot(schemas={'public'}))
    assert statements[0] == 'CREATE TABLE "public"."_pgdist_hash_r" ("id" integer NOT NULL) PARTITION BY HASH ("id")'
    assert 'CHECK (satisfies_hash_partition(\'"public"."_pgdist_hash_r"\'::regclass::oid, 2, 1, "id"))' in statements[1]
    assert 'WHEN (NOT COALESCE(satisfies_hash_partition(\'"public"."_pgdist_hash_r"\'::regclass::oid, 2, 1, ' \
           'NEW."id"), false))' in statements[3]


def test_shard_lone_default_has_no_check_and_a_stale_one_is_dropped():
    layout = shard_layout(partitions=[{'name': 'r_lagos', 'default': True}], primary_key=None)
    statements, outcome, result = planned(layout, Snapshot(schemas={'public'}))
    assert statements == ['CREATE TABLE "public"."r_lagos" ("id" integer NOT NULL, "city" text)']
    stale = shard_snapshot(layout, None, check='pgdist_bounds_efb32dae7778fa33', triggers={})
    stale.relations[('public', 'r_lagos')]['primary_key'] = None
    stale.columns[('public', 'r_lagos')][1]['not_null'] = False
    assert sql_of(layout, stale) == [
        'ALTER TABLE "public"."r_lagos" DROP CONSTRAINT "pgdist_bounds_efb32dae7778fa33"']


def test_shard_default_excludes_the_bounds_of_partitions_held_elsewhere():
    parts = [{'name': 'r_lagos', 'default': True}, {'name': 'r_paris', 'values': ['paris'], 'elsewhere': True}]
    layout = shard_layout(partitions=parts, primary_key=None)
    # the same CHECK the coordinator's layout (paris local, the default on a server) expects of the shard table
    coordinator = layout_of(partitions=[{'name': 'r_paris', 'values': ['paris']},
                                        {'name': 'r_lagos', 'default': True, 'server': 's1'}])
    check = bound_check_identifier(coordinator, coordinator.partitions[1].bound)
    statements, outcome, result = planned(layout, Snapshot(schemas={'public'}))
    assert statements[0] == ('CREATE TABLE "public"."r_lagos" ("id" integer NOT NULL, "city" text, CONSTRAINT "%s" '
                             'CHECK (NOT COALESCE((("city" IN (\'paris\'))), false)))' % check), statements
    assert not any('r_paris' in statement for statement in statements)
    assert sorted(outcome['partitions']) == ['r_lagos']
    with pytest.raises(InvalidInput, match='elsewhere names a partition another shard holds; it is for side: shard'):
        layout_of(partitions=parts)


def test_shard_inheritance_and_route_via():
    layout = shard_layout(partitioning='inheritance', primary_key=None)
    statements = sql_of(layout, Snapshot(schemas={'public'}))
    assert 'routed on INSERT only' in statements[1] and 'key_update' not in statements[1]
    routed = shard_layout(partitioning='inheritance', primary_key=None, partition_by={'method': 'list', 'key': 'loc'},
                          route_via={'table': 'b', 'column': 'id', 'references': 'id'})
    assert sql_of(routed, Snapshot(schemas={'public'})) == [
        'CREATE TABLE "public"."r_lagos" ("id" integer NOT NULL, "city" text)']


def test_shard_refusals_and_absent():
    layout = shard_layout()
    snapshot = shard_snapshot(layout, guard_source(layout))
    snapshot.relations[('public', 'r_lagos')]['primary_key'] = ['id']
    assert 'already has the primary key (id)' in refusal(layout, snapshot)
    snapshot.relations[('public', 'r_lagos')]['kind'] = 'v'
    assert 'public.r_lagos exists and is not a plain table' in refusal(layout, snapshot)
    absent = shard_layout(state='absent')
    assert 'would drop the shard tables public.r_lagos' in refusal(absent, snapshot)
    statements = sql_of(shard_layout(state='absent', drop_data=True), snapshot)
    assert statements == ['DROP TABLE "public"."r_lagos"', 'DROP FUNCTION "public"."r_pgdist_key_guard"()']


# -- side: plain (reference tables) ----------------------------------------------------------

def plain_layout(**params):
    values = dict(side='plain', partition_by=None, partitions=[], name='public.countries',
                  columns=[{'name': 'code', 'type': 'text'}, {'name': 'name', 'type': 'text'}], primary_key=['code'])
    values.update(params)
    return layout_of(**values)


def test_plain_table_created_then_converged_and_a_stale_check_dropped():
    statements, outcome, result = planned(plain_layout(), Snapshot(schemas={'public'}))
    assert statements == ['CREATE TABLE "public"."countries" ("code" text NOT NULL, "name" text, PRIMARY KEY ("code"))']
    current = relation('public', 'countries', checks=['pgdist_bounds_efb32dae7778fa33'], primary_key=['code'])
    snapshot = Snapshot(relations={('public', 'countries'): current}, schemas={'public'},
                        columns={('public', 'countries'): [column('code', 'text', True), column('name', 'text')]})
    assert sql_of(plain_layout(), snapshot) == [
        'ALTER TABLE "public"."countries" DROP CONSTRAINT "pgdist_bounds_efb32dae7778fa33"']
    current['bound_checks'] = []
    assert sql_of(plain_layout(), snapshot) == []


def test_plain_refuses_partition_options():
    for given in (dict(partition_by={'method': 'list', 'key': 'code'}), dict(key_update='move'),
                  dict(partitions=[{'name': 'x', 'default': True}])):
        with pytest.raises(InvalidInput, match='side: plain manages one table without partitions'):
            plain_layout(**given)


# -- analyze ------------------------------------------------------------------------------

def test_analyze_runs_last_and_changes_nothing():
    statements, _outcome, result = planned(layout_of(analyze=True), coordinator_snapshot(converged_children()))
    assert statements == ['ANALYZE "public"."r"'] and not result.changes and result
    statements, _outcome, result = planned(inheritance_layout(analyze=True),
                                           Snapshot(schemas={'public'}, servers={'s1'}))
    assert statements[-1] == 'ANALYZE "public"."r", "public"."r_paris", "public"."r_lagos"' and result.changes
    assert sql_of(shard_layout(analyze=True), Snapshot(schemas={'public'}))[-1] == 'ANALYZE "public"."r_lagos"'
    assert sql_of(plain_layout(analyze=True), Snapshot(schemas={'public'}))[-1] == 'ANALYZE "public"."countries"'
    assert sql_of(layout_of(analyze=True, state='absent'), Snapshot()) == []
