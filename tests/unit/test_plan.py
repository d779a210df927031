"""options_diff / options_clause / Plan, rendered with a real connection."""

from psycopg2 import sql

from ansible_collections.pgdist.cluster.plugins.module_utils.plan import (
    REDACTED, Plan, create_options_clause, option_text, options_clause, options_diff, redact_options)


def test_options_diff_add_set_drop_with_drops_first():
    current = {'host': 'a', 'port': '5432', 'dbname': 'lib', 'zz_gone': 'x'}
    wanted = {'host': 'b', 'port': 5432, 'fetch_size': 1000}
    assert options_diff(current, wanted) == [
        ('DROP', 'dbname', None), ('DROP', 'zz_gone', None),
        ('ADD', 'fetch_size', '1000'), ('SET', 'host', 'b')]


def test_options_diff_no_change_compares_as_text():
    current = {'port': '5432', 'async_capable': 'true', 'batch_size': '10'}
    assert options_diff(current, {'port': 5432, 'async_capable': True, 'batch_size': '10'}) == []


def test_options_diff_from_nothing_and_to_nothing():
    assert options_diff(None, {'b': 2, 'a': 1}) == [('ADD', 'a', '1'), ('ADD', 'b', '2')]
    assert options_diff({'a': '1'}, {}) == [('DROP', 'a', None)]
    assert options_diff({}, None) == []


def test_option_text():
    assert option_text(True) == 'true' and option_text(False) == 'false'
    assert option_text(7) == '7' and option_text('x') == 'x'


def test_options_clause_renders_quoted(pg_conn):
    actions = [('DROP', 'dbname', None), ('ADD', 'fetch_size', '1000'), ('SET', 'host', "o'hare")]
    assert options_clause(actions).as_string(pg_conn) == \
        'OPTIONS (DROP "dbname", ADD "fetch_size" \'1000\', SET "host" \'o\'\'hare\')'


def test_options_clause_round_trip_on_a_real_server(pg_conn):
    """The clause is valid SQL that PostgreSQL applies as diffed."""
    with pg_conn.cursor() as cursor:
        cursor.execute('BEGIN')
        try:
            cursor.execute('CREATE EXTENSION IF NOT EXISTS postgres_fdw')
            cursor.execute(sql.SQL('CREATE SERVER unit_srv FOREIGN DATA WRAPPER postgres_fdw{}').format(
                create_options_clause({'host': 'h1', 'dbname': 'd', 'port': 1})))
            wanted = {'host': 'h2', 'port': 1, 'fetch_size': 50}
            current = {'host': 'h1', 'dbname': 'd', 'port': '1'}
            cursor.execute(sql.SQL('ALTER SERVER unit_srv {}').format(options_clause(options_diff(current, wanted))))
            cursor.execute("SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'unit_srv'")
            stored = dict(item.split('=', 1) for item in cursor.fetchone()[0])
        finally:
            cursor.execute('ROLLBACK')
    assert stored == {'host': 'h2', 'port': '1', 'fetch_size': '50'}


def test_create_options_clause(pg_conn):
    assert create_options_clause({}).as_string(pg_conn) == ''
    assert create_options_clause(None).as_string(pg_conn) == ''
    assert create_options_clause({'b': True, 'a': 1}).as_string(pg_conn) == ' OPTIONS ("a" \'1\', "b" \'true\')'


def test_redact_options():
    assert redact_options(None) is None
    assert redact_options({'user': 'u', 'password': 'p', 'sslpassword': 'q', 'port': 1}) == {
        'user': 'u', 'password': REDACTED, 'sslpassword': REDACTED, 'port': '1'}


def test_plan_renders_secrets_redacted_even_when_quoted(pg_conn):
    plan = Plan()
    assert not plan
    secret = "it's-s3cret"
    plan.add(sql.SQL('ALTER ROLE x PASSWORD {}').format(sql.Literal(secret)), secrets=[secret, None])
    plan.add(sql.SQL('SELECT {}').format(sql.Literal('plain')))
    assert plan
    rendered = plan.rendered(pg_conn)
    assert rendered == ["ALTER ROLE x PASSWORD '********'", "SELECT 'plain'"]
    assert plan.redact('error near %s' % secret, pg_conn) == 'error near ********'


def test_plan_apply_runs_in_order_on_the_callers_transaction(pg_conn):
    plan = Plan()
    plan.add(sql.SQL('CREATE TEMP TABLE unit_plan (v int)'))
    plan.add(sql.SQL('INSERT INTO unit_plan VALUES ({})').format(sql.Literal(42)))
    pg_conn.autocommit = False
    try:
        plan.apply(pg_conn)
        with pg_conn.cursor() as cursor:
            cursor.execute('SELECT v FROM unit_plan')
            assert cursor.fetchall() == [(42,)]
    finally:
        pg_conn.rollback()
        pg_conn.autocommit = True
