"""An application's schema on real shards (issue 27, item 3): sysbench's sbtest table (a sequence-numbered id,
literal defaults, its k index) and an orders table with a CHECK, a foreign key to a reference table copied on
each shard and an expression default, built by partitioned_table on both sides, then changed on tables that
hold rows: CREATE INDEX CONCURRENTLY and NOT VALID + VALIDATE after the commit, a failed validation that the
next run recovers from, and what the module made dropped when taken out of the lists (what was made by hand
stays)."""

import psycopg2
import pytest

from support.ansible import run_tasks
from support.fdw import fdw_database

DB = 'ptschema'
SERVERS = {'ps_shard1': 'shard1', 'ps_shard2': 'shard2'}
SBTEST = dict(
    name='sbtest1', partition_by={'method': 'hash', 'key': ['id']},
    columns=[{'name': 'id', 'type': 'integer', 'nullable': False, 'sequence': True},
             {'name': 'k', 'type': 'integer', 'nullable': False, 'default': 0},
             {'name': 'c', 'type': 'char(120)', 'nullable': False, 'default': ''},
             {'name': 'pad', 'type': 'char(60)', 'nullable': False, 'default': ''}],
    partitions=[{'name': 'sbtest1_p0', 'modulus': 2, 'remainder': 0, 'server': 'ps_shard1'},
                {'name': 'sbtest1_p1', 'modulus': 2, 'remainder': 1, 'server': 'ps_shard2'}],
    indexes=[{'name': 'k_1', 'columns': ['k']}], primary_key=['id'])
ORDERS = dict(
    name='orders', partition_by={'method': 'list', 'key': ['region']},
    columns=[{'name': 'id', 'type': 'bigint', 'nullable': False, 'sequence': True},
             {'name': 'region', 'type': 'text', 'nullable': False},
             {'name': 'country', 'type': 'text'},
             {'name': 'total', 'type': 'numeric(12,2)'},
             {'name': 'created_at', 'type': 'timestamptz', 'default_expression': "now() - interval '1 second'"}],
    partitions=[{'name': 'orders_eu', 'values': ['eu'], 'server': 'ps_shard1'},
                {'name': 'orders_asia', 'values': ['asia'], 'server': 'ps_shard2'}],
    primary_key=['id', 'region'],
    indexes=[{'name': 'by_country', 'columns': ['country'], 'where': 'country IS NOT NULL'},
             {'name': 'one_per_region', 'columns': ['region', 'id'], 'unique': True}],
    checks=[{'name': 'total_positive', 'expression': 'total > 0'}],
    foreign_keys=[{'name': 'known_country', 'columns': ['country'],
                   'references': {'table': 'countries', 'columns': ['code']}}])


def tasks(clusters, tables, **changes):
    """The roles' way: the shard side on each shard for its partitions (the primary key there), then the
    coordinator; changes replace keys of every table."""
    out = []
    for server, shard in sorted(SERVERS.items()):
        for table in tables:
            spec = dict(table, **changes)
            spec.update(side='shard', partitions=[p for p in table['partitions'] if p['server'] == server])
            out.append({'name': '%s on %s' % (table['name'], shard),
                        'pgdist.cluster.partitioned_table': dict(clusters[shard].login, db=DB, **spec)})
    for table in tables:
        spec = dict(table, **changes)
        spec.pop('primary_key')
        out.append({'name': '%s on coordinator' % table['name'],
                    'pgdist.cluster.partitioned_table': dict(clusters['coordinator'].login, db=DB, **spec)})
    return out


def one(cluster, query, params=None):
    return cluster.scalar(query, params, dbname=DB)


def indexes(cluster, table):
    return dict(cluster.query("SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c "
                              "ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
                              (table,), dbname=DB))


def constraints(cluster, table):
    return dict((name, (kind, valid)) for name, kind, valid in cluster.query(
        "SELECT conname, contype, convalidated FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype IN ('c', 'f') AND conname NOT LIKE 'pgdist%%'", (table,), dbname=DB))


@pytest.fixture(scope='module')
def fdw(clusters):
    fdw_database(DB, clusters['coordinator'], dict((server, clusters[shard]) for server, shard in SERVERS.items()))
    for cluster in clusters.values():
        # The reference table and its copies (pgdist_reference_tables: side plain, copied by logical replication).
        cluster.query("CREATE TABLE countries (code text PRIMARY KEY)", dbname=DB)
        cluster.query("INSERT INTO countries VALUES ('vn'), ('fr')", dbname=DB)
    return clusters


@pytest.fixture(scope='module')
def deployed(fdw):
    check = run_tasks(tasks(fdw, [SBTEST, ORDERS]), check=True)
    first = run_tasks(tasks(fdw, [SBTEST, ORDERS]), diff=True)
    second = run_tasks(tasks(fdw, [SBTEST, ORDERS]))
    return dict(check=check, first=first, second=second)


def test_check_mode_plans_then_a_run_builds_and_the_next_changes_nothing(deployed, fdw):
    for name in ('check', 'first', 'second'):
        assert deployed[name].ok, deployed[name].stdout[-3000:]
    assert all(result['changed'] for result in deployed['check'].results())
    assert all(result['changed'] for result in deployed['first'].results())
    assert [result['queries'] for result in deployed['second'].results() if result['changed']] == []
    orders_on_shard1 = deployed['first'].results()[1]['diff']['after']['public.orders_eu']
    assert orders_on_shard1['constraints']['known_country']['table'] == 'public.countries'
    assert deployed['first'].results()[-1]['diff']['after']['columns']['created_at']['default_expression'] == \
        "(now() - '00:00:01'::interval)"


def test_the_shards_hold_the_indexes_checks_and_foreign_keys_and_no_computed_default(deployed, fdw):
    shard1, shard2 = fdw['shard1'], fdw['shard2']
    assert indexes(shard1, 'sbtest1_p0') == {
        'sbtest1_p0_k_1': 'CREATE INDEX sbtest1_p0_k_1 ON public.sbtest1_p0 USING btree (k)'}
    assert indexes(shard2, 'orders_asia') == {
        'orders_asia_by_country': 'CREATE INDEX orders_asia_by_country ON public.orders_asia USING btree (country) '
                                  'WHERE (country IS NOT NULL)',
        'orders_asia_one_per_region': 'CREATE UNIQUE INDEX orders_asia_one_per_region ON public.orders_asia '
                                      'USING btree (region, id)'}
    assert constraints(shard1, 'orders_eu') == {'total_positive': ('c', True), 'known_country': ('f', True)}
    # The coordinator numbers the ids and computes the expression default: the shards have no default there.
    defaults = "SELECT count(*) FROM pg_attrdef WHERE adrelid = %s::regclass AND adnum = 1"
    assert one(shard1, defaults, ('sbtest1_p0',)) == 0 and one(shard2, defaults, ('orders_asia',)) == 0
    assert one(fdw['coordinator'], "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = "
                                   "'sbtest1'::regclass AND adnum = 1") == "nextval('sbtest1_id_seq'::regclass)"


def test_the_coordinator_parent_gets_what_postgresql_allows_over_foreign_partitions(deployed, fdw):
    coordinator = fdw['coordinator']
    # Non-unique indexes (built on local partitions, skipped on foreign ones) and CHECKs; no unique index and
    # no foreign key over foreign partitions (PostgreSQL refuses both; the shards enforce them).
    assert sorted(indexes(coordinator, 'orders')) == ['by_country']
    assert sorted(indexes(coordinator, 'sbtest1')) == ['k_1']
    assert constraints(coordinator, 'orders') == {'total_positive': ('c', True)}


def test_ids_from_the_coordinator_are_unique_across_shards_and_constraints_hold_on_the_shards(deployed, fdw):
    coordinator = fdw['coordinator']
    coordinator.query("INSERT INTO sbtest1 (k, c, pad) SELECT g, 'c', 'p' FROM generate_series(1, 200) g", dbname=DB)
    assert one(coordinator, "SELECT count(DISTINCT id) FROM sbtest1") == 200
    assert one(fdw['shard1'], "SELECT count(*) FROM sbtest1_p0") > 0
    assert one(fdw['shard2'], "SELECT count(*) FROM sbtest1_p1") > 0
    coordinator.query("INSERT INTO orders (region, country, total) VALUES ('eu', 'fr', 10), ('asia', 'vn', 20)",
                      dbname=DB)
    assert one(fdw['shard2'], "SELECT count(*) FROM orders_asia WHERE created_at < now() AND id > 0") == 1
    with pytest.raises(psycopg2.Error, match='known_country'):
        coordinator.query("INSERT INTO orders (region, country, total) VALUES ('asia', 'xx', 5)", dbname=DB)
    with pytest.raises(psycopg2.Error, match='total_positive'):
        coordinator.query("INSERT INTO orders (region, country, total) VALUES ('eu', 'fr', -1)", dbname=DB)


def test_changes_on_tables_with_rows_build_concurrently_and_validate_after_the_commit(deployed, fdw):
    shard1 = fdw['shard1']
    shard1.query("CREATE INDEX by_hand ON sbtest1_p0 (pad)", dbname=DB)
    changed = dict(indexes=[{'name': 'k_1', 'columns': ['k', 'c']}], checks=[{'name': 'k_small', 'expression': 'k < 1000000'}])
    check = run_tasks(tasks(fdw, [SBTEST], **changed), check=True)
    assert check.ok, check.stdout[-3000:]
    shard_queries = check.results()[0]['queries']
    assert shard_queries == [
        'ALTER TABLE "public"."sbtest1_p0" ADD CONSTRAINT "k_small" CHECK ((k < 1000000)) NOT VALID',
        'COMMENT ON CONSTRAINT "k_small" ON "public"."sbtest1_p0" IS \'managed by pgdist.cluster.partitioned_table\'',
        'DROP INDEX CONCURRENTLY "public"."sbtest1_p0_k_1"',
        'CREATE INDEX CONCURRENTLY "sbtest1_p0_k_1" ON "public"."sbtest1_p0" USING "btree" ("k", "c")',
        'COMMENT ON INDEX "public"."sbtest1_p0_k_1" IS \'managed by pgdist.cluster.partitioned_table\'',
        'ALTER TABLE "public"."sbtest1_p0" VALIDATE CONSTRAINT "k_small"']
    run = run_tasks(tasks(fdw, [SBTEST], **changed) * 2)
    assert run.ok, run.stdout[-3000:]
    results = run.results()
    assert all(result['changed'] for result in results[:3]) and not any(r['changed'] for r in results[3:])
    assert sorted(indexes(shard1, 'sbtest1_p0')) == ['by_hand', 'sbtest1_p0_k_1']
    assert constraints(shard1, 'sbtest1_p0') == {'k_small': ('c', True)}
    # Taken out of the lists: what the module made goes, the index made by hand stays.
    run = run_tasks(tasks(fdw, [SBTEST], indexes=[], checks=[]))
    assert run.ok, run.stdout[-3000:]
    assert sorted(indexes(shard1, 'sbtest1_p0')) == ['by_hand'] and constraints(shard1, 'sbtest1_p0') == {}
    assert sorted(indexes(fdw['coordinator'], 'sbtest1')) == []


def test_a_failed_validation_is_reported_and_the_next_run_recovers(deployed, fdw):
    shard2 = fdw['shard2']
    bad = dict(checks=[{'name': 'total_positive', 'expression': 'total > 0'},
                       {'name': 'total_small', 'expression': 'total < 15'}])
    run = run_tasks(tasks(fdw, [ORDERS], **bad))
    assert not run.ok
    failed = [result for result in run.results() if result.get('failed')][0]
    assert 'total_small' in failed['msg'] and 'statements were applied before it' in failed['msg']
    # The constraint stays NOT VALID (new rows are checked); the next run validates it again, and fails again.
    assert constraints(shard2, 'orders_asia')['total_small'] == ('c', False)
    again = run_tasks(tasks(fdw, [ORDERS], **bad)[1:2], check=True)
    assert again.results()[0]['queries'] == [
        'ALTER TABLE "public"."orders_asia" VALIDATE CONSTRAINT "total_small"']
    fixed = run_tasks(tasks(fdw, [ORDERS]))
    assert fixed.ok, fixed.stdout[-3000:]
    assert 'total_small' not in constraints(shard2, 'orders_asia')
