"""Fixtures of the coordinator extension's tests: one installed build, one distributed cluster per session."""

import pytest

from support import pgdist_ext
from support.pgdist_ext import distribute_pgbench

_CLUSTERS = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the last lines of every cluster's server log (they are deleted after)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for cluster in _CLUSTERS:
            try:
                with open(cluster.logfile) as handle:
                    tail = ''.join(handle.readlines()[-40:])
            except OSError:
                continue
            report.sections.append(('server log %s (port %d)' % (cluster.name, cluster.port), tail))


@pytest.fixture(scope='session')
def dist():
    pgdist_ext.install()
    cluster = pgdist_ext.Distributed(shards=3)
    _CLUSTERS[:] = [cluster.coordinator] + cluster.shards
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope='session')
def tpcb(dist):
    """pgbench's tables distributed over the shards and filled once: every test that runs pgbench keeps TPC-B's
    invariant, so the next one starts from consistent balances (and compares history counts to its own start)."""
    distribute_pgbench(dist, scale=1)
    return dist


@pytest.fixture()
def items(dist):
    """items(id, v): ids 1-99 on shard 1, 100-199 on shard 2, 200-299 on shard 3, ten rows on each."""
    dist.distribute('items', 'id int NOT NULL, v text', 'id', [(1, 100), (100, 200), (200, 300)])
    dist.coordinator.query("INSERT INTO items SELECT g, 'init' FROM generate_series(1, 10) g"
                           " UNION ALL SELECT g, 'init' FROM generate_series(100, 109) g"
                           " UNION ALL SELECT g, 'init' FROM generate_series(200, 209) g")
    yield dist
    for proxy in dist.proxies:
        proxy.release_all()
    for shard in dist.shards:
        if not shard.running():
            shard.start()
