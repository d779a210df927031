"""Pure parts of the replication planners: row filter checks, conninfo quoting."""

import pytest
from psycopg2.extensions import parse_dsn

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.replication import (
    build_conninfo, check_row_filter, conninfo_quote, streaming_mode)


@pytest.mark.parametrize('where', [
    "city = 'paris'", "(a > 1) AND (b IS NOT NULL)", "note <> 'it''s (not) closed'", 'lower("Weird ) name") = \'x\'',
])
def test_row_filter_accepted(where):
    assert check_row_filter(where, 'tables[0].where') == where


@pytest.mark.parametrize('where, message', [
    ('', 'non-empty'), ('true; DROP TABLE t', "';'"), ('a = 1 -- x', "'--'"), ('a /* x */', "'/*'"),
    ("a = E'\\''", "'\\\\'"), ('a = $$x$$', "'$'"), ('a > 1) OR (true', 'unbalanced'),
    ("a = 'open", 'unbalanced'), ('(a > 1', 'unbalanced'),
])
def test_row_filter_refused(where, message):
    with pytest.raises(InvalidInput) as caught:
        check_row_filter(where, 'tables[3].where')
    assert str(caught.value).startswith('tables[3].where')
    assert message in str(caught.value)


def test_conninfo_round_trips_through_libpq():
    connection = dict(host='db.example', port='5433', dbname='my db', user='repl', password="p'w\\ d",
                      sslmode='verify-full', sslrootcert='/etc/pgdist/ca.crt', application_name='replica_1')
    conninfo = build_conninfo(connection)
    assert parse_dsn(conninfo) == connection
    assert conninfo_quote("a'b\\c") == "'a\\'b\\\\c'"


def test_streaming_mode_values():
    assert [streaming_mode(value) for value in (True, False, 'on', 'OFF', 'parallel', 'true', 'f', None)] == [
        'on', 'off', 'on', 'off', 'parallel', 'on', 'off', None]
    with pytest.raises(InvalidInput):
        streaming_mode('sometimes')
