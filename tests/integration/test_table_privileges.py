"""pgdist.cluster.table_privileges on a throw-away cluster: grants what is missing, counts privileges held
otherwise, revokes direct grants only, check mode changes nothing, bad input names the field."""

import pytest

from support.ansible import run_module, run_tasks
from support.pgcluster import start_cluster

SETUP = """
CREATE ROLE reader; CREATE ROLE other; CREATE ROLE owner_role; GRANT other TO reader;
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."Orders" (id int); CREATE TABLE public.books (id int); CREATE TABLE public.shared (id int);
GRANT SELECT ON public.shared TO other;
"""


@pytest.fixture(scope='module')
def pg():
    cluster = start_cluster('privileges')
    cluster.query(SETUP)
    yield cluster
    cluster.destroy()


def acl(pg):
    return pg.query("SELECT relname, coalesce(relacl::text, '') FROM pg_class WHERE relname IN ('Orders', 'books', "
                    "'shared') ORDER BY 1")


def test_grant_check_mode_then_apply_then_idempotent(pg):
    args = dict(role='reader', tables=['Sales.Orders', 'public.books', 'shared'], privileges=['SELECT', 'INSERT'])
    before = acl(pg)
    checked, run = run_module('table_privileges', args, login=pg.login, check=True, diff=True)
    assert run.ok and checked['changed'], run.stdout
    # reader holds SELECT on shared through other: only INSERT is missing there.
    assert checked['queries'] == ['GRANT SELECT, INSERT ON TABLE "Sales"."Orders" TO "reader"',
                                  'GRANT SELECT, INSERT ON TABLE "public"."books" TO "reader"',
                                  'GRANT INSERT ON TABLE "public"."shared" TO "reader"']
    assert checked['diff']['before']['tables']['public.shared'] == ['SELECT']
    assert acl(pg) == before
    run = run_tasks([{'name': 'apply', 'pgdist.cluster.table_privileges': dict(pg.login, **args)},
                     {'name': 'again', 'pgdist.cluster.table_privileges': dict(pg.login, **args)}])
    applied, again = run.results()
    assert applied['changed'] and applied['queries'] == checked['queries']
    assert not again['changed'] and again['queries'] == []
    assert pg.scalar("SELECT has_table_privilege('reader', '\"Sales\".\"Orders\"', 'INSERT')") is True


def test_absent_revokes_direct_grants_only(pg):
    result, run = run_module('table_privileges', dict(role='reader', tables=['shared', 'books'], state='absent'),
                             login=pg.login, diff=True)
    assert run.ok, run.stdout
    assert result['queries'] == ['REVOKE SELECT ON TABLE "public"."books" FROM "reader"']
    # SELECT on shared comes through other, which the module leaves alone.
    assert result['diff']['after']['tables'] == {'public.books': [], 'public.shared': ['SELECT']}
    assert pg.scalar("SELECT has_table_privilege('reader', 'public.shared', 'SELECT')") is True


@pytest.mark.parametrize('args, message', [
    (dict(role='nobody', tables=['books']), "role: role 'nobody' does not exist"),
    (dict(role='reader', tables=['nosuch']), 'tables: public.nosuch is not a table or view in this database'),
    (dict(role='reader', tables=['books'], privileges=[]), 'privileges: give at least one'),
    (dict(role='reader', tables=['x' * 64]), '63 bytes'),
])
def test_bad_input_names_the_field(pg, args, message):
    before = acl(pg)
    result, run = run_module('table_privileges', args, login=pg.login)
    assert result.get('failed') and message in result['msg'], result
    assert acl(pg) == before


# A serial column, a nextval() default on a sequence of another schema, an identity column.
USAGE_SETUP = """
CREATE ROLE writer; CREATE SCHEMA shop; CREATE SEQUENCE public.shop_refs;
CREATE TABLE shop.orders (id serial, ref bigint DEFAULT nextval('public.shop_refs'),
                          n int GENERATED ALWAYS AS IDENTITY);
"""


def test_with_usage_grants_the_schema_and_the_default_sequences_to_writers_only(pg):
    pg.query(USAGE_SETUP)
    reader = dict(role='writer', tables=['shop.orders'], with_usage=True)
    result, run = run_module('table_privileges', reader, login=pg.login)
    # SELECT alone: the schema, no sequence (nextval would be a write).
    assert run.ok and result['queries'] == ['GRANT SELECT ON TABLE "shop"."orders" TO "writer"',
                                            'GRANT USAGE ON SCHEMA "shop" TO "writer"'], result
    writer = dict(reader, privileges=['SELECT', 'INSERT', 'UPDATE', 'DELETE'])
    checked, run = run_module('table_privileges', writer, login=pg.login, check=True, diff=True)
    # The serial column's sequence and the nextval() default's; the identity column's needs nothing.
    assert checked['queries'] == ['GRANT INSERT, UPDATE, DELETE ON TABLE "shop"."orders" TO "writer"',
                                  'GRANT USAGE ON SEQUENCE "public"."shop_refs" TO "writer"',
                                  'GRANT USAGE ON SEQUENCE "shop"."orders_id_seq" TO "writer"'], checked
    assert checked['diff']['after']['sequences'] == ['public.shop_refs', 'shop.orders_id_seq']
    assert pg.scalar("SELECT has_sequence_privilege('writer', 'shop.orders_id_seq', 'USAGE')") is False
    applied, run = run_module('table_privileges', writer, login=pg.login)
    assert applied['changed'] and applied['queries'] == checked['queries']
    pg.query("SET ROLE writer; INSERT INTO shop.orders DEFAULT VALUES; RESET ROLE")
    again, run = run_module('table_privileges', writer, login=pg.login)
    assert not again['changed'], again
    # Revoking the writes revokes the sequences with them; SELECT and the schema stay.
    revoked, run = run_module('table_privileges', dict(writer, privileges=['INSERT', 'UPDATE', 'DELETE'], state='absent'),
                              login=pg.login)
    assert revoked['queries'] == ['REVOKE INSERT, UPDATE, DELETE ON TABLE "shop"."orders" FROM "writer"',
                                  'REVOKE USAGE ON SEQUENCE "public"."shop_refs" FROM "writer"',
                                  'REVOKE USAGE ON SEQUENCE "shop"."orders_id_seq" FROM "writer"'], revoked
    assert pg.scalar("SELECT has_schema_privilege('writer', 'shop', 'USAGE') AND "
                     "has_table_privilege('writer', 'shop.orders', 'SELECT')") is True
