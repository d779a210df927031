"""Seed 000 (the English tutorial) deployed as written by inventories/seed-000-library: the master server holds the
plain parents booksample and lend, their children are foreign tables on the Lagos and Paris sites, booksample_trigger
and lend_trigger route each INSERT (a lend row to the site of the book sample it references, looked up by id).

One deployment for the module (three clusters on this machine, ports 55600-55602), dropped first and at the end.
Checks: a second run changes nothing; the catalogs hold the seed's names; rows inserted through the master land on
their site; the lend lookup; constraint exclusion; a key-changing UPDATE refused before it misplaces a row; the
sites admit the seed's login from the master only."""

import os
import sys

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO  # noqa: E402
from support.deployment import Deployment  # noqa: E402

DB = 'dd_test'
SEED = Deployment(os.path.join(REPO, 'inventories', 'seed-000-library', 'hosts.yml'), dbname=DB)
HOSTS = SEED.hosts
psql = SEED.psql


rows = SEED.rows


@pytest.fixture(scope='module')
def deployed():
    yield from SEED.fresh()


def test_second_run_changes_nothing(deployed):
    assert SEED.changed(SEED.deploy()) == dict.fromkeys(HOSTS, 0)


def test_master_holds_the_seeds_parents_children_and_triggers(deployed):
    assert rows('master', "SELECT relname, relkind FROM pg_class WHERE relname IN ('booksample', 'lend') "
                          "ORDER BY 1") == [['booksample', 'r'], ['lend', 'r']]
    # create foreign table booksample_lagos (check(location='lagos')) inherits(booksample) server master_server
    children = rows('master', "SELECT i.inhparent::regclass, c.relname, s.srvname, coalesce((SELECT "
                              "string_agg(pg_get_constraintdef(k.oid), ' ') FROM pg_constraint k WHERE k.conrelid = c.oid"
                              " AND k.contype = 'c'), '-') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                              "JOIN pg_foreign_table f ON f.ftrelid = c.oid JOIN pg_foreign_server s ON s.oid = f.ftserver "
                              "ORDER BY 1, 2")
    assert [child[:3] for child in children] == [
        ['booksample', 'booksample_lagos', 'master_server'], ['booksample', 'booksample_paris', 'paris'],
        ['lend', 'lend_lagos', 'master_server'], ['lend', 'lend_paris', 'paris']]
    assert "'lagos'" in children[0][3] and "'paris'" in children[1][3]
    assert children[2][3] == children[3][3] == '-'  # lend_lagos () inherits(lend): no CHECK of its own
    assert rows('master', "SELECT tgrelid::regclass, tgname, tgfoid::regproc FROM pg_trigger WHERE NOT tgisinternal "
                          "ORDER BY 1") == [['booksample', 'booksample_trigger', 'booksample_trigger_fn'],
                                            ['lend', 'lend_trigger', 'lend_trigger_fn']]
    # The user mapping of the master to each site logs in as the seed's test_user.
    assert psql('master', "SELECT string_agg(srvname || ':' || array_to_string(umoptions, ','), ' ' ORDER BY srvname) "
                          "FROM pg_user_mappings").count('user=test_user') == 2


@pytest.mark.parametrize('site', ['lagos', 'paris'])
def test_each_site_holds_its_tables_as_the_seed_creates_them(deployed, site):
    assert rows(site, "SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE '%%\\_%s' "
                      "AND relkind = 'r' ORDER BY 1" % site) == [['booksample_' + site, 'test_user'],
                                                                 ['lend_' + site, 'test_user']]
    columns = psql(site, "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || coalesce(' default ' "
                         "|| pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY attnum) FROM pg_attribute a "
                         "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                         "WHERE attrelid = 'booksample_%s'::regclass AND attnum > 0 AND NOT attisdropped" % site)
    assert columns == ('id integer, state character varying, lendable boolean default false, '
                       'location character varying, book_id integer')


def test_rows_inserted_through_the_master_land_on_their_site_and_lends_follow_their_sample(deployed):
    psql('master', "INSERT INTO booksample (id, state, location, book_id) VALUES (1, 'new', 'paris', 1), "
                   "(2, 'used', 'lagos', 1), (3, 'new', 'lagos', 2);"
                   "INSERT INTO lend VALUES (100, 1, '2024-01-02', NULL), (101, 2, '2024-01-03', NULL), "
                   "(102, 3, '2024-01-04', '2024-01-10')")
    try:
        assert psql('master', 'SELECT count(*) FROM ONLY booksample') == psql('master', 'SELECT count(*) FROM ONLY lend') == '0'
        assert rows('paris', 'SELECT id, lendable FROM booksample_paris') == [['1', 'f']]
        assert rows('lagos', 'SELECT id, location FROM booksample_lagos ORDER BY id') == [['2', 'lagos'], ['3', 'lagos']]
        assert rows('paris', 'SELECT student_id, booksample_id FROM lend_paris') == [['100', '1']]
        assert rows('lagos', 'SELECT student_id FROM lend_lagos ORDER BY 1') == [['101'], ['102']]
        # The lend lookup: each lend with the book sample it references, across the sites.
        assert rows('master', 'SELECT l.student_id, b.location, l.tableoid::regclass FROM lend l JOIN booksample b '
                              'ON b.id = l.booksample_id ORDER BY 1') == [
            ['100', 'paris', 'lend_paris'], ['101', 'lagos', 'lend_lagos'], ['102', 'lagos', 'lend_lagos']]
        # Constraint exclusion on the children's CHECK: a location read scans its site only.
        plan = psql('master', "EXPLAIN (COSTS OFF) SELECT * FROM booksample WHERE location = 'lagos'")
        assert 'booksample_lagos' in plan and 'booksample_paris' not in plan, plan
        assert psql('master', "SELECT count(*) FROM booksample WHERE location = 'lagos'") == '2'
    finally:
        psql('master', 'DELETE FROM lend; DELETE FROM booksample')


def test_rows_of_no_site_and_key_changes_are_refused_before_anything_changes(deployed):
    # The seed's trigger silently drops a row of an unknown location (return null); this one refuses it.
    refused = psql('master', "INSERT INTO booksample (id, location) VALUES (4, 'tokyo')", check=False)
    assert refused.returncode != 0 and 'no partition of public.booksample accepts a row with (location) = (tokyo)' \
        in refused.stderr
    refused = psql('master', "INSERT INTO lend VALUES (103, 999, '2024-01-05', NULL)", check=False)
    assert refused.returncode != 0 and 'looked up in public.booksample by id = booksample_id' in refused.stderr
    psql('master', "INSERT INTO booksample (id, location) VALUES (2, 'lagos')")
    try:
        # Moving a sample to Paris by UPDATE would leave it on Lagos: the Lagos site's key guard refuses it.
        moved = psql('master', "UPDATE booksample SET location = 'paris' WHERE id = 2", check=False)
        assert moved.returncode != 0 and 'booksample_lagos' in moved.stderr, moved.stderr
        assert psql('master', "SELECT count(*) FROM booksample WHERE location = 'paris'") == '0'
        assert rows('lagos', 'SELECT id, location FROM booksample_lagos') == [['2', 'lagos']]
    finally:
        psql('master', 'DELETE FROM booksample')


@pytest.mark.parametrize('site', ['lagos', 'paris'])
def test_sites_admit_test_user_from_the_master_only(deployed, site):
    conn = psycopg2.connect(host=SEED.address(site), port=SEED.port(site), user='test_user',
                            password='pgdist-seed-demo-only', dbname=DB, sslmode='require')
    conn.close()
    other = SEED.address('paris' if site == 'lagos' else 'lagos')
    hba = psql(site, "SELECT string_agg(address, ' ') FROM pg_hba_file_rules WHERE 'test_user' = ANY(user_name)")
    assert hba == '127.0.0.1' and other not in hba
