"""sysbench figures of `make bench`: Debian's sysbench 1.0 on the clusters bench/pgbench_figures.py deployed.

sbtest1 is deployed by the roles on the coordinator (hash partitioned by id over the 4 shards,
tests/support/sysbench_tables.py) and created by `sysbench prepare` on the one node; the coordinator's rows are
loaded through it. Each workload runs with 8 threads on the one node, through the coordinator, and through the
coordinator with pgdist.router off:

  sysbench_point_select_ratio   oltp_point_select TPS through the coordinator / on one node   goal >= 0.15
  sysbench_read_write_ratio     oltp_read_write TPS through the coordinator / on one node     goal >= 0.20
  (and _router_off for each)
"""

import os
import re
import subprocess

from support.sysbench_tables import load

ROWS = 100000
THREADS = 8
WORKLOADS = ('oltp_point_select', 'oltp_read_write')


def sysbench(port, db, workload, command, seconds, options=''):
    """sysbench's report of one command (prepare or run) as postgres over the local socket."""
    env = dict(os.environ, PGOPTIONS=options)
    done = subprocess.run(['runuser', '-u', 'postgres', '--', 'sysbench', workload, '--db-driver=pgsql',
                           '--pgsql-host=/var/run/postgresql', '--pgsql-port=%d' % port, '--pgsql-user=postgres',
                           '--pgsql-db=%s' % db, '--tables=1', '--table-size=%d' % ROWS, '--threads=%d' % THREADS,
                           '--time=%d' % seconds, '--report-interval=0', command],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          timeout=seconds + 600, check=False)
    if done.returncode:
        raise SystemExit('sysbench %s %s on port %d failed:\n%s' % (workload, command, port, done.stdout[-3000:]))
    return done.stdout


def tps(report):
    return float(re.search(r'transactions:\s+\d+\s+\(([\d.]+) per sec', report).group(1))


def sysbench_figures(seconds, coordinator, single, db, psql, figures, table, log):
    log('sysbench: sbtest1 filled on the one node (prepare) and through the coordinator')
    sysbench(single, db, 'oltp_read_write', 'prepare', seconds)
    psql(coordinator, load(ROWS))
    psql(coordinator, 'ANALYZE sbtest1')
    results = {}
    for workload in WORKLOADS:
        for name, port, options in (('one node', single, ''), ('coordinator', coordinator, ''),
                                    ('coordinator, router off', coordinator, '-c pgdist.router=off')):
            log('sysbench: %s, %s' % (workload, name))
            results[workload, name] = tps(sysbench(port, db, workload, 'run', seconds, options))
            table.append(('sysbench %s, %s' % (workload, name), '%.0f tps' % results[workload, name], ''))
        short = workload[len('oltp_'):]
        figures['sysbench_%s_ratio' % short] = results[workload, 'coordinator'] / results[workload, 'one node']
        figures['sysbench_%s_router_off_ratio' % short] = (results[workload, 'coordinator, router off'] /
                                                           results[workload, 'one node'])
    rows = int(psql(coordinator, 'SELECT count(*) FROM sbtest1'))
    table.append(('sysbench sbtest1 rows through the coordinator after the runs', str(rows),
                  'sysbench deletes and inserts in pairs: %d expected' % ROWS))
    figures['sysbench_rows_kept'] = 1.0 if rows == ROWS else 0.0
