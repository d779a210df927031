# Reproduces the router crash at commit on role-deployed PostgreSQL 15 (run from the repo root under
# flock -o /tmp/pgdist-system.lock): a variant with pgbench tables, core files on, pgbench -i -I G, gdb bt full.
import sys, subprocess, glob
sys.path.insert(0, 'tests')
from support.variant import Variant
from support.pgbench_tables import pgbench_tables
v = Variant('crash', 55620, group_vars=dict(pgdist_tables=pgbench_tables(4), pgdist_app_users=[]))
try:
    v.deploy()
    subprocess.run(['pg_ctlcluster', '15', v.cluster('coordinator1'), 'restart', '--', '-c'], check=True)
    out = subprocess.run(['runuser', '-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pgbench', '-h', '/var/run/postgresql',
                          '-p', str(v.port('coordinator1')), '-i', '-q', '-I', 'G', '-s', '1', 'library'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(out.returncode, out.stdout[-600:])
    cores = glob.glob('/var/lib/postgresql/15/%s/core*' % v.cluster('coordinator1'))
    print(cores)
    for core in cores:
        bt = subprocess.run(['gdb', '-batch', '-ex', 'bt full', '/usr/lib/postgresql/15/bin/postgres', core],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        open('/tmp/crash-bt.txt', 'w').write(bt.stdout)
        print(bt.stdout[-6000:])
finally:
    v.drop()
