"""pgbench figures of `make bench`: pgbench's own workloads through a role-deployed coordinator.

playbooks/site.yml deploys a coordinator and 4 shards (clusters of this machine, their own names
and ports) with pgbench's four tables hash-distributed over the shards by the roles, and one node
from the same server role (a coordinator without shards). pgbench then runs on both, same run,
`-M prepared -c 8 -j 2`:

  pgbench_tpcb_ratio            tpcb-like TPS through the coordinator / on one node      goal >= 0.25
  pgbench_select_ratio          select-only TPS through the coordinator / on one node    goal >= 0.15
  pgbench_tpcb_router_off_ratio, pgbench_select_router_off_ratio
                                the same with pgdist.router off (every postgres_fdw command its own
                                round trip)
  pgbench_tpcb_messages, pgbench_select_messages (and _router_off)
                                messages the coordinator sent its shards per transaction (round trips,
                                pgdist.stats()'s remote_messages)
  pgbench_tpcb_failed_pct       failed tpcb-like transactions through the coordinator, no retries
                                (READ COMMITTED shard work)                              goal < 0.1
  pgbench_tpcb_rr_failed_pct    the same with pgdist.read_committed off (postgres_fdw's REPEATABLE READ)
  pgbench_2pc_cost_ratio        tpcb-like TPS with two-phase commit / without it
  pgbench_detector_cost_ratio   tpcb-like TPS with the deadlock detector / without it

After the runs TPC-B's invariant is checked through the coordinator: the sums of account,
teller and branch balances and of history deltas are equal. Then sysbench runs on the same clusters
(bench/sysbench_figures.py).
"""

import os
import re
import resource
import subprocess
import tempfile
import threading

import yaml

from support.ansible import run_playbook
from support.pgbench_tables import TPCB_SUMS, pgbench_tables
from support.sysbench_tables import sbtest
from sysbench_figures import sysbench_figures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB = 'pgbench'
SHARDS = 4
FIRST_PORT = 57432
CLUSTER_PREFIX = 'pgdist_pgb_'
FDW_PASSWORD = 'bench-pgbench-fdw-pw'


def _host(name, index):
    return dict(pgdist_cluster_name=CLUSTER_PREFIX + name, pgdist_port=FIRST_PORT + index,
                pgdist_address='127.0.0.%d' % (index + 1))


def inventories(workdir):
    """(distributed inventory, one-node inventory, cluster names): both deployed by site.yml."""
    common = dict(ansible_connection='local', ansible_python_interpreter='/usr/bin/python3',
                  ansible_become_method='ansible.builtin.su', pgdist_listen_addresses='{{ pgdist_address }}',
                  pgdist_database=DB, pgdist_fdw_password=FDW_PASSWORD)
    layouts = {
        'distributed': (dict(coordinator=dict(hosts=dict(pgb_coordinator=_host('coordinator', 0))),
                             shards=dict(hosts=dict(('pgb_shard%d' % i, _host('shard%d' % i, i))
                                                    for i in range(1, SHARDS + 1)))),
                        dict(common, pgdist_tables=pgbench_tables(SHARDS) + [sbtest(SHARDS)])),
        # A plain server: the one node pgbench is compared with.
        'single': (dict(coordinator=dict(hosts=dict(pgb_single=_host('single', SHARDS + 1)))),
                   dict(common, pgdist_coordinator_extension=False)),
    }
    paths, names = {}, []
    for kind, (children, group_vars) in layouts.items():
        target = os.path.join(workdir, kind)
        os.makedirs(os.path.join(target, 'group_vars'))
        with open(os.path.join(target, 'hosts.yml'), 'w') as handle:
            yaml.safe_dump(dict(all=dict(children=children)), handle, sort_keys=False)
        with open(os.path.join(target, 'group_vars', 'all.yml'), 'w') as handle:
            yaml.safe_dump(group_vars, handle, sort_keys=False)
        paths[kind] = target
        names += [host['pgdist_cluster_name'] for group in children.values() for host in group['hosts'].values()]
    return paths, names


def deploy(inventory):
    run = run_playbook(os.path.join(REPO, 'playbooks', 'site.yml'), inventory=inventory,
                       env=dict(ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg')))
    if not run.ok:
        raise SystemExit('site.yml failed on %s:\n%s\n%s' % (inventory, run.stdout[-3000:], run.stderr[-2000:]))


def psql(port, sql):
    done = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                           '-h', '/var/run/postgresql', '-p', str(port), '-d', DB, '-c', sql],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
                          check=False)
    if done.returncode:
        raise SystemExit('psql on port %d: %s\n%s' % (port, sql, done.stdout))
    return done.stdout.strip()


TICK = os.sysconf('SC_CLK_TCK')


def cluster_cpu(port):
    """{pid: CPU seconds} of a cluster's postmaster and every process it started (backends, workers)."""
    with open('/var/run/postgresql/.s.PGSQL.%d.lock' % port) as handle:
        postmaster = int(handle.readline())
    cpu = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / float(TICK)
    return cpu


def spent(before, after):
    """CPU seconds between two cluster_cpu() samples (processes born in between count from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def pgbench(port, args, options='', seconds=None, watch=()):
    """pgbench's report, and the CPU seconds the client and each watched cluster (port) spent during the run.

    The clusters are sampled a second before the end, while pgbench's backends still exist."""
    env = dict(os.environ, PGOPTIONS=options) if options else None
    before = dict((watched, cluster_cpu(watched)) for watched in watch)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = subprocess.Popen(['runuser', '-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pgbench',
                                '-h', '/var/run/postgresql', '-p', str(port)] + args + [DB],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    late = {}
    if watch and seconds:
        timer = threading.Timer(max(seconds - 1, 0.5), lambda: late.update(
            (watched, cluster_cpu(watched)) for watched in watch))
        timer.start()
    output = running.communicate(timeout=900)[0]
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if running.returncode:
        raise SystemExit('pgbench %s on port %d failed:\n%s' % (' '.join(args), port, output[-3000:]))
    cpu = dict((watched, spent(before[watched], late.get(watched, {}))) for watched in watch)
    cpu['client'] = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    return output, cpu


def tpcb_sums(port):
    """Sums of account, teller and branch balances and of history deltas: TPC-B keeps them equal."""
    return psql(port, TPCB_SUMS).split('|')


def run_figures(output):
    """(tps, failed %, transactions) of a pgbench run's report."""
    tps = float(re.search(r'^tps = ([\d.]+)', output, re.M).group(1))
    failed = re.search(r'^number of failed transactions: \d+ \(([\d.]+)%\)', output, re.M)
    done = int(re.search(r'^number of transactions actually processed: (\d+)', output, re.M).group(1))
    return tps, float(failed.group(1)) if failed else 0.0, done


COORDINATOR, SINGLE = FIRST_PORT, FIRST_PORT + SHARDS + 1
SHARD_PORTS = [FIRST_PORT + i for i in range(1, SHARDS + 1)]
# Every run: (name, port, extra pgbench arguments, PGOPTIONS).
RUNS = [
    ('one node, tpcb-like', SINGLE, [], ''),
    ('one node, select-only', SINGLE, ['-S'], ''),
    ('coordinator, tpcb-like', COORDINATOR, [], ''),
    ('coordinator, select-only', COORDINATOR, ['-S'], ''),
    ('coordinator, tpcb-like, router off', COORDINATOR, [], '-c pgdist.router=off'),
    ('coordinator, select-only, router off', COORDINATOR, ['-S'], '-c pgdist.router=off'),
    ('coordinator, tpcb-like, one-phase commit', COORDINATOR, [], '-c pgdist.two_phase_commit=off'),
    ('coordinator, tpcb-like, REPEATABLE READ shards', COORDINATOR, [], '-c pgdist.read_committed=off'),
]
NO_DETECTOR = 'coordinator, tpcb-like, no deadlock detector'


def set_up(paths, scale, log):
    log('pgbench: site.yml deploys a coordinator, %d shards and one node' % SHARDS)
    deploy(paths['distributed'])
    deploy(paths['single'])
    pgbench(SINGLE, ['-i', '-q', '-s', scale])
    # The roles created the tables; pgbench fills them through the coordinator (INSERT ... SELECT).
    pgbench(COORDINATOR, ['-i', '-q', '-I', 'G', '-s', scale])
    psql(COORDINATOR, 'ANALYZE pgbench_branches, pgbench_tellers, pgbench_accounts, pgbench_history')
    psql(SINGLE, 'VACUUM ANALYZE')


def remote_messages():
    """Messages the coordinator has sent on postgres_fdw's connections since it started (pgdist.stats())."""
    return int(psql(COORDINATOR, 'SELECT remote_messages FROM pgdist.stats()'))


def run_all(workload, seconds, log):
    """({run: (tps, failed %, transactions)}, {run: CPU seconds per process group}, [first run breaking TPC-B],
    {run: messages to the shards per transaction})."""
    results, cpu, broken, messages = {}, {}, [], {}
    for name, port, extra, options in RUNS:
        log('pgbench: %s' % name)
        watch = [port] + (SHARD_PORTS if port == COORDINATOR else [])
        sent = remote_messages() if port == COORDINATOR else 0
        output, cpu[name] = pgbench(port, workload + extra, options, seconds=seconds, watch=watch)
        results[name] = run_figures(output)
        if port == COORDINATOR:
            # The few messages of connection set-up (8 sessions) are counted too.
            messages[name] = (remote_messages() - sent) / float(max(results[name][2], 1))
        # TPC-B's invariant after every run through the coordinator, so a break names the run that made it.
        if port == COORDINATOR and not broken and len(set(tpcb_sums(COORDINATOR))) != 1:
            broken.append(name)
    log('pgbench: %s' % NO_DETECTOR)
    psql(COORDINATOR, "ALTER SYSTEM SET pgdist.deadlock_check_interval = 0")
    psql(COORDINATOR, "SELECT pg_reload_conf()")
    try:
        results[NO_DETECTOR] = run_figures(pgbench(COORDINATOR, workload)[0])
    finally:
        psql(COORDINATOR, "ALTER SYSTEM RESET pgdist.deadlock_check_interval")
        psql(COORDINATOR, "SELECT pg_reload_conf()")
    return results, cpu, broken, messages


def cpu_note(name, cpu, done):
    """Where the CPU went, per transaction: the client, the node or coordinator, the shards."""
    per = dict((key, 1000.0 * seconds / max(done, 1)) for key, seconds in cpu.items())
    one_node = name.startswith('one node')
    note = '; CPU ms per transaction: client %.2f, %s %.2f' % (
        per['client'], 'node' if one_node else 'coordinator', per[SINGLE if one_node else COORDINATOR])
    if not one_node:
        note += ', shards %.2f' % sum(per[port] for port in SHARD_PORTS)
    return note


def report(results, cpu, broken, messages, figures, table):
    sums = tpcb_sums(COORDINATOR)
    holds = len(set(sums)) == 1 and not broken
    for name, (tps, failed, done) in results.items():
        table.append(('pgbench %s' % name, '%.0f tps' % tps,
                      '%.3f %% failed' % failed + (cpu_note(name, cpu[name], done) if name in cpu else '') +
                      ('; %.2f messages to the shards per transaction' % messages[name] if name in messages else '')))
    table.append(('pgbench TPC-B invariant through the coordinator', 'holds' if holds else 'BROKEN',
                  'sums %s%s' % (', '.join(sums), '; first broken after: %s' % broken[0] if broken else '')))
    tpcb = results['coordinator, tpcb-like'][0]
    figures['pgbench_tpcb_ratio'] = tpcb / results['one node, tpcb-like'][0]
    figures['pgbench_select_ratio'] = results['coordinator, select-only'][0] / results['one node, select-only'][0]
    figures['pgbench_tpcb_router_off_ratio'] = (results['coordinator, tpcb-like, router off'][0] /
                                                results['one node, tpcb-like'][0])
    figures['pgbench_select_router_off_ratio'] = (results['coordinator, select-only, router off'][0] /
                                                  results['one node, select-only'][0])
    for workload in ('tpcb', 'select'):
        run = 'coordinator, %s' % ('tpcb-like' if workload == 'tpcb' else 'select-only')
        figures['pgbench_%s_messages' % workload] = messages[run]
        figures['pgbench_%s_messages_router_off' % workload] = messages[run + ', router off']
    figures['pgbench_tpcb_failed_pct'] = results['coordinator, tpcb-like'][1]
    figures['pgbench_tpcb_rr_failed_pct'] = results['coordinator, tpcb-like, REPEATABLE READ shards'][1]
    figures['pgbench_2pc_cost_ratio'] = tpcb / results['coordinator, tpcb-like, one-phase commit'][0]
    figures['pgbench_detector_cost_ratio'] = tpcb / results[NO_DETECTOR][0]
    figures['pgbench_tpcb_invariant_holds'] = 1.0 if holds else 0.0


def pgbench_figures(args, figures, table, log):
    workdir = tempfile.mkdtemp(prefix='pgdist-bench-pgbench-')
    paths, names = inventories(workdir)
    workload = ['-M', 'prepared', '-c', '8', '-j', '2', '-T', str(args.pgbench_seconds), '-n', '--failures-detailed']

    def drop_clusters():
        for name in names:
            subprocess.run(['pg_dropcluster', '--stop', '15', name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    try:
        drop_clusters()
        set_up(paths, str(args.pgbench_scale), log)
        report(*run_all(workload, args.pgbench_seconds, log), figures=figures, table=table)
        try:
            sysbench_figures(args.pgbench_seconds, COORDINATOR, SINGLE, DB, psql, figures, table, log)
        except SystemExit as failed:    # the pgbench figures are printed all the same
            log('sysbench failed: %s' % failed)
            table.append(('sysbench', 'FAILED', str(failed)[:300]))
    finally:
        if not args.keep:
            drop_clusters()
