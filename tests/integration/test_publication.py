"""pgdist.cluster.publication on a throw-away cluster: every variant is planned
in check mode without touching the catalog, applied, and idempotent; the
catalog (pg_publication, pg_publication_rel, pg_publication_namespace) holds
what was asked; bad row filters fail naming the field.

Row filters, column lists and TABLES IN SCHEMA are PostgreSQL 15's: on 13 and
14 each test asks for them, checks the refusal that names the field and the
version and changed nothing, then goes on with the plain table list those
servers have.
"""

import pytest

from support.ansible import run_module, run_tasks
from support.pgcluster import start_cluster

SETUP = """
CREATE TABLE public.books (id int PRIMARY KEY, city text, title text);
CREATE TABLE public.loans (id int PRIMARY KEY, book_id int, returned bool);
CREATE TABLE public.events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE SCHEMA ref;
CREATE TABLE ref.countries (code text PRIMARY KEY);
CREATE ROLE pub_owner SUPERUSER;
"""


@pytest.fixture(scope='module')
def pg():
    cluster = start_cluster('publication')
    cluster.query(SETUP)
    yield cluster
    cluster.destroy()


def snapshot(pg, name='pub'):
    """Everything the catalogs say about publication name, comparable."""
    publication = pg.query("""
        SELECT pubname, pg_get_userbyid(pubowner), puballtables, pubinsert, pubupdate, pubdelete, pubtruncate,
               pubviaroot FROM pg_publication WHERE pubname = %s""", (name,))
    if pg.major < 15:
        tables = pg.query("""
            SELECT prrelid::regclass::text, NULL, NULL FROM pg_publication_rel pr
              JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = %s ORDER BY 1""", (name,))
        return publication, tables, []
    tables = pg.query("""
        SELECT prrelid::regclass::text, pg_get_expr(prqual, prrelid), prattrs::text
          FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
         WHERE p.pubname = %s ORDER BY 1""", (name,))
    schemas = pg.query("""
        SELECT pnnspid::regnamespace::text FROM pg_publication_namespace pn
          JOIN pg_publication p ON p.oid = pn.pnpubid WHERE p.pubname = %s ORDER BY 1""", (name,))
    return publication, tables, schemas


def refused_before_15(pg, args, field):
    """On 13 and 14: the task fails naming field and PostgreSQL 15, in check mode and for real, changing
    nothing. Returns whether the server is that old."""
    if pg.major >= 15:
        return False
    before = snapshot(pg)
    for check in (True, False):
        result, run = run_module('publication', args, login=pg.login, check=check)
        assert not run.ok and result['failed']
        assert result['msg'] == '%s needs PostgreSQL 15 or later; this server runs %s' % (
            field, pg.version()), result['msg']
        assert snapshot(pg) == before
    return True


def converge(pg, args):
    """Check mode changes nothing; a real run changes; the second run does not. Returns the real result."""
    before = snapshot(pg)
    checked, run = run_module('publication', args, login=pg.login, check=True, diff=True)
    assert run.ok, run.stdout
    assert checked['changed'] and checked['queries']
    assert snapshot(pg) == before
    run = run_tasks([{'name': 'apply', 'pgdist.cluster.publication': dict(pg.login, **args)},
                     {'name': 'again', 'pgdist.cluster.publication': dict(pg.login, **args)}], diff=True)
    assert run.ok, run.stdout
    applied, again = run.results()
    assert applied['changed'] and not again['changed'], (applied, again)
    assert again['queries'] == []
    assert applied['queries'] == checked['queries']
    assert applied['diff']['after'] == again['diff']['before'] == again['diff']['after']
    return applied


def test_table_list_with_row_filter_and_columns(pg):
    args = dict(name='pub', tables=[
        'books', {'name': 'public.loans', 'where': 'returned  IS NOT TRUE', 'columns': ['id', 'returned']}],
        publish=['insert', 'update'], publish_via_partition_root=True)
    if refused_before_15(pg, args, 'tables[1].columns (a column list)'):
        args['tables'][1] = 'public.loans'
    result = converge(pg, args)
    assert result['queries'][0].startswith('CREATE PUBLICATION "pub" FOR TABLE "public"."books", "public"."loans"')
    publication, tables, schemas = snapshot(pg)
    assert publication == [('pub', 'postgres', False, True, True, False, False, True)]
    loans = ('loans', '(returned IS NOT TRUE)', '1 3') if pg.major >= 15 else ('loans', None, None)
    assert tables == [('books', None, None), loans]
    assert schemas == []


def test_changed_row_filter_sets_the_table_list(pg):
    args = dict(name='pub', tables=[
        'books', {'name': 'loans', 'where': 'returned IS NOT TRUE AND book_id > 0', 'columns': ['returned', 'id']}],
        publish=['insert', 'update'], publish_via_partition_root=True)
    without_columns = dict(args, tables=['books', {'name': 'loans', 'where': 'book_id > 0'}])
    if refused_before_15(pg, without_columns, 'tables[1].where (a row filter)'):
        return
    result = converge(pg, args)
    assert result['queries'][0].startswith('ALTER PUBLICATION "pub" SET TABLE')
    assert snapshot(pg)[1][1] == ('loans', '((returned IS NOT TRUE) AND (book_id > 0))', '1 3')


def test_tables_and_schema_added_and_dropped(pg):
    args = dict(name='pub', tables=['public.events'], tables_in_schema=['ref'])
    old = refused_before_15(pg, args, 'tables_in_schema')
    result = converge(pg, dict(args, tables_in_schema=None) if old else args)
    assert result['queries'] == [
        'ALTER PUBLICATION "pub" DROP TABLE "public"."books", "public"."loans"',
        'ALTER PUBLICATION "pub" ADD TABLE "public"."events"' + ('' if old else ', TABLES IN SCHEMA "ref"'),
        'ALTER PUBLICATION "pub" SET ("publish" = \'insert, update, delete, truncate\', '
        '"publish_via_partition_root" = false)']
    publication, tables, schemas = snapshot(pg)
    assert publication == [('pub', 'postgres', False, True, True, True, True, False)]
    assert tables == [('events', None, None)]
    assert schemas == ([] if old else [('ref',)])


def test_switch_to_all_tables_and_back(pg):
    result = converge(pg, dict(name='pub', all_tables=True, owner='pub_owner', publish=['insert']))
    assert any('FOR ALL TABLES' in warning for warning in result.get('warnings', []))
    assert snapshot(pg)[0] == [('pub', 'pub_owner', True, True, False, False, False, False)]
    back = dict(tables_in_schema=['ref']) if pg.major >= 15 else dict(tables=['public.events'])
    converge(pg, dict(name='pub', publish=['insert'], **back))
    publication, tables, schemas = snapshot(pg)
    assert publication == [('pub', 'pub_owner', False, True, False, False, False, False)]
    assert (tables, schemas) == (([], [('ref',)]) if pg.major >= 15 else ([('events', None, None)], []))


def test_leaving_tables_unset_keeps_membership(pg):
    before = snapshot(pg)[1:]
    result = converge(pg, dict(name='pub', publish=['insert', 'delete'], owner='postgres'))
    assert snapshot(pg)[1:] == before and before[1 if pg.major >= 15 else 0]
    assert len(result['queries']) == 2


def test_absent_drops_it(pg):
    converge(pg, dict(name='pub', state='absent'))
    assert snapshot(pg) == ([], [], [])


# The lexical checks come first on every version; what passes them is parsed by a server that has row filters.
BAD_FILTERS = [
    ("true); DROP TABLE books; --", "must not contain ';'"),
    ("id > 0) , TABLE ref.countries WHERE (true", 'unbalanced'),
    ("title /* hidden */ <> ''", "must not contain '/*'"),
    ("nosuchcolumn > 1", 'PostgreSQL refused the row filter: column "nosuchcolumn" does not exist'),
    ("id > (SELECT 1)", 'PostgreSQL refused the row filter'),
]


def test_bad_input_is_refused_naming_the_field(pg):
    tasks = [{'name': where, 'ignore_errors': True, 'pgdist.cluster.publication': dict(
        pg.login, name='bad', tables=[{'name': 'books', 'where': where}])} for where, _message in BAD_FILTERS]
    unknown = dict(pg.login, name='bad', tables=['books', 'ref.nosuch'])
    # In check mode a missing table is one an earlier task of the run would create: planned, named, warned.
    tasks.append({'name': 'unknown table, check mode', 'check_mode': True, 'pgdist.cluster.publication': unknown})
    tasks.append({'name': 'unknown table', 'ignore_errors': True, 'pgdist.cluster.publication': unknown})
    results = run_tasks(tasks).results()
    for (where, message), result in zip(BAD_FILTERS, results):
        assert result.get('failed'), where
        assert result['msg'].startswith('tables[0].where'), result['msg']
        if pg.major < 15 and message.startswith('PostgreSQL refused'):
            message = 'tables[0].where (a row filter) needs PostgreSQL 15 or later'
        assert message in result['msg']
    planned = results[-2]
    assert planned['changed'] and planned['missing_parents'] == ['table ref.nosuch']
    assert planned['queries'] == ['CREATE PUBLICATION "bad" FOR TABLE "public"."books", "ref"."nosuch" WITH '
                                  '("publish" = \'insert, update, delete, truncate\', "publish_via_partition_root" = false)']
    assert 'check mode: table ref.nosuch does not exist yet' in planned['warnings'][0]
    assert results[-1]['failed']
    assert results[-1]['msg'] == 'tables[1].name: ref.nosuch is not a table in this database'
    assert snapshot(pg, 'bad') == ([], [], [])
    assert pg.scalar("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgdist_probe%'") == 0


def test_keyless_identity_full_for_tables_without_a_key(pg):
    pg.query('CREATE TABLE public.keyless (id int, note text); CREATE TABLE public.keyed (id int PRIMARY KEY);'
             'CREATE TABLE public.indexed (id int NOT NULL); CREATE UNIQUE INDEX indexed_id ON public.indexed (id);'
             'ALTER TABLE public.indexed REPLICA IDENTITY USING INDEX indexed_id')
    args = dict(name='ident', tables=['keyless', 'keyed', 'indexed'], keyless_identity='full')
    result = converge(pg, args)
    assert result['queries'][0] == 'ALTER TABLE "public"."keyless" REPLICA IDENTITY FULL'
    assert result['replica_identity_full'] == ['public.keyless']
    assert pg.query("SELECT relname, relreplident::text FROM pg_class WHERE relname IN ('keyless', 'keyed', 'indexed') "
                    "ORDER BY 1") == [('indexed', 'i'), ('keyed', 'd'), ('keyless', 'f')]
    # UPDATE and DELETE work on the published keyless table now.
    pg.query("INSERT INTO public.keyless VALUES (1, 'a'); UPDATE public.keyless SET note = 'b'; DELETE FROM public.keyless")
    # keep (the default) leaves a new keyless table as it is: PostgreSQL then refuses UPDATE on it.
    pg.query('CREATE TABLE public.keyless2 (id int)')
    kept = converge(pg, dict(name='ident', tables=['keyless', 'keyed', 'indexed', 'keyless2']))
    assert kept['replica_identity_full'] == [] and len(kept['queries']) == 1
    assert pg.scalar("SELECT relreplident::text FROM pg_class WHERE relname = 'keyless2'") == 'd'
    converge(pg, dict(name='ident', state='absent'))
