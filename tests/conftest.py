"""Shared fixtures: throw-away PostgreSQL clusters, started once per test session."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support.pgcluster import start_cluster  # noqa: E402


@pytest.fixture(scope='session')
def clusters():
    """A coordinator and two shards; stopped and removed after the session."""
    started = {}
    try:
        for name in ('coordinator', 'shard1', 'shard2'):
            started[name] = start_cluster(name)
        yield started
    finally:
        for cluster in started.values():
            cluster.destroy()


@pytest.fixture(scope='session')
def coordinator(clusters):
    return clusters['coordinator']


@pytest.fixture(scope='session')
def shard1(clusters):
    return clusters['shard1']


@pytest.fixture(scope='session')
def shard2(clusters):
    return clusters['shard2']


@pytest.fixture()
def pg_conn(coordinator):
    """A superuser connection to the coordinator's postgres database."""
    conn = coordinator.connect()
    yield conn
    conn.close()
