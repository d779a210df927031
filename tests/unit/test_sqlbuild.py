"""SQL builders: exact text, quoting of hostile names, and valid SQL on a real server."""

import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild

HOSTILE = 'x"; DROP TABLE t; --'


def render(query, conn):
    return query.as_string(conn)


def test_create_database(pg_conn):
    assert render(sqlbuild.create_database('lib'), pg_conn) == 'CREATE DATABASE "lib"'
    assert render(sqlbuild.create_database('lib', owner='o', template='template0', encoding='UTF8',
                                           lc_collate='C', lc_ctype='C.UTF-8'), pg_conn) == (
        'CREATE DATABASE "lib" OWNER "o" TEMPLATE "template0" ENCODING \'UTF8\' '
        'LC_COLLATE \'C\' LC_CTYPE \'C.UTF-8\'')


def test_hostile_names_are_quoted_not_injected(pg_conn):
    assert render(sqlbuild.create_database(HOSTILE, owner="o'x"), pg_conn) == \
        'CREATE DATABASE "x""; DROP TABLE t; --" OWNER "o\'x"'
    assert render(sqlbuild.drop('ROLE', HOSTILE), pg_conn) == 'DROP ROLE "x""; DROP TABLE t; --"'
    assert render(sqlbuild.alter_server_options(HOSTILE, [('SET', 'host', "'; DROP TABLE t; --")]), pg_conn) == \
        'ALTER SERVER "x""; DROP TABLE t; --" OPTIONS (SET "host" \'\'\'; DROP TABLE t; --\')'


def test_alter_owner_and_drop(pg_conn):
    assert render(sqlbuild.alter_owner('SERVER', 's', 'Bob'), pg_conn) == 'ALTER SERVER "s" OWNER TO "Bob"'
    assert render(sqlbuild.alter_owner('TABLE', sqlbuild.ident('lib', 'b'), 'o'), pg_conn) == \
        'ALTER TABLE "lib"."b" OWNER TO "o"'
    assert render(sqlbuild.drop('SERVER', 's', cascade=True, if_exists=True), pg_conn) == \
        'DROP SERVER IF EXISTS "s" CASCADE'


def test_roles(pg_conn):
    assert render(sqlbuild.create_role('app', ['LOGIN', 'CREATEDB'], 'SCRAM-SHA-256$x', 5), pg_conn) == \
        'CREATE ROLE "app" LOGIN CREATEDB CONNECTION LIMIT 5 PASSWORD \'SCRAM-SHA-256$x\''
    assert render(sqlbuild.alter_role('app', ['NOREPLICATION']), pg_conn) == 'ALTER ROLE "app" NOREPLICATION'
    # psycopg2 writes negative numbers with a leading space so '-' never follows '-' (a comment).
    assert render(sqlbuild.alter_role('app', [], None, -1), pg_conn) == 'ALTER ROLE "app" CONNECTION LIMIT  -1'


def test_extensions(pg_conn):
    assert render(sqlbuild.create_extension('hstore', 'ext', '1.4', True), pg_conn) == \
        'CREATE EXTENSION "hstore" SCHEMA "ext" VERSION \'1.4\' CASCADE'
    assert render(sqlbuild.create_extension('hstore'), pg_conn) == 'CREATE EXTENSION "hstore"'
    assert render(sqlbuild.alter_extension_version('hstore', '1.8'), pg_conn) == \
        'ALTER EXTENSION "hstore" UPDATE TO \'1.8\''
    assert render(sqlbuild.alter_extension_schema('hstore', 'ext'), pg_conn) == \
        'ALTER EXTENSION "hstore" SET SCHEMA "ext"'


@pytest.mark.parametrize('user, spec', [('PUBLIC', 'PUBLIC'), ('public', 'PUBLIC'), ('current_user', 'CURRENT_USER'),
                                        ('Alice', '"Alice"')])
def test_user_mapping_role_spec(pg_conn, user, spec):
    assert render(sqlbuild.create_user_mapping(user, 's', {'user': 'u'}), pg_conn) == \
        'CREATE USER MAPPING FOR %s SERVER "s" OPTIONS ("user" \'u\')' % spec
    assert render(sqlbuild.drop_user_mapping(user, 's'), pg_conn) == 'DROP USER MAPPING FOR %s SERVER "s"' % spec
    assert render(sqlbuild.alter_user_mapping_options(user, 's', [('DROP', 'password', None)]), pg_conn) == \
        'ALTER USER MAPPING FOR %s SERVER "s" OPTIONS (DROP "password")' % spec


def test_statements_run_on_a_real_server_and_names_survive_verbatim(pg_conn):
    """Every builder's output is valid SQL; the hostile name becomes exactly one object."""
    statements = [
        sqlbuild.create_role(HOSTILE, ['NOLOGIN'], None, 3),
        sqlbuild.alter_role(HOSTILE, ['CREATEDB'], None, 4),
        sqlbuild.create_extension('postgres_fdw'),
        sqlbuild.create_server(HOSTILE, 'postgres_fdw', {'host': 'h', 'port': 5432}),
        sqlbuild.alter_server_options(HOSTILE, [('SET', 'host', 'h2'), ('ADD', 'fetch_size', '10')]),
        sqlbuild.alter_owner('SERVER', HOSTILE, HOSTILE),
        sqlbuild.create_user_mapping('PUBLIC', HOSTILE, {'user': 'u', 'password': 'p'}),
        sqlbuild.create_user_mapping(HOSTILE, HOSTILE, {}),
        sqlbuild.alter_user_mapping_options('PUBLIC', HOSTILE, [('DROP', 'password', None)]),
    ]
    with pg_conn.cursor() as cursor:
        cursor.execute('BEGIN')
        try:
            cursor.execute('CREATE TABLE t (v int)')
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("SELECT rolconnlimit, rolcreatedb FROM pg_roles WHERE rolname = %s", (HOSTILE,))
            assert cursor.fetchall() == [(4, True)]
            cursor.execute("SELECT srvoptions, pg_get_userbyid(srvowner) FROM pg_foreign_server WHERE srvname = %s",
                           (HOSTILE,))
            options, owner = cursor.fetchone()
            assert sorted(options) == ['fetch_size=10', 'host=h2', 'port=5432'] and owner == HOSTILE
            cursor.execute("SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = %s ORDER BY 1",
                           (HOSTILE,))
            assert cursor.fetchall() == [('public', ['user=u']), (HOSTILE, None)]
            cursor.execute("SELECT count(*) FROM t")
            assert cursor.fetchone() == (0,)
            for statement in (sqlbuild.drop_user_mapping('PUBLIC', HOSTILE), sqlbuild.drop('SERVER', HOSTILE, True),
                              sqlbuild.drop('ROLE', HOSTILE)):
                cursor.execute(statement)
        finally:
            cursor.execute('ROLLBACK')


def test_publication_lists_name_each_kind_once(pg_conn):
    """One TABLE keyword for the tables and one TABLES IN SCHEMA for the schemas: PostgreSQL 13 and 14 parse
    `TABLE a, b` only, 15 and later both forms."""
    objects = [('public', 'books', None, None), ('public', 'loans', 'returned IS NOT TRUE', ['id']), 'ref', 'app']
    assert render(sqlbuild.create_publication('pub', objects=objects[:2]), pg_conn) == (
        'CREATE PUBLICATION "pub" FOR TABLE "public"."books", "public"."loans" ("id") WHERE (returned IS NOT TRUE)')
    assert render(sqlbuild.alter_publication_objects('pub', 'DROP', objects), pg_conn) == (
        'ALTER PUBLICATION "pub" DROP TABLE "public"."books", "public"."loans", TABLES IN SCHEMA "ref", "app"')
    assert render(sqlbuild.alter_publication_objects('pub', 'ADD', objects[2:]), pg_conn) == (
        'ALTER PUBLICATION "pub" ADD TABLES IN SCHEMA "ref", "app"')
