"""pgdist.cluster benchmark: `make bench`.

Data figures run on throw-away local clusters (a coordinator and 4 shards,
tests/support/pgcluster.py), set up through the collection's modules run by
ansible-playbook, so they measure what users get:

  bulk_load_ratio               1M rows through the coordinator into a 4-shard hash table
                                (servers with batch_size 1000, fetch_size 10000, async_capable;
                                the coordinator runs the pgdist extension, as the roles deploy it)
                                / the same rows into one local table            goal <= 1.5
  bulk_load_waiting_ratio       the same with pgdist.async_insert off (each batch waits for its shard)
  bulk_load_untuned_ratio       the same with postgres_fdw defaults (batch_size 1), rows/10
  trigger_vs_declarative_ratio  the seeds' inheritance + trigger routing over the 4 shards
                                / declarative range partitions over the same shards, rows/10
  grouped_agg_ratio             GROUP BY the partition key through the coordinator
                                / the slowest shard answering its part directly, all shards
                                answering at once as they do for the coordinator  goal <= 1.3
  grouped_agg_isolated_ratio    the same / the slowest shard answering alone (on a machine with
                                fewer cores than shards this counts core sharing as overhead)
  count_async_s, count_sync_s   SELECT count(*) of the whole table, enable_async_append on/off

Deploy figures re-run playbooks/site.yml (the roles) on a copy of inventories/local
whose clusters have their own names and ports (the demo clusters are left alone):

  deploy_rerun_s                idempotent re-run with 16 partitions in all      goal <= 20 s
  deploy_rerun_scaling          re-run with 256 partitions / re-run with 16      goal <= 1.3

pgbench figures (bench/pgbench_figures.py): pgbench_tpcb_ratio, pgbench_select_ratio, the share of
failed transactions, the cost of two-phase commit and of the deadlock detector, TPC-B's invariant.
sysbench figures on the same clusters (bench/sysbench_figures.py): sysbench_point_select_ratio,
sysbench_read_write_ratio (coordinator / one node), router on and off.

Consistent reads figures (bench/snapshot_figures.py): tpcb-like throughput and latency with REPEATABLE READ
readers summing every balance, pgdist.consistent_reads on and off, the readers' torn sums, a cut's wait and the
pause it gives two-phase commits.

The move figure (bench/move_figures.py): move_pause_ms, how long writes pause when a 1M-row partition
moves to another shard under a writer (goal < 1000 ms).

Prints a table, then one name=value line per figure (last). Every step has a
time limit; the clusters are removed at the end.
"""

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))

from support.ansible import run_playbook, run_tasks  # noqa: E402
from move_figures import move_figures  # noqa: E402
from pgbench_figures import pgbench_figures  # noqa: E402
from snapshot_figures import snapshot_figures  # noqa: E402
from support import pgdist_ext  # noqa: E402
from support.pgcluster import start_cluster  # noqa: E402

import yaml  # noqa: E402

FDW_USER = 'pgdist_fdw'
FDW_PASSWORD = 'bench-fdw-pw'
DB = 'bench'
TUNED = dict(batch_size=1000, fetch_size=10000, async_capable='true')
COLUMNS = [dict(name='id', type='bigint', nullable=False), dict(name='grp', type='int'),
           dict(name='payload', type='text')]
GROUPS = 10000
COORDINATOR_SETTINGS = dict(enable_partitionwise_aggregate='on', enable_partitionwise_join='on',
                            max_wal_size="'4GB'", shared_buffers="'256MB'", work_mem="'64MB'",
                            shared_preload_libraries="'pgdist'", max_prepared_transactions=10)
SHARD_SETTINGS = dict(max_wal_size="'4GB'", shared_buffers="'128MB'", work_mem="'64MB'",
                      max_prepared_transactions=10)


def log(message):
    sys.stderr.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'), message))
    sys.stderr.flush()


# -- setup through the modules ---------------------------------------------------------

def hash_parts(table, shards, servers):
    return [dict(name='%s_p%d' % (table, i), modulus=len(shards), remainder=i, server=servers[i])
            for i in range(len(shards))]


def range_parts(table, shards, servers, rows):
    step = rows // len(shards)
    parts = []
    for i in range(len(shards)):
        parts.append({'name': '%s_p%d' % (table, i), 'from': 'MINVALUE' if i == 0 else i * step + 1,
                      'to': 'MAXVALUE' if i == len(shards) - 1 else (i + 1) * step + 1, 'server': servers[i]})
    return parts


def setup_tasks(coordinator, shards, small_rows):
    tuned = ['t%d' % i for i in range(len(shards))]
    untuned = ['u%d' % i for i in range(len(shards))]
    tables = [
        dict(name='load_tuned', partition_by=dict(method='hash', key=['grp']),
             partitions=hash_parts('load_tuned', shards, tuned)),
        dict(name='load_untuned', partition_by=dict(method='hash', key=['grp']),
             partitions=hash_parts('load_untuned', shards, untuned)),
        dict(name='route_decl', partition_by=dict(method='range', key=['id']),
             partitions=range_parts('route_decl', shards, tuned, small_rows)),
        dict(name='route_trig', partitioning='inheritance', partition_by=dict(method='range', key=['id']),
             partitions=range_parts('route_trig', shards, tuned, small_rows)),
    ]
    tasks = []
    for i, shard in enumerate(shards):
        tasks += [
            {'name': 'fdw user on shard%d' % i, 'pgdist.cluster.user': dict(
                shard.login, name=FDW_USER, password=FDW_PASSWORD, attributes=['NOSUPERUSER'])},
            {'name': 'database on shard%d' % i, 'pgdist.cluster.database': dict(
                shard.login, name=DB, owner=FDW_USER)},
        ]
        for table in tables:
            mine = [dict((k, v) for k, v in p.items() if k != 'server') for p in table['partitions']
                    if p['server'] in (tuned[i], untuned[i])]
            tasks.append({'name': '%s on shard%d' % (table['name'], i), 'pgdist.cluster.partitioned_table': dict(
                shard.login, login_user=FDW_USER, login_password=FDW_PASSWORD, db=DB, side='shard',
                name=table['name'], partitioning=table.get('partitioning', 'declarative'), columns=COLUMNS,
                partition_by=table['partition_by'], partitions=mine)})
    tasks += [
        {'name': 'database on coordinator', 'pgdist.cluster.database': dict(coordinator.login, name=DB)},
        {'name': 'postgres_fdw', 'pgdist.cluster.extension': dict(coordinator.login, db=DB, name='postgres_fdw')},
        {'name': 'pgdist', 'pgdist.cluster.extension': dict(coordinator.login, db=DB, name='pgdist')},
    ]
    for i, shard in enumerate(shards):
        base = dict(host=shard.host, port=str(shard.port), dbname=DB)
        for name, extra in ((tuned[i], TUNED), (untuned[i], {})):
            options = dict(base)
            options.update(extra)
            tasks += [
                {'name': 'server ' + name, 'pgdist.cluster.foreign_server': dict(
                    coordinator.login, db=DB, name=name, options=options)},
                {'name': 'mapping ' + name, 'pgdist.cluster.user_mapping': dict(
                    coordinator.login, db=DB, user='postgres', server=name,
                    options=dict(user=FDW_USER, password=FDW_PASSWORD))},
            ]
    for table in tables:
        tasks.append({'name': table['name'] + ' on coordinator', 'pgdist.cluster.partitioned_table': dict(
            coordinator.login, db=DB, name=table['name'], partitioning=table.get('partitioning', 'declarative'),
            columns=COLUMNS, partition_by=table['partition_by'], partitions=table['partitions'])})
    return tasks


# -- timing helpers ---------------------------------------------------------------------

def timed(conn, statement, params=None, fetch=False):
    with conn.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(statement, params)
        if fetch:
            cursor.fetchall()
        return time.perf_counter() - started


def best(conn, statement, runs, fetch=False, before=None):
    times = []
    for dummy in range(runs):
        if before:
            timed(conn, before)
        times.append(timed(conn, statement, fetch=fetch))
    return min(times)


def concurrent_best(conns, statements, runs):
    """Best wall time of running statements[i] on conns[i] all at the same time."""
    times = []
    for dummy in range(runs):
        with ThreadPoolExecutor(max_workers=len(conns)) as pool:
            started = time.perf_counter()
            list(pool.map(lambda pair: timed(pair[0], pair[1], fetch=True), zip(conns, statements)))
            times.append(time.perf_counter() - started)
    return min(times)


def load_sql(table, rows):
    return ("INSERT INTO %s SELECT g, g %% %d, md5(g::text) FROM generate_series(1, %d) g"
            % (table, GROUPS, rows))


def data_figures(args, figures, table):
    rows, small = args.rows, max(args.rows // 10, 1000)
    coordinator, shards = None, []
    try:
        log('building the coordinator extension, starting a coordinator and %d shards' % args.shards)
        pgdist_ext.install()
        coordinator = start_cluster('bench-coordinator', settings=COORDINATOR_SETTINGS)
        shards = [start_cluster('bench-shard%d' % i, settings=SHARD_SETTINGS) for i in range(args.shards)]
        log('setting up through the modules (ansible-playbook)')
        run = run_tasks(setup_tasks(coordinator, shards, small))
        if not run.ok:
            raise SystemExit('setup failed:\n%s\n%s' % (run.stdout[-4000:], run.stderr[-2000:]))
        conn = coordinator.connect(DB)
        timed(conn, "CREATE TABLE load_local (id bigint NOT NULL, grp int, payload text)")

        def load(name, count, runs):
            return best(conn, load_sql(name, count), runs, before='TRUNCATE %s' % name)

        log('bulk load, %d rows' % rows)
        local = load('load_local', rows, 2)
        tuned = load('load_tuned', rows, 2)
        timed(conn, 'SET pgdist.async_insert = off')
        waiting = load('load_tuned', rows, 2)
        timed(conn, 'RESET pgdist.async_insert')
        table.append(('bulk load %d rows, one local table' % rows, '%.2f s' % local, ''))
        table.append(('bulk load %d rows, 4 shards, tuned fdw' % rows, '%.2f s' % tuned, 'batch_size 1000'))
        table.append(('the same, each batch waiting for its shard', '%.2f s' % waiting, 'pgdist.async_insert off'))
        figures['bulk_load_ratio'] = tuned / local
        figures['bulk_load_waiting_ratio'] = waiting / local

        log('untuned and routing comparisons, %d rows' % small)
        local_small = load('load_local', small, 2)
        untuned = load('load_untuned', small, 1)
        table.append(('bulk load %d rows, one local table' % small, '%.2f s' % local_small, ''))
        table.append(('bulk load %d rows, 4 shards, fdw defaults' % small, '%.2f s' % untuned, 'batch_size 1'))
        figures['bulk_load_untuned_ratio'] = untuned / local_small
        decl = load('route_decl', small, 2)
        trig = load('route_trig', small, 1)
        table.append(('%d rows, declarative range over 4 shards' % small, '%.2f s' % decl, ''))
        table.append(('%d rows, inheritance + trigger over 4 shards' % small, '%.2f s' % trig, 'seed layout'))
        figures['trigger_vs_declarative_ratio'] = trig / decl

        log('queries on %d rows' % rows)
        timed(conn, 'TRUNCATE load_tuned')
        timed(conn, load_sql('load_tuned', rows))
        for i, shard in enumerate(shards):
            shard.query('ANALYZE load_tuned_p%d' % i, dbname=DB)
        timed(conn, 'ANALYZE load_tuned')
        grouped = 'SELECT grp, count(*), sum(id) FROM %s GROUP BY grp'
        with conn.cursor() as cursor:
            cursor.execute('EXPLAIN (VERBOSE) ' + grouped % 'load_tuned')
            plan = '\n'.join(row[0] for row in cursor.fetchall())
        pushed = plan.count('GROUP BY') >= args.shards
        through = best(conn, grouped % 'load_tuned', args.runs, fetch=True)
        shard_conns = [shard.connect(DB) for shard in shards]
        parts = [grouped % ('load_tuned_p%d' % i) for i in range(len(shards))]
        alone = [best(shard_conn, part, args.runs, fetch=True) for shard_conn, part in zip(shard_conns, parts)]
        together = concurrent_best(shard_conns, parts, args.runs)
        for shard_conn in shard_conns:
            shard_conn.close()
        table.append(('GROUP BY grp through the coordinator', '%.3f s' % through,
                      'aggregate pushed to shards' if pushed else 'NOT pushed down'))
        table.append(('GROUP BY grp, every shard directly at once', '%.3f s' % together,
                      'slowest of the %d parts, run together' % len(shards)))
        table.append(('GROUP BY grp, slowest shard directly, alone', '%.3f s' % max(alone),
                      'shards: ' + ', '.join('%.3f' % d for d in alone)))
        # The coordinator makes the shards answer at once (async append); on one machine they share its
        # cores, so the baseline is the slowest shard answering while the others answer too.
        figures['grouped_agg_ratio'] = through / together
        figures['grouped_agg_isolated_ratio'] = through / max(alone)
        count = 'SELECT count(*) FROM load_tuned'
        timed(conn, 'SET enable_async_append = on')
        on = best(conn, count, args.runs, fetch=True)
        timed(conn, 'SET enable_async_append = off')
        off = best(conn, count, args.runs, fetch=True)
        table.append(('count(*) of %d rows, async append on' % rows, '%.3f s' % on, 'async_capable servers'))
        table.append(('count(*) of %d rows, async append off' % rows, '%.3f s' % off, 'one shard after another'))
        figures['count_async_s'] = on
        figures['count_sync_s'] = off
        conn.close()
    finally:
        for cluster in [coordinator] + shards:
            if cluster is not None:
                cluster.destroy()


# -- deploy figures ---------------------------------------------------------------------

BENCH_PORT_OFFSET = 1000


def bench_inventory(workdir):
    """inventories/local with its own cluster names and ports, so the demo clusters stay untouched."""
    source = os.path.join(REPO, 'inventories', 'local')
    with open(os.path.join(source, 'hosts.yml')) as handle:
        hosts = yaml.safe_load(handle)
    for group in hosts['all']['children'].values():
        for hostvars in (group.get('hosts') or {}).values():
            hostvars['pgdist_cluster_name'] = hostvars['pgdist_cluster_name'].replace('pgdist_', 'pgdist_bench_')
            hostvars['pgdist_port'] = int(hostvars['pgdist_port']) + BENCH_PORT_OFFSET
    target = os.path.join(workdir, 'inventory')
    os.makedirs(os.path.join(target, 'group_vars'))
    with open(os.path.join(target, 'hosts.yml'), 'w') as handle:
        yaml.safe_dump(hosts, handle, sort_keys=False)
    with open(os.path.join(source, 'group_vars', 'all.yml')) as handle:
        group_vars = yaml.safe_load(handle)
    with open(os.path.join(target, 'group_vars', 'all.yml'), 'w') as handle:
        yaml.safe_dump(group_vars, handle, sort_keys=False)
    return target, hosts, group_vars


def tables_with_partitions(group_vars, total):
    """The inventory's tables, with the hash table grown so there are `total` partitions in all."""
    tables = copy.deepcopy(group_vars['pgdist_tables'])
    hashed = [t for t in tables if 'partition_count' in t]
    fixed = sum(len(t.get('partitions') or []) for t in tables if 'partition_count' not in t)
    if not hashed or total - fixed < 1:
        raise SystemExit('inventories/local needs a table with partition_count to scale')
    hashed[0]['partition_count'] = total - fixed - sum(t['partition_count'] for t in hashed[1:])
    return tables


def site(inventory, workdir, tables):
    varfile = os.path.join(workdir, 'tables.json')
    with open(varfile, 'w') as handle:
        json.dump(dict(pgdist_tables=tables), handle)
    started = time.perf_counter()
    run = run_playbook(os.path.join(REPO, 'playbooks', 'site.yml'), inventory=inventory,
                       args=['-e', '@' + varfile], env=dict(ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg')))
    elapsed = time.perf_counter() - started
    if not run.ok:
        failed = []
        for play in (run.data or {}).get('plays', []):
            for task in play['tasks']:
                for host, result in task['hosts'].items():
                    if result.get('failed'):
                        failed.append('%s on %s: %s' % (task['task']['name'], host, result.get('msg')))
        raise SystemExit('site.yml failed:\n%s\n%s' % ('\n'.join(failed) or run.stdout[-3000:], run.stderr[-2000:]))
    changed = sum(host.get('changed', 0) for host in run.stats.values())
    return elapsed, changed


def deploy_figures(args, figures, table):
    workdir = tempfile.mkdtemp(prefix='pgdist-bench-deploy-')
    inventory, hosts, group_vars = bench_inventory(workdir)
    clusters = [hv['pgdist_cluster_name'] for group in hosts['all']['children'].values()
                for hv in (group.get('hosts') or {}).values()]

    def drop_clusters():
        for name in clusters:
            # A cluster that never got created is fine: nothing to drop.
            subprocess.run(['pg_dropcluster', '--stop', '15', name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    try:
        results = {}
        for total in (16, 256):
            # each size on new clusters: growing a hash table from 16 to 256 partitions is a re-layout,
            # which the collection refuses to do implicitly, and not what the figure measures
            drop_clusters()
            tables = tables_with_partitions(group_vars, total)
            log('site.yml with %d partitions: first run' % total)
            first, dummy = site(inventory, workdir, tables)
            log('site.yml with %d partitions: re-run' % total)
            rerun, changed = site(inventory, workdir, tables)
            results[total] = rerun
            table.append(('site.yml first run, %d partitions' % total, '%.1f s' % first, ''))
            table.append(('site.yml re-run, %d partitions' % total, '%.1f s' % rerun,
                          'changed=%d' % changed + ('' if changed == 0 else ' (NOT idempotent)')))
        figures['deploy_rerun_s'] = results[16]
        figures['deploy_rerun_scaling'] = results[256] / results[16]
    finally:
        if not args.keep:
            drop_clusters()


def machine():
    cpus = os.cpu_count()
    try:
        with open('/proc/meminfo') as handle:
            mem = int(handle.readline().split(maxsplit=2)[1]) // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        mem = '?'
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return '%s, %s cores, %s GiB, %s' % (model, cpus, mem, platform.platform())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--rows', type=int, default=1000000)
    parser.add_argument('--shards', type=int, default=4)
    parser.add_argument('--runs', type=int, default=5, help='query repetitions (best is kept)')
    parser.add_argument('--skip-data', action='store_true')
    parser.add_argument('--skip-deploy', action='store_true')
    parser.add_argument('--skip-pgbench', action='store_true')
    parser.add_argument('--skip-move', action='store_true')
    parser.add_argument('--skip-snapshot', action='store_true')
    parser.add_argument('--move-rows', type=int, default=2000000,
                        help='rows of the moved table (half in the moved partition)')
    parser.add_argument('--pgbench-seconds', type=int, default=20, help='length of each pgbench run')
    parser.add_argument('--pgbench-scale', type=int, default=4)
    parser.add_argument('--keep', action='store_true', help='keep the deploy clusters')
    args = parser.parse_args()
    figures, table = {}, []
    started = time.time()
    if not args.skip_data:
        data_figures(args, figures, table)
    if not args.skip_deploy:
        deploy_figures(args, figures, table)
    if not args.skip_pgbench:
        pgbench_figures(args, figures, table, log)
    if not args.skip_snapshot:
        snapshot_figures(args.pgbench_seconds, figures, table, log)
    if not args.skip_move:
        move_figures(args, figures, table, log)
    width = max([len(row[0]) for row in table] + [10])
    print('pgdist.cluster benchmark on %s' % machine())
    print('%-*s  %10s  %s' % (width, 'measure', 'time', 'note'))
    for name, value, note in table:
        print('%-*s  %10s  %s' % (width, name, value, note))
    print('total bench time %.0f s' % (time.time() - started))
    for name, value in figures.items():
        print('%s=%.3f' % (name, value))
    if figures.get('pgbench_tpcb_invariant_holds') == 0.0:
        sys.exit('TPC-B invariant broken through the coordinator (see the table)')


if __name__ == '__main__':
    main()
