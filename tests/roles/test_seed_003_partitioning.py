"""Seed 003 (the Vietnamese article on partitioning and logical replication) deployed as written by
inventories/seed-003-partitioning: on install1 the inheritance layout parent/child1..3 with the insert_to_child
trigger, the declarative range table parent_pg10 (child1_pg10 on install2, child2_pg10 on install3, child3_pg10
local), the hash table parent_hash of three partitions on a text key; install1 publishes test_logical_rep
(test_first_pub) to the subscriber's synchronous test_first_sub.

One deployment for the module (four clusters on this machine, ports 55610-55613), dropped first and at the end. Each
test replays the article's statements and checks what it shows."""

import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.ansible import REPO  # noqa: E402
from support.deployment import Deployment  # noqa: E402

SEED = Deployment(os.path.join(REPO, 'inventories', 'seed-003-partitioning', 'hosts.yml'), dbname='postgres')
HOSTS = SEED.hosts
psql = SEED.psql


rows = SEED.rows


@pytest.fixture(scope='module')
def deployed():
    yield from SEED.fresh()


def scanned(host, query):
    """The relations a plan reads (Seq Scan / Foreign Scan on ...), in plan order."""
    plan = psql(host, 'EXPLAIN (COSTS OFF) ' + query)
    return [line.split(' on ', 1)[1].split()[0] for line in plan.splitlines() if ' Scan on ' in line]


def test_second_run_changes_nothing(deployed):
    assert SEED.changed(SEED.deploy()) == dict.fromkeys(HOSTS, 0)


def test_inheritance_routes_by_the_insert_to_child_trigger_and_excludes_by_check(deployed):
    assert rows('install1', "SELECT tgname, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'parent'::regclass") == \
        [['insert_to_child_tg', 'insert_to_child']]
    assert rows('install1', "SELECT c.relname, c.relkind FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                            "WHERE i.inhparent = 'parent'::regclass ORDER BY 1") == [
        ['child1', 'r'], ['child2', 'r'], ['child3', 'r']]
    psql('install1', "INSERT INTO parent VALUES (1, 'a', 1), (2, 'b', 199999), (3, 'c', 200000)")
    try:
        assert psql('install1', 'SELECT count(*) FROM ONLY parent') == '0'
        assert [psql('install1', 'SELECT string_agg(id::text, \',\') FROM %s' % child)
                for child in ('child1', 'child2', 'child3')] == ['1', '2', '3']
        # constraint_exclusion = partition: child3's CHECK keeps it out; the parent itself is scanned.
        assert scanned('install1', 'SELECT * FROM parent WHERE range IN (1, 199999)') == ['parent', 'child1', 'child2']
        refused = psql('install1', 'UPDATE parent SET range = 200000 WHERE range = 1', check=False)
        assert refused.returncode != 0 and 'violates check constraint' in refused.stderr
        psql('install1', 'UPDATE parent SET range = 2 WHERE range = 1')
        assert psql('install1', 'SELECT range FROM child1') == '2'
    finally:
        psql('install1', 'DELETE FROM parent')


def test_declarative_range_over_three_installs_prunes_and_moves_rows(deployed):
    bounds = rows('install1', "SELECT c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                              "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'parent_pg10'::regclass "
                              "ORDER BY 1")
    assert bounds == [['child1_pg10', 'f', "FOR VALUES FROM ('0') TO ('99999')"],
                      ['child2_pg10', 'f', "FOR VALUES FROM ('99999') TO ('200000')"],
                      ['child3_pg10', 'r', "FOR VALUES FROM ('200000') TO ('9223372036854775807')"]]
    psql('install1', "INSERT INTO parent_pg10 VALUES (1, 'a', 1), (2, 'b', 199999), (3, 'c', 200000)")
    try:
        assert rows('install2', 'SELECT * FROM child1_pg10') == [['1', 'a', '1']]
        assert rows('install3', 'SELECT * FROM child2_pg10') == [['2', 'b', '199999']]
        assert rows('install1', 'SELECT * FROM child3_pg10') == [['3', 'c', '200000']]
        assert scanned('install1', 'SELECT * FROM parent_pg10 WHERE range IN (1, 199999)') == \
            ['child1_pg10', 'child2_pg10']
        assert scanned('install1', 'SELECT * FROM parent_pg10 WHERE range = 1') == ['child1_pg10']
        # Pruning at execution time: the article's subquery; the other partitions are never executed.
        plan = psql('install1', 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) '
                                'SELECT * FROM parent_pg10 WHERE range = (SELECT 200000)')
        assert plan.count('(never executed)') == 2 and re.search(r'child3_pg10 \S+ \(actual rows=1 ', plan), plan
        # PostgreSQL 11 in the article: an UPDATE of the key moves the row, here from install2 to install1.
        psql('install1', 'UPDATE parent_pg10 SET range = 200001 WHERE range = 1')
        assert psql('install2', 'SELECT count(*) FROM child1_pg10') == '0'
        assert rows('install1', 'SELECT id, range FROM child3_pg10 ORDER BY id') == [['1', '200001'], ['3', '200000']]
        refused = psql('install1', "INSERT INTO parent_pg10 VALUES (4, 'd', -1)", check=False)
        assert refused.returncode != 0 and 'no partition of relation "parent_pg10" found for row' in refused.stderr
    finally:
        psql('install1', 'DELETE FROM parent_pg10')


def test_hash_on_a_text_key_spreads_rows_over_three_partitions_and_prunes_equality(deployed):
    assert rows('install1', "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'parent_hash'::regclass "
                            "ORDER BY 1") == [
        ['child1_hash', 'FOR VALUES WITH (modulus 3, remainder 0)'],
        ['child2_hash', 'FOR VALUES WITH (modulus 3, remainder 1)'],
        ['child3_hash', 'FOR VALUES WITH (modulus 3, remainder 2)']]
    psql('install1', "INSERT INTO parent_hash SELECT g, 'child', random()::text FROM generate_series(1, 3000) g")
    try:
        counts = [int(psql('install1', 'SELECT count(*) FROM %s' % child))
                  for child in ('child1_hash', 'child2_hash', 'child3_hash')]
        assert sum(counts) == 3000 and min(counts) > 800, counts
        assert psql('install1', 'SELECT count(*) FROM ONLY parent_hash') == '0'
        value = psql('install1', 'SELECT hashval FROM child2_hash LIMIT 1')
        assert scanned('install1', "SELECT * FROM parent_hash WHERE hashval = '%s'" % value) == ['child2_hash']
        # LIKE is not pruned (the article's last example).
        assert len(scanned('install1', "SELECT * FROM parent_hash WHERE hashval LIKE '%41376044135%'")) == 3
    finally:
        psql('install1', 'TRUNCATE parent_hash')


def test_synchronous_logical_replication_of_test_logical_rep(deployed):
    assert psql('install1', 'SHOW wal_level') == 'logical'
    assert psql('install1', 'SHOW synchronous_standby_names') == 'ANY 1 ("test_first_sub")'
    assert psql('install1', "SELECT string_agg(tablename, ',') FROM pg_publication_tables "
                            "WHERE pubname = 'test_first_pub'") == 'test_logical_rep'
    # The collection writes ANY 1 ("test_first_sub") where the article writes the name alone (FIRST 1): with one
    # name both wait for it, pg_stat_replication says quorum for the first.
    assert rows('install1', "SELECT application_name, sync_state FROM pg_stat_replication") in \
        ([['test_first_sub', 'quorum']], [['test_first_sub', 'sync']])
    assert rows('subscriber', "SELECT subname, array_to_string(subpublications, ','), subsynccommit "
                              "FROM pg_subscription") == [['test_first_sub', 'test_first_pub', 'on']]
    psql('install1', 'INSERT INTO test_logical_rep SELECT generate_series(1, 5), random()::text')
    try:
        # A commit on install1 returns once the subscriber has applied and flushed it: the rows are there now.
        assert psql('subscriber', "SELECT count(*) FROM test_logical_rep") == '5'
        psql('install1', "INSERT INTO test_logical_rep SELECT 6, random()::text;"
                         "UPDATE test_logical_rep SET c2 = 'updated' WHERE c1 = 6")
        assert psql('subscriber', 'SELECT c2 FROM test_logical_rep WHERE c1 = 6') == 'updated'
        psql('install1', 'DELETE FROM test_logical_rep WHERE c1 = 6')
        assert psql('subscriber', 'SELECT count(*) FROM test_logical_rep') == '5'
        # While the subscriber is down a commit on install1 waits for it, and returns once it is back.
        SEED.ctl('subscriber', 'stop')
        commit = None
        try:
            commit = subprocess.Popen(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-p',
                                       str(SEED.port('install1')), '-d', 'postgres', '-c',
                                       "INSERT INTO test_logical_rep VALUES (7, 'waited')"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            with pytest.raises(subprocess.TimeoutExpired):
                commit.wait(timeout=3)
            assert psql('install1', "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") == '1'
        finally:
            SEED.ctl('subscriber', 'start')
        assert commit.wait(timeout=60) == 0, commit.stderr.read()
        assert psql('subscriber', 'SELECT c2 FROM test_logical_rep WHERE c1 = 7') == 'waited'
        # Neither install2 nor install3 copies it: the subscription is the subscriber's only.
        for host in ('install2', 'install3'):
            assert psql(host, "SELECT to_regclass('test_logical_rep') IS NULL") == 't'
    finally:
        psql('install1', 'DELETE FROM test_logical_rep')
