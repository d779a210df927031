"""The consistent reads figures of `make bench` (pgdist.consistent_reads): what the cut costs writers and readers.

On throw-away clusters (tests/support/pgdist_ext.py: a coordinator with the extension and 3 shards, no proxy),
pgbench's tables hash-distributed over the shards, pgbench tpcb-like (`-c 4 -j 2`, --max-tries 10) runs three
times: alone, with 2 readers summing TPC-B's four balances in REPEATABLE READ transactions with
pgdist.consistent_reads off, and with it on (repeatable_read):

  snapshot_tpcb_tps, snapshot_tpcb_tps_readers_off, snapshot_tpcb_tps_readers_on
                                tpcb-like TPS alone, with the readers without the cut, with it
  snapshot_tpcb_latency_ms(_readers_off, _readers_on)
                                its average transaction latency (pgbench's)
  snapshot_read_ms_off, snapshot_read_ms_on
                                a reader's transaction (the four sums), average
  snapshot_torn_pct_off, snapshot_torn_pct_on
                                reads whose four sums disagree (a transaction seen on some shards only)
  snapshot_wait_ms              a cut's wait for the two-phase commits in progress, average (stats())
  snapshot_pause_ms             how long a cut holds two-phase commits back, average (stats())

Standalone: `python bench/snapshot_figures.py [seconds]` (PGDIST_PG_VERSION picks the major, as in the tests;
the default, Debian's 15, installs the extension into it: run it under flock /tmp/pgdist-system.lock).
"""

import os
import re
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))

from support import pgdist_ext  # noqa: E402
from support.pgbench_tables import TPCB_SUMS  # noqa: E402

READERS = 2
STATS = 'SELECT consistent_snapshots, snapshot_wait_us, snapshot_pause_us FROM pgdist.stats()'


def _number(pattern, text):
    found = re.search(pattern, text)
    if not found:
        raise SystemExit('pgbench said:\n%s' % text[-3000:])
    return float(found.group(1))


def _round(dist, mode, seconds):
    """(tps, latency ms, read ms, torn reads %, cuts, wait us, pause us) of one pgbench run with readers in `mode`
    (None: no readers)."""
    stop = threading.Event()
    reads = []
    errors = []

    def read():
        conn = dist.coordinator.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SET pgdist.consistent_reads = '%s'" % mode)
            conn.autocommit = False
            conn.set_session(isolation_level='REPEATABLE READ')
            while not stop.is_set():
                started = time.time()
                with conn.cursor() as cursor:
                    cursor.execute(TPCB_SUMS)
                    sums = cursor.fetchone()
                conn.rollback()
                reads.append((time.time() - started, len(set(sums)) != 1))
        except Exception as exc:        # reported after the run
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=read, daemon=True) for reader in range(READERS if mode else 0)]
    before = dist.coordinator.query(STATS)[0]
    for thread in threads:
        thread.start()
    run = pgdist_ext.pgbench(dist.coordinator, '-c', '4', '-j', '2', '-T', str(seconds), '-n', '--max-tries=10',
                             timeout=seconds + 120)
    stop.set()
    for thread in threads:
        thread.join(30)
    if run.returncode or errors:
        raise SystemExit('pgbench or a reader failed (%s):\n%s' % (errors, run.stdout[-3000:]))
    cuts, waited, paused = (a - b for a, b in zip(dist.coordinator.query(STATS)[0], before))
    tps = _number(r'tps = ([\d.]+)', run.stdout)
    latency = _number(r'latency average = ([\d.]+) ms', run.stdout)
    read_ms = 1000.0 * sum(r[0] for r in reads) / len(reads) if reads else 0.0
    torn = 100.0 * sum(1 for r in reads if r[1]) / len(reads) if reads else 0.0
    return tps, latency, read_ms, torn, len(reads), cuts, waited, paused


def snapshot_figures(seconds, figures, table, log):
    pgdist_ext.install()
    dist = pgdist_ext.Distributed(shards=3, proxied=False)
    try:
        pgdist_ext.distribute_pgbench(dist, scale=1)
        results = {}
        for mode in (None, 'off', 'repeatable_read'):
            log('consistent reads: pgbench tpcb-like %d s, readers %s' % (seconds, mode or 'none'))
            results[mode] = _round(dist, mode, seconds)
        sums = pgdist_ext.tpcb_invariant(dist.coordinator)
    finally:
        dist.destroy()
    alone, off, on = results[None], results['off'], results['repeatable_read']
    cuts, waited, paused = on[5:]
    figures.update(
        snapshot_tpcb_tps=alone[0], snapshot_tpcb_tps_readers_off=off[0], snapshot_tpcb_tps_readers_on=on[0],
        snapshot_tpcb_latency_ms=alone[1], snapshot_tpcb_latency_ms_readers_off=off[1],
        snapshot_tpcb_latency_ms_readers_on=on[1], snapshot_read_ms_off=off[2], snapshot_read_ms_on=on[2],
        snapshot_torn_pct_off=off[3], snapshot_torn_pct_on=on[3],
        snapshot_wait_ms=waited / 1000.0 / cuts if cuts else 0.0,
        snapshot_pause_ms=paused / 1000.0 / cuts if cuts else 0.0)
    for name, result in (('alone', alone), ('readers, cut off', off), ('readers, cut on', on)):
        table.append(('consistent reads: tpcb-like, %s' % name, '%.0f tps' % result[0],
                      'latency %.1f ms; %d reads of %.1f ms, %.1f %% torn' % (result[1], result[4], result[2],
                                                                              result[3])))
    table.append(('consistent reads: a cut', '%.2f ms' % figures['snapshot_wait_ms'],
                  'waiting for two-phase commits; holds them back %.2f ms; %d cuts' % (
                      figures['snapshot_pause_ms'], cuts)))
    if len(set(sums)) != 1:
        raise SystemExit('TPC-B invariant broken: %s' % (sums,))


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    figures, table = {}, []
    snapshot_figures(seconds, figures, table, lambda message: sys.stderr.write(message + '\n'))
    for row in table:
        print('%-45s %10s  %s' % row)
    for name, value in figures.items():
        print('%s=%.3f' % (name, value))


if __name__ == '__main__':
    main()
