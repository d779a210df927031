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
