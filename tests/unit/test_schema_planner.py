"""The schema steps (partitioning/schema.py) on hand-built snapshots: indexes, CHECKs, foreign keys and
sequences, in the transaction on a new or empty table, after the commit (CONCURRENTLY, NOT VALID + VALIDATE) on
one that holds rows, nothing at all once converged, and what the coordinator's parent gets over foreign
partitions."""

from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import Snapshot
from ansible_collections.pgdist.cluster.plugins.module_utils.schema_catalog import MANAGED
from test_planners import (Rows, coordinator_snapshot, converged_children, guard_source, layout_of, planned,
                           shard_layout, shard_snapshot)

KEY = ('public', 'r_lagos')
OBJECTS = dict(indexes=[{'name': 'by_id', 'columns': ['id']}],
               checks=[{'name': 'id_positive', 'expression': 'id > 0'}],
               foreign_keys=[{'name': 'known_city', 'columns': ['city'],
                              'references': {'table': 'cities', 'columns': ['name']}}])
COMMENT_INDEX = 'COMMENT ON INDEX "public"."r_lagos_by_id" IS \'%s\'' % MANAGED


def index(columns, managed=True, valid=True, unique=False):
    return dict(columns=columns, unique=unique, method='btree', predicate=None, valid=valid, managed=managed)


def check(expression, validated=True, managed=True):
    return dict(type='c', expression=expression, validated=validated, managed=managed, columns=[], table=None,
                references=[])


def foreign_key(managed=True):
    return dict(type='f', expression=None, validated=True, managed=managed, columns=['city'], table='public.cities',
                references=['name'])


def existing(layout, indexes=None, constraints=None):
    snapshot = shard_snapshot(layout, guard_source(layout))
    snapshot.indexes = {KEY: indexes or {}}
    snapshot.constraints = {KEY: constraints or {}}
    return snapshot


def in_and_after(result, statements):
    """(statements in the transaction, statements after the commit)."""
    cut = min(result.outside_transaction) if result.outside_transaction else len(statements)
    return statements[:cut], statements[cut:]


def test_a_new_shard_table_gets_everything_in_its_transaction():
    layout = shard_layout(**OBJECTS)
    statements, outcome, result = planned(layout, Snapshot(schemas={'public'}))
    assert not result.outside_transaction
    assert statements[-6:] == [
        'CREATE INDEX "r_lagos_by_id" ON "public"."r_lagos" USING "btree" ("id")', COMMENT_INDEX,
        'ALTER TABLE "public"."r_lagos" ADD CONSTRAINT "id_positive" CHECK (id > 0)',
        'COMMENT ON CONSTRAINT "id_positive" ON "public"."r_lagos" IS \'%s\'' % MANAGED,
        'ALTER TABLE "public"."r_lagos" ADD CONSTRAINT "known_city" FOREIGN KEY ("city") REFERENCES '
        '"public"."cities" ("name")',
        'COMMENT ON CONSTRAINT "known_city" ON "public"."r_lagos" IS \'%s\'' % MANAGED]
    assert outcome['after']['public.r_lagos']['indexes'] == {
        'r_lagos_by_id': {'columns': ['id'], 'unique': False, 'method': 'btree', 'where': None}}


def test_a_shard_table_with_rows_changes_without_blocking_writes():
    layout = shard_layout(**OBJECTS)
    rows = Rows(held={KEY})
    statements, outcome, result = planned(layout, existing(layout), rows)
    inside, after = in_and_after(result, statements)
    assert inside == [
        'ALTER TABLE "public"."r_lagos" ADD CONSTRAINT "id_positive" CHECK (id > 0) NOT VALID',
        'COMMENT ON CONSTRAINT "id_positive" ON "public"."r_lagos" IS \'%s\'' % MANAGED,
        'ALTER TABLE "public"."r_lagos" ADD CONSTRAINT "known_city" FOREIGN KEY ("city") REFERENCES '
        '"public"."cities" ("name") NOT VALID',
        'COMMENT ON CONSTRAINT "known_city" ON "public"."r_lagos" IS \'%s\'' % MANAGED]
    assert after == [
        'CREATE INDEX CONCURRENTLY "r_lagos_by_id" ON "public"."r_lagos" USING "btree" ("id")', COMMENT_INDEX,
        'ALTER TABLE "public"."r_lagos" VALIDATE CONSTRAINT "id_positive"',
        'ALTER TABLE "public"."r_lagos" VALIDATE CONSTRAINT "known_city"']
    assert rows.asked == [('any', 'public', 'r_lagos')]


def test_an_empty_existing_shard_table_changes_in_the_transaction():
    layout = shard_layout(**OBJECTS)
    statements, outcome, result = planned(layout, existing(layout), Rows())
    assert not result.outside_transaction and 'NOT VALID' not in ' '.join(statements)


def test_converged_plans_nothing_and_asks_no_rows():
    layout = shard_layout(**OBJECTS)
    snapshot = existing(layout, {'r_lagos_by_id': index(['id'])},
                        {'id_positive': check('id > 0'), 'known_city': foreign_key()})
    rows = Rows(held={KEY})
    assert planned(layout, snapshot, rows)[0] == [] and rows.asked == []


def test_changed_invalid_unvalidated_and_unlisted_objects_converge():
    layout = shard_layout(**OBJECTS)
    snapshot = existing(layout, {'r_lagos_by_id': index(['id'], valid=False), 'old_one': index(['city']),
                                 'by_hand': index(['city'], managed=False)},
                        {'id_positive': check('id > 0', validated=False), 'known_city': foreign_key(managed=False),
                         'gone': check('id < 9')})
    statements, outcome, result = planned(layout, snapshot, Rows(held={KEY}))
    inside, after = in_and_after(result, statements)
    # taken over: the foreign key made by hand gets the comment; the check dropped from the list goes
    assert inside == ['COMMENT ON CONSTRAINT "known_city" ON "public"."r_lagos" IS \'%s\'' % MANAGED,
                      'ALTER TABLE "public"."r_lagos" DROP CONSTRAINT "gone"']
    assert after == [
        'DROP INDEX CONCURRENTLY "public"."r_lagos_by_id"',
        'CREATE INDEX CONCURRENTLY "r_lagos_by_id" ON "public"."r_lagos" USING "btree" ("id")', COMMENT_INDEX,
        'DROP INDEX CONCURRENTLY "public"."old_one"',
        'ALTER TABLE "public"."r_lagos" VALIDATE CONSTRAINT "id_positive"']


def test_the_coordinator_gets_what_postgresql_allows_and_numbers_the_ids():
    columns = [{'name': 'id', 'type': 'int', 'nullable': False, 'sequence': True}, {'name': 'city', 'type': 'text'}]
    layout = layout_of(columns=columns, indexes=[{'name': 'by_id', 'columns': ['id']},
                                                 {'name': 'one', 'columns': ['id', 'city'], 'unique': True}],
                       checks=OBJECTS['checks'], foreign_keys=OBJECTS['foreign_keys'])
    statements, outcome, result = planned(layout, coordinator_snapshot(converged_children(), indexes={},
                                                                       constraints={}))
    # r_lagos is foreign: no unique index, no foreign key; r_paris is local: the CHECK is validated later
    assert statements == [
        'CREATE SEQUENCE "public"."r_id_seq" AS integer OWNED BY "public"."r"."id"',
        'SELECT pg_catalog.setval(\'"public"."r_id_seq"\'::regclass, COALESCE((SELECT max("id") FROM "public"."r"), '
        '0) + 1, false)',
        'ALTER TABLE "public"."r" ALTER COLUMN "id" SET DEFAULT pg_catalog.nextval(\'"public"."r_id_seq"\'::regclass)',
        'CREATE INDEX "by_id" ON "public"."r" USING "btree" ("id")',
        'COMMENT ON INDEX "public"."by_id" IS \'%s\'' % MANAGED,
        'ALTER TABLE "public"."r" ADD CONSTRAINT "id_positive" CHECK (id > 0) NOT VALID',
        'COMMENT ON CONSTRAINT "id_positive" ON "public"."r" IS \'%s\'' % MANAGED,
        'ALTER TABLE "public"."r" VALIDATE CONSTRAINT "id_positive"']
    assert len(result.outside_transaction) == 1
    assert outcome['after']['columns']['id']['sequence'] == 'public.r_id_seq'
